// Package engine is a Tickwire node: the gws WebSocket transport, sessions,
// authentication, routing to rooms, the HTTP API, the matchmaking front,
// metrics and graceful shutdown.
//
//	e, err := engine.New(engine.Config{AdminAddr: "127.0.0.1:9090"}) // validated; zero value = one node
//	if err != nil { ... }
//	_ = e.RegisterRoom("game", room.Define(room.Config{TickRate: 30}, newGame))
//	mux := http.NewServeMux()
//	mux.Handle("/ws", e.Handler()) // the game's endpoint, nothing else
//	err = e.ListenAndServe(ctx, ":8080", mux) // runs the node; drains when ctx ends
//
// One lifecycle: New validates the whole Config and returns an error for one
// no node can run with (a Redis address without a secret, impossible
// limits). Run keeps the node up until its context ends and then drains it;
// until Run has started Handler answers 503. Handler serves only the
// WebSocket path; AdminHandler serves /healthz, /metrics, /rooms, pprof and
// the monitor page (/monitor/, with Config.AdminToken) for an operator, on
// an address that is not the public game port (Config.AdminAddr, or mount
// it yourself). ListenAndServe and Serve run the
// node and both handlers and return every error.
//
// # Reading connections
//
// gws upgrades connections and writes to them; the engine reads client
// frames itself. Connections outside a room (handshake, lobby, waiting for
// a match) are read by one lobby goroutine per node, woken by epoll when
// any of them is readable: an idle connection costs no goroutine and no
// read buffer (tickwire_connections_read_in_lobby counts them). A
// connection in a room is read by the room goroutine at the start of every
// tick, without blocking (room.Poller), the same way that goroutine writes
// state frames straight to the socket: a player in a room costs no
// goroutine and no wake-up per input (the socket's SO_RCVLOWAT is raised so
// that the kernel does not even signal its small inputs to the netpoller),
// which is most of a node's CPU at thousands of players. Frames whose handling may block (Join, Leave,
// matchmaking, close) hand reading back to a read goroutine. Frames from a
// client in a room are therefore read up to one tick late; inputs are used
// at that tick either way, and Pong carries hold_ms, the time a Ping waited,
// which the SDKs take off the round trip. The metric
// tickwire_connections_read_on_tick counts the connections read this way.
// Reading on the tick and the lobby reader need 64-bit Linux (receive
// timestamps through recvmsg, epoll); elsewhere, and for TLS connections,
// every connection keeps a read goroutine.
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
