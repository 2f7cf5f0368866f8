package room

import (
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tickwire/tickwire/internal/roomrt"
)

// Context is a handler's handle on its room. It is only valid on the room
// goroutine (inside Handler methods, message handlers and timer callbacks).
type Context[S proto.Message] struct {
	// State is the room's replicated state. The handler changes it in place;
	// it is snapshotted and sent to the players after each send tick.
	State S

	r        *roomrt.Room
	messages map[string]func(p *Player, payload []byte) error
}

// RoomID returns the room's id.
func (c *Context[S]) RoomID() string { return c.r.ID() }

// RoomType returns the room's type name.
func (c *Context[S]) RoomType() string { return c.r.Type() }

// Tick returns the current tick number (1 for the first tick; 0 in Init).
func (c *Context[S]) Tick() uint32 { return c.r.Tick() }

// Now returns the room clock's time.
func (c *Context[S]) Now() time.Time { return c.r.Now() }

// Logger returns the room's logger (with the room id and type).
func (c *Context[S]) Logger() *slog.Logger { return c.r.Logger() }

// TickRate returns the ticks per second.
func (c *Context[S]) TickRate() int { return c.r.TickRate() }

// SetTickRate changes the tick rate from the next tick on (1–1000 Hz). The
// send rate keeps its ratio to the tick rate.
func (c *Context[S]) SetTickRate(hz int) { c.r.SetTickRate(hz) }

// Players calls fn for every player, in join order.
func (c *Context[S]) Players(fn func(p *Player)) {
	for _, p := range c.r.Players() {
		fn(p.Handle.(*Player))
	}
}

// NumPlayers returns how many players are in the room.
func (c *Context[S]) NumPlayers() int { return len(c.r.Players()) }

// Player returns the player with id, or nil.
func (c *Context[S]) Player(id uint32) *Player {
	if p := c.r.Player(id); p != nil {
		return p.Handle.(*Player)
	}
	return nil
}

// Send sends a game message to one player. The client receives it with its
// SDK's onMessage for msg's type (keyed by the protobuf full name).
// Messages and the tick's state leave in the order they are sent: a message
// sent during Tick reaches the client before that tick's state.
func (c *Context[S]) Send(p *Player, msg proto.Message) {
	if name, b, ok := c.marshal(msg); ok {
		c.r.SendMessage(p.p, name, b)
	}
}

// Broadcast sends a game message to every player except those listed. It
// is encoded once.
func (c *Context[S]) Broadcast(msg proto.Message, except ...*Player) {
	name, b, ok := c.marshal(msg)
	if !ok {
		return
	}
	var ex []*roomrt.Player
	for _, p := range except {
		ex = append(ex, p.p)
	}
	c.r.BroadcastMessage(name, b, ex)
}

func (c *Context[S]) marshal(msg proto.Message) (string, []byte, bool) {
	b, err := proto.Marshal(msg)
	if err != nil {
		c.r.Logger().Error("marshal room message", "type", msg.ProtoReflect().Descriptor().FullName(), "err", err)
		return "", nil, false
	}
	return string(msg.ProtoReflect().Descriptor().FullName()), b, true
}

// OnMessage registers fn for the game messages of type M that players send
// to this room (the SDKs' send(msg)). Call it in Init. A message of a type
// no handler was registered for, or one that does not decode, is answered
// ERROR_CODE_UNKNOWN_MESSAGE and counted; it never reaches a handler. fn
// runs on the room goroutine, before the next Tick; msg is fn's to keep.
func OnMessage[M, S proto.Message](c *Context[S], fn func(p *Player, msg M)) {
	var zero M
	typ := zero.ProtoReflect().Type()
	if c.messages == nil {
		c.messages = map[string]func(*Player, []byte) error{}
	}
	c.messages[string(typ.Descriptor().FullName())] = func(p *Player, payload []byte) error {
		m := typ.New().Interface()
		if err := proto.Unmarshal(payload, m); err != nil {
			return fmt.Errorf("%w: %s does not decode: %w", roomrt.ErrUnknownMessage, typ.Descriptor().FullName(), err)
		}
		fn(p, m.(M))
		return nil
	}
}

// Kick removes a player from the room with LeaveKicked; the engine sends it
// Left and closes its connection with CLOSE_CODE_KICKED. Leave runs before
// Kick returns.
func (c *Context[S]) Kick(p *Player, reason string) { c.r.Kick(p.p, reason) }

// BadInput reports that a message of p broke the game's rules: it is
// counted, the client gets an ERROR_CODE_INVALID_INPUT frame, and repeat
// offenders are disconnected by the engine. (Inputs that do not decode are
// handled before Tick; this is for well-formed ones the rules refuse.)
func (c *Context[S]) BadInput(p *Player, err error) { c.r.BadInput(p.p, err) }

// Lock stops new players from joining.
func (c *Context[S]) Lock() { c.r.Lock() }

// Unlock lets players join again.
func (c *Context[S]) Unlock() { c.r.Unlock() }

// Locked reports whether the room is locked.
func (c *Context[S]) Locked() bool { return c.r.Locked() }

// SetPrivate hides the room from join-or-create (it can still be joined by id).
func (c *Context[S]) SetPrivate(private bool) { c.r.SetPrivate(private) }

// MaxPlayers returns the number of seats.
func (c *Context[S]) MaxPlayers() int { return c.r.MaxPlayers() }

// SetMaxPlayers changes the number of seats; players already in stay.
func (c *Context[S]) SetMaxPlayers(n int) { c.r.SetMaxPlayers(n) }

// Metadata returns a copy of the room's metadata.
func (c *Context[S]) Metadata() map[string]string { return c.r.Metadata() }

// SetMetadata sets a metadata entry (visible to matchmaking filters and room
// listings); an empty value deletes it.
func (c *Context[S]) SetMetadata(key, value string) { c.r.SetMetadata(key, value) }

// Close closes the room after the current handler call: every player is
// removed with LeaveRoomClosed, then Terminate runs.
func (c *Context[S]) Close() { c.r.RequestClose() }

// TimerID identifies a room timer.
type TimerID uint64

// After runs fn on the room goroutine at the first tick at or after d from
// now. The timer dies with the room.
func (c *Context[S]) After(d time.Duration, fn func()) TimerID {
	return TimerID(c.r.After(d, fn))
}

// Every runs fn at the first tick at or after every period d. A period
// shorter than a tick runs once per tick.
func (c *Context[S]) Every(d time.Duration, fn func()) TimerID {
	return TimerID(c.r.Every(d, fn))
}

// CancelTimer stops a timer; it is a no-op for a timer that already ran.
func (c *Context[S]) CancelTimer(id TimerID) { c.r.CancelTimer(uint64(id)) }

// SetPlayerName changes p's display name. Call it in JoinAttempt to take
// the name from the join options: the Joined reply and the other players'
// PlayerJoined carry it. A name changed later reaches the others only
// through the game's own state or messages.
func (c *Context[S]) SetPlayerName(p *Player, name string) { p.p.Name = name }
