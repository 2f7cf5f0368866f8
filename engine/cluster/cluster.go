// Package cluster coordinates Tickwire nodes: a node registry with heartbeats,
// a room directory, seat reservations with signed tokens, join-or-create across
// nodes, a ticket matchmaker with a fenced lease, and a notification bus.
//
// Every capability is an interface ([Registry], [Directory], [Seats], [Bus],
// [Queue], together [Backend]) with two implementations of identical behaviour:
// [NewMemory], the embedded default for a single node (no Redis), and
// [NewRedis], for a cluster of nodes sharing one Redis server. The engine
// drives a backend through [Node] (the heartbeat loop) and [Matcher] (the
// per-queue matchmaking loop).
//
// # Decisions
//
//   - Liveness is judged against the callers' clocks (Config.Now): a node is
//     live while now < its UpdatedAt + NodeTTL. Node clocks are assumed to be
//     synchronised (NTP) to well under the TTL. Redis keys also carry a real
//     PEXPIRE so nothing outlives the TTL by much if every node is gone.
//   - A dead node's rooms and pending reservations are swept by whichever live
//     node touches the directory first (every heartbeat sweeps, and every
//     lookup, list or join-or-create ignores and sweeps dead owners), so they
//     leave the directory within NodeTTL + one heartbeat interval.
//   - Seat accounting: a room's Seats counts players admitted (incremented by
//     [Seats.Consume], decremented by [Directory.ReleaseSeat]); pending
//     reservations are kept per room and per node in expiry order and pruned
//     by every operation that reads them, so an unused reservation frees its
//     seat on its own. Free seats = MaxSeats - Seats - live reservations. A
//     node's load is (Players + live reservations) / Capacity.
//   - Seat counts correct themselves: a Consume or ReleaseSeat whose reply
//     is lost may or may not have been applied, so the owner cannot know
//     whether to send it again. Instead the owner periodically sends each
//     room's real occupancy ([Directory.SyncSeats]). Every seat operation
//     of the owner carries a sequence number from one counter of the owner,
//     and so does each sync, taken when its occupancy was read: the sync
//     sets Seats to the occupancy plus the operations applied so far that
//     are newer than it (a player consumed meanwhile is counted once, not
//     zero times), and an operation older than the last sync that arrives
//     late leaves Seats alone (the occupancy already holds it). Both are
//     idempotent; live reservations are kept apart and never touched.
//   - Join-or-create prefers the fullest joinable room (to pack rooms) and
//     never places players into rooms of draining or suspect nodes; rooms in
//     state pending (placed, not yet materialised by the owner) are joinable.
//     Open rooms are indexed by type and by each metadata pair, fullest
//     first, and a join examines a bounded number of candidates, so its cost
//     does not grow with the number of open rooms.
//   - A pending room lives as long as its reservations: once the last one
//     lapses unused (and no player was admitted), the room leaves the
//     directory at the next sweep (every heartbeat sweeps).
//   - The Redis implementation uses Lua scripts touching keys computed at run
//     time, so it needs a single Redis server (or a primary with replicas),
//     not Redis Cluster.
package cluster

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"
)

// joinScanLimit bounds the open rooms a join-or-create examines.
const joinScanLimit = 64

