package room

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tickwire/tickwire/netcode"

	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

// Handler is a game's rules for one room type. S is the room's replicated
// state, a protobuf message the room allocates before Init and exposes as
// Context.State.
//
// Every method runs on the room goroutine, one at a time: handlers need no
// locks. A method must not block; use Context.After for delays. A panic in a
// handler method is recovered, logged and closes the room (the node keeps
// running). Embed Base to get no-op defaults.
type Handler[S proto.Message] interface {
	// Init prepares a new room. opts are the game-defined options of the
	// Join that created it. Returning an error aborts the creation.
	Init(c *Context[S], opts []byte) error
	// JoinAttempt decides whether p may join. Return nil to accept, or an
	// error whose text is sent to the client as the reason (see Reject).
	JoinAttempt(c *Context[S], p *Player, opts []byte) error
	// Join is called after a player was accepted and added to the room.
	Join(c *Context[S], p *Player)
	// Leave is called after a player was removed from the room.
	Leave(c *Context[S], p *Player, reason LeaveReason)
	// Tick advances the simulation by one step. inputs holds this tick's
	// inputs of all players, in order of player then sequence number.
	Tick(c *Context[S], inputs []Input)
	// Message handles a game-defined message from a player.
	Message(c *Context[S], p *Player, msg Message)
	// Terminate is called once when the room closes, after every player left.
	Terminate(c *Context[S], reason CloseReason)
}

// Interest is an optional extension of Handler for interest management.
// When the room type's Config.InterestField names a map field of S keyed by
// entity id, each player receives a view of the state whose map holds only
// the entities InView returns; entities entering or leaving the view are
// adds and removes in that player's patches. Each player's view is encoded
// for that player alone (no shared encoding). InView runs on the room
// goroutine after each send tick; append to dst and return it.
type Interest[S proto.Message] interface {
	InView(c *Context[S], p *Player, dst []uint32) []uint32
}

// Base implements every Handler method as a no-op. Embed it and override
// what the game needs.
type Base[S proto.Message] struct{}

func (Base[S]) Init(*Context[S], []byte) error                 { return nil }
func (Base[S]) JoinAttempt(*Context[S], *Player, []byte) error { return nil }
func (Base[S]) Join(*Context[S], *Player)                      {}
func (Base[S]) Leave(*Context[S], *Player, LeaveReason)        {}
func (Base[S]) Tick(*Context[S], []Input)                      {}
func (Base[S]) Message(*Context[S], *Player, Message)          {}
func (Base[S]) Terminate(*Context[S], CloseReason)             {}

// Input is one client input, in sequence order per player.
type Input struct {
	Player *Player
	// Seq is the client's input sequence number.
	Seq uint32
	// Payload is the game's input message (decode with the game's proto).
	// It belongs to the handler for the duration of Tick.
	Payload []byte
}

// Message is a game-defined room message from a client.
type Message struct {
	Type    uint32
	Payload []byte
}

// LeaveReason says why a player left.
type LeaveReason = tickwirev1.LeaveReason

// Leave reasons.
const (
	LeaveLeft         = tickwirev1.LeaveReason_LEAVE_REASON_LEFT
	LeaveDisconnected = tickwirev1.LeaveReason_LEAVE_REASON_DISCONNECTED
	LeaveKicked       = tickwirev1.LeaveReason_LEAVE_REASON_KICKED
	LeaveRoomClosed   = tickwirev1.LeaveReason_LEAVE_REASON_ROOM_CLOSED
)

// CloseReason says why a room closed.
type CloseReason int

// Close reasons.
const (
	// CloseEmpty: the room was empty for Config.DisposeAfter.
	CloseEmpty CloseReason = iota + 1
	// CloseRequested: the handler called Context.Close.
	CloseRequested
	// CloseShutdown: the node is shutting down.
	CloseShutdown
	// ClosePanic: a handler method panicked.
	ClosePanic
)

func (r CloseReason) String() string {
	switch r {
	case CloseEmpty:
		return "empty"
	case CloseRequested:
		return "requested"
	case CloseShutdown:
		return "shutdown"
	case ClosePanic:
		return "panic"
	}
	return fmt.Sprintf("CloseReason(%d)", int(r))
}

// Player is a player in a room. Its fields are read and written on the room
// goroutine only.
type Player struct {
	// ID is small, unique in the room, and stable for the player's stay.
	ID uint32
	// UserID is the authenticated identity (from the engine's auth hook).
	UserID string
	// Name is the display name.
	Name string
	// SessionID is the engine session that holds the player's connection.
	SessionID string
	// JoinedTick is the room tick at which the player joined.
	JoinedTick uint32
	// RTT and InterpDelay are the client's own latest reports (from its
	// pings); lag compensation uses them.
	RTT         time.Duration
	InterpDelay time.Duration
	// AckTick is the newest server tick the client said it applied.
	AckTick uint32

	conn    Conn
	poller  Poller // conn, when it reads on the tick
	inputs  *netcode.InputBuffer
	views   *netcode.ViewEncoder
	leaving bool
}

// LastInput returns the sequence number of the newest input the room
// processed for the player.
func (p *Player) LastInput() uint32 { return p.inputs.LastProcessed() }

// Info returns the player's public description.
func (p *Player) Info() *tickwirev1.PlayerInfo {
	return &tickwirev1.PlayerInfo{PlayerId: p.ID, UserId: p.UserID, Name: p.Name}
}

// Reject returns an error for JoinAttempt that refuses the join with reason,
// which is shown to the client.
func Reject(reason string) error { return &RejectError{Reason: reason} }

// RejectError is a join refused by the handler.
type RejectError struct{ Reason string }

func (e *RejectError) Error() string { return "join rejected: " + e.Reason }

// Is makes errors.Is(err, ErrRejected) true.
func (e *RejectError) Is(target error) bool { return target == ErrRejected }

// Sentinel errors.
var (
	ErrUnknownType  = errors.New("room: unknown room type")
	ErrTypeExists   = errors.New("room: room type already registered")
	ErrNotFound     = errors.New("room: room not found")
	ErrFull         = errors.New("room: room is full")
	ErrLocked       = errors.New("room: room is locked")
	ErrRejected     = errors.New("room: join rejected")
	ErrClosed       = errors.New("room: room is closed")
	ErrMailboxFull  = errors.New("room: mailbox full")
	ErrNotInRoom    = errors.New("room: player not in room")
	ErrDraining     = errors.New("room: registry is draining")
	ErrInvalidInput = errors.New("room: invalid input")
)
