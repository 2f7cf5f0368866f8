package room

import "time"

// Config describes a room type. The zero value is usable: 20 Hz, state sent
// every tick, 16 players, disposed 30 s after the last player left.
type Config struct {
	// TickRate is simulation ticks per second. Default 20. Max 1000.
	TickRate int
	// SendRate is state frames per second, at most TickRate; state goes out
	// every TickRate/SendRate ticks. Default TickRate.
	SendRate int
	// MaxPlayers is the number of seats. Default 16.
	MaxPlayers int
	// DisposeAfter is how long a room stays open with no players (and no
	// pending seat) before it closes. Default 30 s. Negative keeps empty rooms
	// open until closed explicitly.
	DisposeAfter time.Duration
	// MailboxSize bounds the input queue. Default 64 per seat.
	MailboxSize int
	// MaxInputsPerTick is how many inputs of one player a tick applies;
	// the rest wait for the next tick. Default 3 (absorbs network jitter).
	MaxInputsPerTick int
	// InputBuffer bounds the inputs pending per player; inputs beyond it are
	// dropped and counted. Default 16.
	InputBuffer int
	// History is how many ticks of snapshots the room keeps as baselines.
	// Default: four send intervals (4 ticks when every tick is sent; 0.2 s
	// at 20 Hz). Over WebSocket a client's baseline is the last frame
	// written to its socket, normally one send interval old; a client
	// further behind than History gets a full state, which costs bandwidth
	// once, while every kept snapshot costs memory in every room (a
	// snapshot of the arena's rooms of 10 is ~3 KB in memory).
	History int
	// MaxCatchUp is how many ticks a room may fall behind: late ticks run
	// in order, back to back, up to MaxCatchUp+1 at once, in batches of
	// up to four (the players' sockets are read once before a batch and
	// written once after it, with all its states); a room further behind
	// shifts its schedule forward by the extra ticks, which are skipped
	// and counted (tickwire_ticks_skipped_total). Default 10.
	MaxCatchUp int
	// ReconnectGrace is how long a player whose connection ended without a
	// Leave (closed, reset, timed out, replaced) keeps its seat,
	// disconnected, waiting to resume with its resume token through any
	// node. The handler hears Disconnected, then Reconnected or, when the
	// grace ends, Leave with LeaveDisconnected. Default 10 s; negative turns
	// it off (the player leaves at once).
	ReconnectGrace time.Duration
	// NoState disables state replication (rooms that only relay messages).
	NoState bool
	// InterestField turns on interest management: the name of a map field
	// of the state (integer keys: entity ids) filtered per player by the
	// handler's Interest.InView. The handler must implement Interest.
	InterestField string
	// ParallelIOPlayers is the number of connected players from which a
	// room spreads its socket work over the node's cores: the reads of its
	// players' sockets at the start of a tick and the writes of their state
	// frames (with the messages held for them during the tick) at the end,
	// each done by a system call. The handler and the encodings still run
	// on the room goroutine, one at a time; only the socket calls are
	// shared with the node's helper goroutines (GOMAXPROCS-1 of them, busy
	// ones left alone), and the tick waits for them. A room of 200 players
	// spends most of its tick in those calls. Default 64; negative keeps
	// every call on the room goroutine, as does GOMAXPROCS 1.
	ParallelIOPlayers int
}