// Sentinel errors. Backend errors wrap one of these (test with errors.Is).
var (
	// ErrUnavailable wraps any failure to reach the coordination backend
	// (Redis down, timeout). Running rooms are unaffected; retry later.
	ErrUnavailable = errors.New("cluster: coordination backend unavailable")
	// ErrRoomNotFound: the room is not in the directory (or its node died).
	ErrRoomNotFound = errors.New("cluster: room not found")
	// ErrRoomFull: the room has no free seat, or is locked.
	ErrRoomFull = errors.New("cluster: room full or locked")
	// ErrNoCapacity: no live, non-draining node has room for another player.
	ErrNoCapacity = errors.New("cluster: no node with free capacity")
	// ErrNodeNotFound: the node is not registered or not live.
	ErrNodeNotFound = errors.New("cluster: node not found")
	// ErrTokenInvalid: a reservation token did not parse or its signature is wrong.
	ErrTokenInvalid = errors.New("cluster: reservation token invalid")
	// ErrTokenExpired: a reservation token is past its expiry (or its
	// reservation was already pruned).
	ErrTokenExpired = errors.New("cluster: reservation token expired")
	// ErrTokenUsed: a reservation token was already consumed.
	ErrTokenUsed = errors.New("cluster: reservation token already used")
	// ErrTicketNotFound: no such ticket in the queue (matched, cancelled or timed out).
	ErrTicketNotFound = errors.New("cluster: ticket not found")
	// ErrDuplicateTicket: a ticket with this id is already queued.
	ErrDuplicateTicket = errors.New("cluster: duplicate ticket")
	// ErrLeaseLost: the matcher's lease expired or was taken over; its fencing
	// token no longer commits.
	ErrLeaseLost = errors.New("cluster: matchmaker lease lost")
	// ErrInvalidArgument: a request is missing a required field or is out of range.
	ErrInvalidArgument = errors.New("cluster: invalid argument")
	// ErrClosed: the backend was closed.
	ErrClosed = errors.New("cluster: backend closed")
)

// NodeInfo is one node's entry in the registry.
type NodeInfo struct {
	ID string
	// Address is the node's internal host:port, used by other nodes to proxy.
	Address string
	// Rooms and Players are the node's current load, reported by heartbeats.
	Rooms, Players int
	// Capacity is the maximum number of players; 0 means unlimited.
	Capacity int
	// Draining nodes receive no new rooms and no join-or-create players.
	Draining bool
	// UpdatedAt is the time of the last heartbeat (set by the backend).
	UpdatedAt time.Time
	// Reserved is the number of live seat reservations on the node (read only).
	Reserved int
}

// NotApplied reports whether err from a backend call proves the call
// changed nothing: the backend was never reached (the connection could not
// be dialled, or the backend is closed). Any other failure (a timeout, a
// connection lost mid-call) may have been applied; retrying a non-idempotent
// call (ReleaseSeat) after it could apply it twice.
func NotApplied(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrClosed) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// RoomState is the lifecycle state of a directory record.
type RoomState string

const (
	// RoomPending: placed by join-or-create or the matcher, not yet created
	// by its owner node. The owner creates it on the first Consume or PutRoom.
	RoomPending RoomState = "pending"
	// RoomRunning: the owner node has materialised the room.
	RoomRunning RoomState = "running"
)

// RoomRecord is a room's directory entry.
type RoomRecord struct {
	ID, Type, NodeID string
	// Seats is the number of admitted players; MaxSeats the room's capacity.
	Seats, MaxSeats int
	Locked, Private bool
	State           RoomState
	// Metadata is matched by join-or-create filters.
	Metadata map[string]string
	// Reserved is the number of live seat reservations (read only).
	Reserved int
	// NodeAddress is the owner's Address (read only, filled by lookups).
	NodeAddress string
}

// Free returns the number of seats neither taken nor reserved.
func (r RoomRecord) Free() int { return r.MaxSeats - r.Seats - r.Reserved }

// Claims are the signed contents of a reservation token.
type Claims struct {
	// ReservationID is unique per reservation (the nonce).
	ReservationID string
	RoomID        string
	RoomType      string
	NodeID        string
	UserID        string
	ExpiresAt     time.Time
}

// Reservation is a reserved seat: its claims, the signed token to hand to the
// client, and where the room lives.
type Reservation struct {
	Claims
	Token       string
	NodeAddress string
	// Created is true when the request placed a new room.
	Created bool
}

// JoinRequest asks [Seats.JoinOrCreate] for a seat.
type JoinRequest struct {
	RoomType string
	UserID   string
	// Filter: an existing room matches only if its metadata has every pair.
	Filter map[string]string
	// MaxSeats and Metadata describe a new room if one is placed (the
	// Filter pairs are added to its metadata). MaxSeats must be > 0.
	MaxSeats int
	Metadata map[string]string
}

