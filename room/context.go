package room

import (
	"container/heap"
	"log/slog"
	"maps"
	"time"

	"google.golang.org/protobuf/proto"

	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

// Context is a handler's handle on its room. It is only valid on the room
// goroutine (inside Handler methods and timer callbacks).
type Context[S proto.Message] struct {
	// State is the room's replicated state. The handler changes it in place;
	// it is snapshotted and sent to the players after each send tick.
	State S
	r     *Room
}

// RoomID returns the room's id.
func (c *Context[S]) RoomID() string { return c.r.id }

// RoomType returns the room's type name.
func (c *Context[S]) RoomType() string { return c.r.typ }

// Tick returns the current tick number (1 for the first tick; 0 in Init).
func (c *Context[S]) Tick() uint32 { return c.r.tick }

// Now returns the room clock's time.
func (c *Context[S]) Now() time.Time { return c.r.clock.Now() }

// Logger returns the room's logger.
func (c *Context[S]) Logger() *slog.Logger { return c.r.log }

// TickRate returns the ticks per second.
func (c *Context[S]) TickRate() int { return int(c.r.tickRate.Load()) }

// SetTickRate changes the tick rate from the next tick on. The send rate
// keeps its ratio to the tick rate.
func (c *Context[S]) SetTickRate(hz int) {
	if hz <= 0 || hz > 1000 {
		return
	}
	c.r.tickRate.Store(int32(hz))
	c.r.rateChange = hz
	c.r.rateChangeAt = c.r.clock.Now()
}

// Players returns the players in join order. The slice is the room's own:
// do not keep or modify it.
func (c *Context[S]) Players() []*Player { return c.r.order }

// Player returns the player with id, or nil.
func (c *Context[S]) Player(id uint32) *Player { return c.r.byID[id] }

// Send sends a game-defined message to one player.
func (c *Context[S]) Send(p *Player, typ uint32, payload []byte) {
	if b := c.r.marshalMessage(typ, payload); b != nil {
		p.conn.SendFrame(b)
	}
}

// Broadcast sends a game-defined message to every player except those
// listed. It is encoded once.
func (c *Context[S]) Broadcast(typ uint32, payload []byte, except ...*Player) {
	b := c.r.marshalMessage(typ, payload)
	if b == nil {
		return
	}
outer:
	for _, p := range c.r.order {
		for _, e := range except {
			if p == e {
				continue outer
			}
		}
		p.conn.SendFrame(b)
	}
}

func (r *Room) marshalMessage(typ uint32, payload []byte) []byte {
	b, err := proto.Marshal(&tickwirev1.ServerMessage{Kind: &tickwirev1.ServerMessage_Message{Message: &tickwirev1.RoomMessage{Type: typ, Payload: payload}}})
	if err != nil {
		r.log.Error("marshal room message", "err", err)
		return nil
	}
	return b
}

// Kick removes a player from the room with LeaveKicked; the engine sends it
// Left and closes its connection with CLOSE_CODE_KICKED. Leave runs before
// Kick returns.
func (c *Context[S]) Kick(p *Player, reason string) {
	if c.r.byID[p.ID] == p {
		c.r.remove(p, LeaveKicked, reason)
	}
}

// BadInput reports that an input or message of p did not decode or broke
// the game's rules: it is counted (Observer.InputDropped "undecodable"),
// the client gets an ERROR_CODE_INVALID_INPUT frame, and repeat offenders
// are disconnected by the engine.
func (c *Context[S]) BadInput(p *Player, err error) {
	c.r.obs.InputDropped(c.r.typ, "undecodable")
	msg := "input rejected"
	if err != nil {
		msg = "input rejected: " + err.Error()
	}
	p.conn.Reject(tickwirev1.ErrorCode_ERROR_CODE_INVALID_INPUT, msg)
}

// Lock stops new players from joining.
func (c *Context[S]) Lock() { c.r.locked.Store(true) }

// Unlock lets players join again.
func (c *Context[S]) Unlock() { c.r.locked.Store(false) }

// Locked reports whether the room is locked.
func (c *Context[S]) Locked() bool { return c.r.locked.Load() }

// SetPrivate hides the room from join-or-create (it can still be joined by id).
func (c *Context[S]) SetPrivate(private bool) { c.r.private.Store(private) }

// MaxPlayers returns the number of seats.
func (c *Context[S]) MaxPlayers() int { return int(c.r.maxPlayers.Load()) }

// SetMaxPlayers changes the number of seats; players already in stay.
func (c *Context[S]) SetMaxPlayers(n int) {
	if n > 0 {
		c.r.maxPlayers.Store(int32(n))
	}
}

// Metadata returns a copy of the room's metadata.
func (c *Context[S]) Metadata() map[string]string { return maps.Clone(*c.r.meta.Load()) }

// SetMetadata sets a metadata entry (visible to matchmaking filters and room
// listings); an empty value deletes it.
func (c *Context[S]) SetMetadata(key, value string) {
	m := maps.Clone(*c.r.meta.Load())
	if value == "" {
		delete(m, key)
	} else {
		m[key] = value
	}
	c.r.meta.Store(&m)
}

// Close closes the room after the current handler call: every player is
// removed with LeaveRoomClosed, then Terminate runs.
func (c *Context[S]) Close() {
	if c.r.closing == 0 {
		c.r.closing = CloseRequested
	}
}

// TimerID identifies a room timer.
type TimerID uint64

// After runs fn on the room goroutine at the first tick at or after d from
// now. The timer dies with the room.
func (c *Context[S]) After(d time.Duration, fn func()) TimerID {
	return c.r.addTimer(d, 0, fn)
}

// Every runs fn at the first tick at or after every period d. A period
// shorter than a tick runs once per tick.
func (c *Context[S]) Every(d time.Duration, fn func()) TimerID {
	if d <= 0 {
		d = time.Nanosecond
	}
	return c.r.addTimer(d, d, fn)
}

// CancelTimer stops a timer; it is a no-op for a timer that already ran.
func (c *Context[S]) CancelTimer(id TimerID) {
	for _, t := range c.r.timers {
		if t.id == uint64(id) {
			t.dead = true
			heap.Remove(&c.r.timers, t.index)
			return
		}
	}
}

func (r *Room) addTimer(d, period time.Duration, fn func()) TimerID {
	r.timerSeq++
	heap.Push(&r.timers, &roomTimer{id: r.timerSeq, due: r.clock.Now().Add(d), period: period, fn: fn})
	return TimerID(r.timerSeq)
}
