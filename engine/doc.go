// Package engine is a Tickwire node: the gws WebSocket transport, sessions,
// authentication, routing to rooms, the HTTP API, the matchmaking front,
// metrics and graceful shutdown.
//
// # Cluster mode
//
// With Config.Cluster zero the node runs alone (an in-memory backend serves
// the ticket matchmaker and reservations). With Cluster.RedisAddr set, nodes
// share a room directory, seat reservations, node registry and matchmaking
// queues in Redis (package engine/cluster), and a client may connect to any
// node.
//
// A join made on an open connection for a room owned by another node is
// served by a frame relay: the entry node dials the owner's WebSocket
// endpoint over an internal connection authenticated with an HMAC of the
// cluster secret (carrying the session identity), sends Hello and the Join
// (with the client's request id) and then forwards frames both ways without
// decoding them. A relay rather than an HTTP upgrade proxy, because the room
// is only known after connect (join-or-create picks it on the node the
// socket landed on, and one connection may join several rooms in turn).
// When the room is known at connect time (/ws?reservation=TOKEN) the
// upgrade itself is reverse-proxied to the owner. See docs/cluster.md.
package engine