// Registry is the node registry. Safe for concurrent use.
type Registry interface {
	// Heartbeat registers or refreshes n (ID required) for Config.NodeTTL and
	// sweeps dead nodes. created reports that the node was not live before
	// (first registration, expiry, or a Redis restart): the caller should
	// re-publish its rooms.
	Heartbeat(ctx context.Context, n NodeInfo) (created bool, err error)
	// Deregister removes the node, its rooms and its reservations.
	Deregister(ctx context.Context, nodeID string) error
	// Nodes lists live nodes sorted by ID.
	Nodes(ctx context.Context) ([]NodeInfo, error)
	// SuspectNode marks a live node that a caller could not reach: for d
	// it gets no new rooms and no join-or-create players (its rooms stay
	// in the directory; the node is removed only when its heartbeats stop).
	// Marking an unknown node is not an error.
	SuspectNode(ctx context.Context, nodeID string, d time.Duration) error
}

// Directory is the room directory. Safe for concurrent use.
type Directory interface {
	// PutRoom creates or updates a room owned by a live node. Seats is taken
	// from rec only when the record is new (seat counts are then maintained by
	// Consume and ReleaseSeat); existing reservations are kept.
	PutRoom(ctx context.Context, rec RoomRecord) error
	// RemoveRoom deletes a room and its reservations. Removing an absent
	// room is not an error.
	RemoveRoom(ctx context.Context, roomID string) error
	// LookupRoom returns a room whose owner is live, or ErrRoomNotFound.
	LookupRoom(ctx context.Context, roomID string) (RoomRecord, error)
	// ListRooms lists rooms of roomType ("" for all) on live nodes, sorted by ID.
	ListRooms(ctx context.Context, roomType string) ([]RoomRecord, error)
	// ReleaseSeat records that a player left the room (Seats-1, floor 0).
	// seq is the owner's sequence number of the operation (see SyncSeats);
	// 0 means unsequenced: always applied, and a concurrent sync may
	// overwrite it. A sequenced release is idempotent: sent again, it
	// changes nothing.
	ReleaseSeat(ctx context.Context, roomID string, seq uint64) error
	// SyncSeats sets the seat counts of rooms owned by nodeID to their
	// owner's view: Seats = RoomSeats.Seats (the players present, including
	// those in their reconnection grace, and those admitted but not yet
	// joined) plus the seat operations with a sequence number greater than
	// seq applied so far. seq is taken from the same counter as the
	// operations' when the occupancies were read; a sync not newer than the
	// room's last one is ignored. Rooms absent or owned by another node are
	// skipped. Live reservations are not touched.
	SyncSeats(ctx context.Context, nodeID string, seq uint64, rooms []RoomSeats) error
}

// RoomSeats is one room's occupancy in [Directory.SyncSeats].
type RoomSeats struct {
	ID    string
	Seats int
}

// Seats reserves seats and checks reservation tokens. Safe for concurrent use.
type Seats interface {
	// JoinOrCreate atomically reserves a seat in the fullest joinable room of
	// the type (free seat, unlocked, public, matching Filter, owner live and
	// not draining, owner under capacity) or places a new room on the
	// least-loaded live non-draining node. ErrNoCapacity when none fits.
	JoinOrCreate(ctx context.Context, req JoinRequest) (Reservation, error)
	// Reserve reserves a seat in a known room (private rooms allowed;
	// locked or full rooms give ErrRoomFull).
	Reserve(ctx context.Context, roomID, userID string) (Reservation, error)
	// Verify checks a token's signature and expiry (no I/O):
	// ErrTokenInvalid or ErrTokenExpired.
	Verify(token string) (Claims, error)
	// Consume turns a reservation into an admitted player, exactly once:
	// ErrTokenUsed on reuse, ErrTokenExpired if it lapsed, ErrRoomNotFound
	// if the room is gone. seq is the owner's sequence number of the
	// operation, as for ReleaseSeat (0: unsequenced); a consume older than
	// the room's last SyncSeats uses up the reservation but leaves Seats
	// alone.
	Consume(ctx context.Context, c Claims, seq uint64) error
}

