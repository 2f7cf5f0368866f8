package netcode

import (
	"math"
	"slices"
	"time"
)

// Vec2 is a 2D position in world units (dequantized: use Dequantize on
// fixed-point state fields before recording).
type Vec2 struct{ X, Y float64 }

// EntityPos is one entity's position at a tick.
type EntityPos struct {
	ID  uint32
	Pos Vec2
}

// LagHistoryConfig configures a LagHistory. The zero value is usable.
type LagHistoryConfig struct {
	// Ticks is the number of ticks kept (default TickRate: one second).
	Ticks int
	// TickRate in Hz, used only for the default of Ticks (default 20).
	TickRate int
}

type lagFrame struct {
	tick uint32
	ok   bool
	pos  []EntityPos // sorted by ID
}

// LagHistory is a ring of per-tick entity positions for lag compensation:
// a hit check runs against the positions "as the shooter saw them", at
// command time = server time − latency − the client's interpolation delay
// (CommandTick). Not safe for concurrent use (room goroutine only).
type LagHistory struct {
	frames []lagFrame
	newest uint32
	has    bool
}

// NewLagHistory returns a LagHistory with cfg's defaults applied.
func NewLagHistory(cfg LagHistoryConfig) *LagHistory {
	if cfg.TickRate <= 0 {
		cfg.TickRate = 20
	}
	if cfg.Ticks <= 0 {
		cfg.Ticks = cfg.TickRate
	}
	return &LagHistory{frames: make([]lagFrame, cfg.Ticks)}
}

// Record stores a copy of positions as tick (ticks should increase). The
// slot's memory is reused, so recording is allocation-free once warm.
func (h *LagHistory) Record(tick uint32, positions []EntityPos) {
	f := &h.frames[int(tick%uint32(len(h.frames)))]
	f.tick, f.ok = tick, true
	f.pos = append(f.pos[:0], positions...)
	if !slices.IsSortedFunc(f.pos, cmpEntityPos) {
		slices.SortFunc(f.pos, cmpEntityPos)
	}
	if !h.has || tick > h.newest {
		h.newest, h.has = tick, true
	}
}

func cmpEntityPos(a, b EntityPos) int { return int(int64(a.ID) - int64(b.ID)) }

func (h *LagHistory) frame(tick uint32) *lagFrame {
	f := &h.frames[int(tick%uint32(len(h.frames)))]
	if !f.ok || f.tick != tick {
		return nil
	}
	return f
}

// Oldest returns the oldest tick still recorded (0, false when empty).
func (h *LagHistory) Oldest() (uint32, bool) {
	if !h.has {
		return 0, false
	}
	oldest := h.newest
	for i := uint32(1); i < uint32(len(h.frames)) && i <= h.newest; i++ {
		if h.frame(h.newest-i) == nil {
			break
		}
		oldest = h.newest - i
	}
	return oldest, true
}

// Rewind appends to dst the positions at fractional tick t, interpolating
// linearly between the recorded ticks floor(t) and floor(t)+1. Entities are
// those of the earlier tick; one missing from the later tick keeps its
// earlier position. t before the oldest recorded tick clamps to the oldest,
// t after the newest clamps to the newest; with nothing recorded Rewind
// returns dst unchanged. Output is sorted by ID.
func (h *LagHistory) Rewind(t float64, dst []EntityPos) []EntityPos {
	a, b, frac, ok := h.bracket(t)
	if !ok {
		return dst
	}
	fa, fb := h.frame(a), h.frame(b)
	j := 0
	for _, e := range fa.pos {
		p := e.Pos
		if frac > 0 {
			for j < len(fb.pos) && fb.pos[j].ID < e.ID {
				j++
			}
			if j < len(fb.pos) && fb.pos[j].ID == e.ID {
				q := fb.pos[j].Pos
				p = Vec2{p.X + (q.X-p.X)*frac, p.Y + (q.Y-p.Y)*frac}
			}
		}
		dst = append(dst, EntityPos{ID: e.ID, Pos: p})
	}
	return dst
}

// Position returns one entity's position at fractional tick t, with the
// same rules as Rewind.
func (h *LagHistory) Position(id uint32, t float64) (Vec2, bool) {
	a, b, frac, ok := h.bracket(t)
	if !ok {
		return Vec2{}, false
	}
	find := func(f *lagFrame) (Vec2, bool) {
		i, found := slices.BinarySearchFunc(f.pos, id, func(e EntityPos, id uint32) int { return int(int64(e.ID) - int64(id)) })
		if !found {
			return Vec2{}, false
		}
		return f.pos[i].Pos, true
	}
	p, ok := find(h.frame(a))
	if !ok {
		return Vec2{}, false
	}
	if q, ok := find(h.frame(b)); ok && frac > 0 {
		p = Vec2{p.X + (q.X-p.X)*frac, p.Y + (q.Y-p.Y)*frac}
	}
	return p, true
}

// bracket clamps t and returns the two ticks around it and the fraction.
func (h *LagHistory) bracket(t float64) (a, b uint32, frac float64, ok bool) {
	oldest, ok := h.Oldest()
	if !ok {
		return 0, 0, 0, false
	}
	if math.IsNaN(t) || t <= float64(oldest) {
		return oldest, oldest, 0, true
	}
	if t >= float64(h.newest) {
		return h.newest, h.newest, 0, true
	}
	a = uint32(math.Floor(t))
	return a, a + 1, t - float64(a), true
}

// CommandTick returns the fractional tick a client's command refers to:
// serverTick − (latency + interpDelay) × tickRate. latency is the time
// between the state the client rendered leaving the server and its command
// being processed: use the client's RTT (state took RTT/2 to arrive, the
// command RTT/2 to come back). When inputs carry the client's acked tick,
// ackTick − interpDelay × tickRate is a more direct measure.
func CommandTick(serverTick uint32, tickRate int, latency, interpDelay time.Duration) float64 {
	t := float64(serverTick) - (latency+interpDelay).Seconds()*float64(tickRate)
	return max(t, 0)
}
