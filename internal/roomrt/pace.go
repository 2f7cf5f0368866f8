package roomrt

import (
	"math/bits"
	"time"
)

// pacer is a room's tick schedule. It is plain arithmetic on the times it
// is given, owned by the room goroutine.
//
// Tick k of the schedule is due at anchor + k*iv. A room's anchor is its
// registry's epoch plus the room's phase (a fraction of iv picked by the
// registry's phaseTable), so the rooms of a node tick spread over the
// period instead of together; the first tick is the first grid point after
// the room started.
//
// A room that falls behind runs its late ticks in order, back to back, as
// long as it is at most maxBehind whole ticks behind (a tick starts less
// than maxBehind+1 intervals late). Once it is further behind, the schedule
// shifts forward by whole ticks (the phase is kept) until it is maxBehind
// ticks behind again: the shifted ticks are
// never run and are reported (Observer.TicksSkipped), but the room does
// not stop to wait for the grid either, so an overloaded node keeps every
// room running its ticks late by a bounded amount instead of letting some
// rooms skip to the present while others queue.
type pacer struct {
	iv        time.Duration
	next      time.Time // when the next tick is due
	maxBehind int       // ticks
}

// begin starts a schedule of interval iv on the grid anchor + k*iv: the
// next tick is the first grid point after now.
func (p *pacer) begin(now, anchor time.Time, iv time.Duration) {
	p.iv = iv
	off := now.Sub(anchor) % iv
	if off < 0 {
		off += iv
	}
	p.next = now.Add(iv - off)
}

// take reports whether a tick is due at now and, if so, consumes it: late is
// how late it starts against the schedule (less than maxBehind+1 intervals) and
// shifted how many ticks the schedule skipped first to stay within that.
func (p *pacer) take(now time.Time) (late time.Duration, shifted int, ok bool) {
	late = now.Sub(p.next)
	if late < 0 {
		return 0, 0, false
	}
	if behind := int(late / p.iv); behind > p.maxBehind {
		shifted = behind - p.maxBehind
		p.next = p.next.Add(time.Duration(shifted) * p.iv)
		late -= time.Duration(shifted) * p.iv
	}
	p.next = p.next.Add(p.iv)
	return late, shifted, true
}

// due is how many ticks take would give one after the other at now: at
// most maxBehind+1.
func (p *pacer) due(now time.Time) int {
	late := now.Sub(p.next)
	if late < 0 {
		return 0
	}
	return min(int(late/p.iv)+1, p.maxBehind+1)
}

// wait is how long until the next tick is due (0 if it is).
func (p *pacer) wait(now time.Time) time.Duration { return max(0, p.next.Sub(now)) }

// phaseSlots is how many phases of the tick period a registry spreads its
// rooms over.
const phaseSlots = 64

// phaseTable places rooms at phases of the tick period: each new room takes
// the phase with the least weight (its seats) on it, ties broken in
// bit-reversed order (0, 1/2, 1/4, 3/4, 1/8, ...) so that rooms created one
// after the other halve the largest gap. A room's phase is freed when it
// closes. Guarded by its owner's lock.
type phaseTable struct {
	load [phaseSlots]int
}

// take returns the phase for a room of weight w (a slot in [0, phaseSlots))
// and adds w to it.
func (t *phaseTable) take(w int) int {
	best, bestLoad := 0, -1
	for i := range phaseSlots {
		s := int(bits.Reverse8(uint8(i)) >> (8 - phaseBits))
		if bestLoad < 0 || t.load[s] < bestLoad {
			best, bestLoad = s, t.load[s]
		}
	}
	t.load[best] += w
	return best
}

// put gives back what take(w) returned.
func (t *phaseTable) put(slot, w int) { t.load[slot] -= w }

// phaseBits is log2(phaseSlots).
const phaseBits = 6

// phaseOffset is where slot falls in a period of iv.
func phaseOffset(slot int, iv time.Duration) time.Duration {
	return iv * time.Duration(slot) / phaseSlots
}