// Bus delivers messages to the node holding a session. Safe for concurrent use.
type Bus interface {
	// Publish sends payload to nodeID's subscribers (at most once; dropped if
	// nobody listens).
	Publish(ctx context.Context, nodeID string, payload []byte) error
	// Subscribe returns messages for nodeID until ctx ends; then the channel
	// closes. A subscriber that does not keep up loses messages rather than
	// stalling the bus (buffer Config.BusBuffer).
	Subscribe(ctx context.Context, nodeID string) (<-chan []byte, error)
}

// Queue stores matchmaking tickets and commits matches under a fenced lease.
// Safe for concurrent use. AddTicket and CancelTicket are for any node;
// the rest is the [Matcher]'s.
type Queue interface {
	AddTicket(ctx context.Context, t Ticket) error
	// CancelTicket removes a queued ticket (ErrTicketNotFound if it is gone).
	CancelTicket(ctx context.Context, queue, ticketID string) error
	// AcquireLease takes or renews the queue's lease for holder. A new lease
	// gets a new, larger fencing token; renewal keeps it. ErrLeaseLost if
	// another holder has it.
	AcquireLease(ctx context.Context, queue, holder string, ttl time.Duration) (Lease, error)
	// ReleaseLease gives the lease up if l still holds it.
	ReleaseLease(ctx context.Context, l Lease) error
	// Tickets lists the queue's tickets.
	Tickets(ctx context.Context, queue string) ([]Ticket, error)
	// CommitMatches atomically, per match: checks the lease and fence
	// (ErrLeaseLost: nothing committed), checks every ticket is still queued,
	// places a room like JoinOrCreate (a new room of MaxSeats), reserves one
	// seat per party member and removes the tickets. Results are in plan
	// order; a match whose tickets are gone or that finds no capacity has Err set.
	CommitMatches(ctx context.Context, l Lease, plans []MatchPlan) ([]MatchResult, error)
	// RemoveTickets removes tickets (timeouts) under the lease.
	RemoveTickets(ctx context.Context, l Lease, ticketIDs []string) error
	// KeepNotices keeps match notices by ticket until their reservations
	// expire (Notice.ExpiresAt), so a node that missed them on the bus
	// can fetch them with TicketNotices. The [Matcher] calls it before
	// it publishes.
	KeepNotices(ctx context.Context, ns []Notice) error
	// TicketNotices returns the kept notices of the given tickets, grouped
	// by ticket in the order of ticketIDs; tickets with none are skipped.
	TicketNotices(ctx context.Context, ticketIDs []string) ([]Notice, error)
}

// Backend is everything a node needs from the coordination layer.
type Backend interface {
	Registry
	Directory
	Seats
	Bus
	Queue
	// Close releases connections; later calls return ErrClosed.
	Close() error
}

// Config holds settings common to both implementations. The zero value works
// except for Secret, which a cluster must set (a random one is generated for
// the in-memory backend when empty).
type Config struct {
	// Secret is the HMAC-SHA256 key for reservation tokens; every node of a
	// cluster needs the same one.
	Secret []byte
	// NodeTTL is how long a heartbeat keeps a node live (default 5s).
	NodeTTL time.Duration
	// ReservationTTL is how long a reserved seat waits to be consumed (default 15s).
	ReservationTTL time.Duration
	// BusBuffer is the per-subscriber buffer (default 256).
	BusBuffer int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.NodeTTL <= 0 {
		c.NodeTTL = 5 * time.Second
	}
	if c.ReservationTTL <= 0 {
		c.ReservationTTL = 15 * time.Second
	}
	if c.BusBuffer <= 0 {
		c.BusBuffer = 256
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
