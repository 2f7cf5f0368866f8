package roomrt

import (
	"container/heap"
	"log/slog"
	"maps"
	"time"

	"google.golang.org/protobuf/proto"

	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

// The methods in this file are the handler's view of its room (package
// room's Context calls them). They may only be called on the room
// goroutine: inside Handler methods and timer callbacks.

// Now returns the room clock's time.
func (r *Room) Now() time.Time { return r.clock.Now() }

// Logger returns the room's logger.
func (r *Room) Logger() *slog.Logger { return r.log }

// TickRate returns the ticks per second.
func (r *Room) TickRate() int { return int(r.tickRate.Load()) }

// SetTickRate changes the tick rate from the next tick on. The send rate
// keeps its ratio to the tick rate. Rates outside 1–1000 are ignored.
func (r *Room) SetTickRate(hz int) {
	if hz <= 0 || hz > 1000 {
		return
	}
	r.tickRate.Store(int32(hz))
	r.rateChange = hz
	r.rateChangeAt = r.clock.Now()
}

// Players returns the players in join order. The slice is the room's own.
func (r *Room) Players() []*Player { return r.order }

// Player returns the player with id, or nil.
func (r *Room) Player(id uint32) *Player { return r.byID[id] }

// SendMessage sends a game message (its full protobuf type name and its
// encoding) to one player.
func (r *Room) SendMessage(p *Player, typeName string, payload []byte) {
	if b := r.marshalMessage(typeName, payload); b != nil {
		p.conn.SendFrame(b)
	}
}

// BroadcastMessage sends a game message to every player but those in
// except. It is encoded once.
func (r *Room) BroadcastMessage(typeName string, payload []byte, except []*Player) {
	b := r.marshalMessage(typeName, payload)
	if b == nil {
		return
	}
outer:
	for _, p := range r.order {
		for _, e := range except {
			if p == e {
				continue outer
			}
		}
		p.conn.SendFrame(b)
	}
}

func (r *Room) marshalMessage(typeName string, payload []byte) []byte {
	b, err := proto.Marshal(&tickwirev1.ServerMessage{Kind: &tickwirev1.ServerMessage_Message{Message: &tickwirev1.RoomMessage{TypeName: typeName, Payload: payload}}})
	if err != nil {
		r.log.Error("marshal room message", "err", err)
		return nil
	}
	return b
}

// Kick removes a player with LeaveKicked; the engine sends it Left and
// closes its connection with CLOSE_CODE_KICKED. Leave runs before Kick
// returns.
func (r *Room) Kick(p *Player, reason string) {
	if r.byID[p.ID] == p {
		r.remove(p, LeaveKicked, reason)
	}
}

// BadInput counts an input or message of p that did not decode or broke
// the game's rules (Observer.InputDropped "undecodable") and answers the
// client ERROR_CODE_INVALID_INPUT; repeat offenders are disconnected by
// the engine.
func (r *Room) BadInput(p *Player, err error) {
	r.obs.InputDropped(r.typ, "undecodable")
	msg := "input rejected"
	if err != nil {
		msg = "input rejected: " + err.Error()
	}
	p.conn.Reject(tickwirev1.ErrorCode_ERROR_CODE_INVALID_INPUT, msg)
}

// Lock stops new players from joining; Unlock lets them join again.
func (r *Room) Lock()   { r.locked.Store(true) }
func (r *Room) Unlock() { r.locked.Store(false) }

// Locked reports whether the room is locked.
func (r *Room) Locked() bool { return r.locked.Load() }

// SetPrivate hides the room from join-or-create.
func (r *Room) SetPrivate(private bool) { r.private.Store(private) }

// MaxPlayers returns the number of seats.
func (r *Room) MaxPlayers() int { return int(r.maxPlayers.Load()) }

// SetMaxPlayers changes the number of seats; players already in stay.
func (r *Room) SetMaxPlayers(n int) {
	if n > 0 {
		r.maxPlayers.Store(int32(n))
	}
}

// Metadata returns a copy of the room's metadata.
func (r *Room) Metadata() map[string]string { return maps.Clone(*r.meta.Load()) }

// SetMetadata sets a metadata entry; an empty value deletes it.
func (r *Room) SetMetadata(key, value string) {
	m := maps.Clone(*r.meta.Load())
	if value == "" {
		delete(m, key)
	} else {
		m[key] = value
	}
	r.meta.Store(&m)
}

// RequestClose closes the room after the current handler call.
func (r *Room) RequestClose() {
	if r.closing == 0 {
		r.closing = CloseRequested
	}
}

// After runs fn on the room goroutine at the first tick at or after d from
// now; Every runs it every period d (at most once per tick). The returned
// id cancels it (CancelTimer).
func (r *Room) After(d time.Duration, fn func()) uint64 { return r.addTimer(d, 0, fn) }

// Every: see After.
func (r *Room) Every(d time.Duration, fn func()) uint64 {
	if d <= 0 {
		d = time.Nanosecond
	}
	return r.addTimer(d, d, fn)
}

// CancelTimer stops a timer; it is a no-op for a timer that already ran.
func (r *Room) CancelTimer(id uint64) {
	for _, t := range r.timers {
		if t.id == id {
			t.dead = true
			heap.Remove(&r.timers, t.index)
			return
		}
	}
}

func (r *Room) addTimer(d, period time.Duration, fn func()) uint64 {
	r.timerSeq++
	heap.Push(&r.timers, &roomTimer{id: r.timerSeq, due: r.clock.Now().Add(d), period: period, fn: fn})
	return r.timerSeq
}
