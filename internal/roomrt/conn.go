package roomrt

import (
	"time"

	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

// Conn is the room's view of a player's connection. The engine implements
// it. Every method must be safe for concurrent use and must never block: the
// room goroutine calls them while it ticks.
//
// Threading: the room calls every method on its goroutine, except
// SendState, which a big room (Config.ParallelIOPlayers) may call from one
// of its registry's helper goroutines instead: never for the same Conn
// twice at once, never at the same time as the room's other calls for that
// Conn (SendFrame, Baseline, ... are made before, on the room goroutine,
// and the tick waits for SendState to return before it goes on), so what
// the room did before SendState happens before it, and what SendState did
// happens before the room's next call.
type Conn interface {
	// SendState offers the player's state frame for a tick. It replaces a
	// state frame that has not been written yet (stale snapshots are dropped
	// first). f.Payload is shared with other players and must not be
	// modified, and it is valid only during the call: the room reuses its
	// memory, so a Conn that keeps the frame past the call copies it. It
	// may run on a helper goroutine (see Threading above): it must not
	// call Room methods that wait for the room goroutine (Join, Close,
	// Call), which waits for it.
	SendState(f StateFrame)
	// SendFrame queues an encoded ServerMessage. frame is shared with other
	// players and must not be modified. The connection closes itself when its
	// queue overflows (slow consumer).
	SendFrame(frame []byte)
	// Baseline returns the tick of the last state frame written to the
	// socket, 0 if none (or after a resync request).
	Baseline() uint32
	// Reject reports a refused client message (an Error frame with code);
	// repeated rejections disconnect the client.
	Reject(code tickwirev1.ErrorCode, msg string)
	// Removed tells the connection that its player is no longer in the room,
	// for any reason. It is called exactly once per successful join, unless
	// Superseded is called instead.
	Removed(roomID string, playerID uint32, reason LeaveReason, msg string)
	// Superseded tells the connection that another connection resumed its
	// seat: it is no longer in the room (its seat lives on with the new
	// connection) and should close.
	Superseded(roomID string, playerID uint32)
}

// TokenIssuer signs resume tokens. It must be safe for concurrent use.
type TokenIssuer interface {
	// Issue returns a token for generation gen of player's seat in room.
	Issue(roomID string, playerID, gen uint32) string
}

// Poller is implemented by a Conn whose client frames the room goroutine
// reads itself: at the start of every tick, before the tick's controls and
// inputs are taken, the room calls Poll on each of its players' Conns that
// implement it, passing itself. Poll reads what the client sent since the
// last call without blocking and posts it to the room like any other caller
// (PostInput, PostMessage, Leave, ...), so it is used at this very tick.
//
// Threading: Poll is called while the player is in the room, on the room
// goroutine or, in a big room (Config.ParallelIOPlayers), on one of its
// registry's helper goroutines, the Polls of one tick spread over them:
// never two at once for the same Conn, and every Poll of a tick returns
// before the tick goes on (so what a Poll did happens before the rest of
// the tick, and Polls of different Conns may run at the same time and
// post to the room concurrently). It must never block and must not call
// Room methods that wait for the room goroutine (Join, Close, Call). The
// engine implements it so that a player in a room costs no read goroutine
// and no wake-up per input.
type Poller interface {
	Poll(r *Room)
}

// Batcher is implemented by a Conn that can hold what the room sends it
// during a tick and write it in one go: one socket write per player and
// tick instead of one per frame (a game message broadcast in a tick
// otherwise costs every player a write of its own). A room that is behind
// runs its due ticks back to back and holds all of them: one write per
// player for the lot.
//
// Threading: the room calls Hold and Release in pairs: Hold on its
// goroutine after a tick's controls, Release at the end of the tick, or
// of the last of the ticks it runs in one go (or, on the room goroutine,
// before the player leaves the room or its seat moves to another
// connection). Between them, SendFrame and SendState queue without
// writing, in order, whoever calls them; Release writes what is queued.
// A Conn that cannot take more (its socket is backed up) may write or
// drop as it would without Hold. Neither may block. A big room
// (Config.ParallelIOPlayers) calls the Release that ends a tick right
// after the Conn's SendState, on the same goroutine as SendState, which
// may be one of its registry's helpers (see Conn): never at the same time
// as another call for that Conn, and before the tick ends.
type Batcher interface {
	Hold()
	Release()
}

// StateFrame is one State message for one player.
type StateFrame struct {
	Tick     uint32
	Baseline uint32
	LastSeq  uint32
	Payload  []byte
}

// Observer receives a room's measurements. Implementations must be safe for
// concurrent use (every room goroutine calls them) and cheap: they run in
// the tick loop. The engine's Prometheus metrics implement it.
type Observer interface {
	// ObserveTick reports one tick: how late it started against its
	// schedule, how long it took, and where that time went (TickTimes).
	ObserveTick(roomType string, t TickTimes)
	// TicksSkipped reports ticks skipped because the room fell too far behind.
	TicksSkipped(roomType string, n int)
	// InputDropped reports an input or message the room refused; reason is a
	// short stable label ("duplicate", "stale", "too_far_ahead", "buffer_full",
	// "mailbox_full", "bad_ack", "per_tick_cap").
	InputDropped(roomType string, reason string)
	// StateEncoded reports one state encoding (shared by every player with
	// the same baseline): full snapshot or patch, and its size.
	StateEncoded(roomType string, full bool, bytes int)
	// RoomOpened and RoomClosed track the number of rooms.
	RoomOpened(roomType string)
	RoomClosed(roomType string, reason CloseReason)
	// PlayerJoined and PlayerLeft track the number of players in rooms.
	PlayerJoined(roomType string)
	PlayerLeft(roomType string, reason LeaveReason)
	// PlayerDisconnected tracks the players in their reconnection grace:
	// in is true when one enters it, false when one leaves it (resumed or
	// gone).
	PlayerDisconnected(roomType string, in bool)
}

// TickTimes is one tick as Observer.ObserveTick sees it: how late it
// started, and its duration split into the phases a tick runs in order.
// Total is the whole tick; the phases add up to nearly all of it.
type TickTimes struct {
	Lateness time.Duration // how late the tick started against its schedule
	Total    time.Duration
	// Read is the reads of the players' sockets (Poller) at the start of
	// the tick; Polled is false for a tick that did not read (a batch's
	// ticks after the first, see Batcher), whose Read is zero.
	Read   time.Duration
	Polled bool
	// Rules is the room's own step: queued joins, leaves and messages,
	// timers, the inputs, and the handler's Tick.
	Rules time.Duration
	// State is replication: the snapshot, the views and the encodings,
	// each player's state frame framed (zero on a tick that sends none).
	State time.Duration
	// Write is the end of the tick: what it sent, written to the players'
	// sockets (Batcher.Release) or, in a batch before its last tick, held
	// for that tick.
	Write time.Duration
}

// NopObserver discards every measurement.
type NopObserver struct{}

func (NopObserver) ObserveTick(string, TickTimes)   {}
func (NopObserver) TicksSkipped(string, int)        {}
func (NopObserver) InputDropped(string, string)     {}
func (NopObserver) StateEncoded(string, bool, int)  {}
func (NopObserver) RoomOpened(string)               {}
func (NopObserver) RoomClosed(string, CloseReason)  {}
func (NopObserver) PlayerJoined(string)             {}
func (NopObserver) PlayerLeft(string, LeaveReason)  {}
func (NopObserver) PlayerDisconnected(string, bool) {}
