package room

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tickwire/tickwire/internal/roomrt"
)

// Handler is a game's rules for one room type. S is the room's replicated
// state and I the players' input, both protobuf messages of the game's own
// schema. The room allocates S before Init (Context.State) and decodes every
// input into an I before Tick: a handler never sees bytes.
//
// Every method runs on the room goroutine, one at a time: handlers need no
// locks. A method must not block; use Context.After for delays. A panic in a
// handler method is recovered, logged and closes the room (the node keeps
// running). Embed Base to get no-op defaults.
type Handler[S, I proto.Message] interface {
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
	// decoded inputs of all players, in order of player then sequence
	// number. The slice and the messages in it are reused after Tick
	// returns: copy what you keep (proto.Clone).
	Tick(c *Context[S], inputs []Input[I])
	// Disconnected is called when p's connection ended without a Leave: p
	// stays in the room (and in the state), its seat taken, for the room
	// type's Config.ReconnectGrace. Then comes Reconnected, or Leave with
	// LeaveDisconnected.
	Disconnected(c *Context[S], p *Player)
	// Reconnected is called when p resumed its seat on a new connection
	// (same player, same id; its next state is a full snapshot).
	Reconnected(c *Context[S], p *Player)
	// Terminate is called once when the room closes, after every player left.
	Terminate(c *Context[S], reason CloseReason)
}

// Interest is an optional extension of Handler for interest management.
// When the room type's Config.InterestField names a map field of S keyed by
// entity id, each player receives a view of the state whose map holds only
// the entities InView returns; entities entering or leaving the view are
// adds and removes in that player's patches. InView runs on the room
// goroutine after each send tick; append to dst and return it.
type Interest[S proto.Message] interface {
	InView(c *Context[S], p *Player, dst []uint32) []uint32
}

// Base implements every Handler method as a no-op. Embed it and override
// what the game needs.
type Base[S, I proto.Message] struct{}

func (Base[S, I]) Init(*Context[S], []byte) error                 { return nil }
func (Base[S, I]) JoinAttempt(*Context[S], *Player, []byte) error { return nil }
func (Base[S, I]) Join(*Context[S], *Player)                      {}
func (Base[S, I]) Leave(*Context[S], *Player, LeaveReason)        {}
func (Base[S, I]) Tick(*Context[S], []Input[I])                   {}
func (Base[S, I]) Disconnected(*Context[S], *Player)              {}
func (Base[S, I]) Reconnected(*Context[S], *Player)               {}
func (Base[S, I]) Terminate(*Context[S], CloseReason)             {}

// Input is one decoded client input.
type Input[I proto.Message] struct {
	Player *Player
	// Seq is the client's input sequence number.
	Seq uint32
	// Msg is the input. It belongs to the room: valid until Tick returns.
	Msg I
}

// Player is a player in a room, as its handler sees it: read-only. A
// *Player is stable for the player's stay, so it can key a map.
type Player struct{ p *roomrt.Player }

// ID is small, unique in the room, and stable for the player's stay.
func (p *Player) ID() uint32 { return p.p.ID }

// UserID is the authenticated identity: what the engine's Authenticate hook
// returned, or a random id per session without one.
func (p *Player) UserID() string { return p.p.UserID }

// Name is the display name: the Authenticate hook's Identity.Name, or,
// without a hook, the name the client sent in Hello.
func (p *Player) Name() string { return p.p.Name }

// JoinedTick is the room tick at which the player joined.
func (p *Player) JoinedTick() uint32 { return p.p.JoinedTick }

// RTT is the round-trip time the client last reported (from its pings).
func (p *Player) RTT() time.Duration { return p.p.RTT }

// InterpDelay is how far in the past the client last reported rendering
// other entities; lag compensation rewinds by RTT/2 + InterpDelay.
func (p *Player) InterpDelay() time.Duration { return p.p.InterpDelay }

// AckTick is the newest server tick the client said it applied.
func (p *Player) AckTick() uint32 { return p.p.AckTick }

// Connected reports whether the player has a connection; false while it is
// in its reconnection grace (see Handler.Disconnected).
func (p *Player) Connected() bool { return !p.p.Disconnected }

// LastInput is the sequence number of the newest input the room processed
// for the player (sent back in every state, for reconciliation).
func (p *Player) LastInput() uint32 { return p.p.LastInput() }

// String returns "name#id".
func (p *Player) String() string { return fmt.Sprintf("%s#%d", p.p.Name, p.p.ID) }

// LeaveReason says why a player left a room.
type LeaveReason int

// Leave reasons.
const (
	// LeaveLeft: the player asked to leave.
	LeaveLeft LeaveReason = LeaveReason(roomrt.LeaveLeft)
	// LeaveDisconnected: the player's connection ended.
	LeaveDisconnected LeaveReason = LeaveReason(roomrt.LeaveDisconnected)
	// LeaveKicked: the handler (or an operator) kicked the player.
	LeaveKicked LeaveReason = LeaveReason(roomrt.LeaveKicked)
	// LeaveRoomClosed: the room closed.
	LeaveRoomClosed LeaveReason = LeaveReason(roomrt.LeaveRoomClosed)
)

func (r LeaveReason) String() string {
	switch r {
	case LeaveLeft:
		return "left"
	case LeaveDisconnected:
		return "disconnected"
	case LeaveKicked:
		return "kicked"
	case LeaveRoomClosed:
		return "room_closed"
	}
	return fmt.Sprintf("LeaveReason(%d)", int(r))
}

// CloseReason says why a room closed.
type CloseReason int

// Close reasons.
const (
	// CloseEmpty: the room was empty for Config.DisposeAfter.
	CloseEmpty = CloseReason(roomrt.CloseEmpty)
	// CloseRequested: the handler called Context.Close.
	CloseRequested = CloseReason(roomrt.CloseRequested)
	// CloseShutdown: the node is shutting down.
	CloseShutdown = CloseReason(roomrt.CloseShutdown)
	// ClosePanic: a handler method panicked.
	ClosePanic = CloseReason(roomrt.ClosePanic)
)

func (r CloseReason) String() string { return roomrt.CloseReason(r).String() }

// Reject returns an error for JoinAttempt that refuses the join with
// reason, which is shown to the client (ERROR_CODE_JOIN_REJECTED).
func Reject(reason string) error { return &roomrt.RejectError{Reason: reason} }

// ErrRejected matches (errors.Is) every refused join, whether the handler
// used Reject or returned another error.
var ErrRejected = roomrt.ErrRejected
