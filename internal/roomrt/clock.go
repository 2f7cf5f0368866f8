package roomrt

import (
	"sort"
	"sync"
	"time"
)

// Clock is the time source of a room's tick loop. Implementations must be
// safe for concurrent use. Tests use ManualClock to drive ticks
// deterministically.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer from a Clock, like time.Timer.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
	Reset(d time.Duration)
}

// SystemClock returns the wall clock.
func SystemClock() Clock { return systemClock{} }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }
func (systemClock) NewTimer(d time.Duration) Timer {
	return &systemTimer{t: time.NewTimer(d)}
}

type systemTimer struct{ t *time.Timer }

func (s *systemTimer) C() <-chan time.Time   { return s.t.C }
func (s *systemTimer) Stop() bool            { return s.t.Stop() }
func (s *systemTimer) Reset(d time.Duration) { s.t.Reset(d) }

// ManualClock is a Clock that only moves when Advance is called. It is safe
// for concurrent use.
type ManualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*manualTimer
}

// NewManualClock returns a ManualClock set to start.
func NewManualClock(start time.Time) *ManualClock { return &ManualClock{now: start} }

// Now returns the clock's time.
func (m *ManualClock) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// NewTimer returns a timer that fires when the clock reaches now+d.
func (m *ManualClock) NewTimer(d time.Duration) Timer {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := &manualTimer{clock: m, c: make(chan time.Time, 1)}
	t.arm(m.now.Add(d))
	m.timers = append(m.timers, t)
	m.fireLocked()
	return t
}

// Advance moves the clock forward by d and fires every timer that is due.
func (m *ManualClock) Advance(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = m.now.Add(d)
	m.fireLocked()
}

// Timers returns how many timers are armed (for tests that wait for a room
// to be ready before advancing).
func (m *ManualClock) Timers() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, t := range m.timers {
		if t.armed {
			n++
		}
	}
	return n
}

func (m *ManualClock) fireLocked() {
	sort.SliceStable(m.timers, func(i, j int) bool { return m.timers[i].when.Before(m.timers[j].when) })
	for _, t := range m.timers {
		if t.armed && !t.when.After(m.now) {
			t.armed = false
			select {
			case t.c <- m.now:
			default:
			}
		}
	}
}

type manualTimer struct {
	clock *ManualClock
	c     chan time.Time
	when  time.Time
	armed bool
}

func (t *manualTimer) arm(when time.Time) { t.when, t.armed = when, true }

func (t *manualTimer) C() <-chan time.Time { return t.c }

func (t *manualTimer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	was := t.armed
	t.armed = false
	return was
}

func (t *manualTimer) Reset(d time.Duration) {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	// Drain a stale fire so the next receive sees the new deadline only.
	select {
	case <-t.c:
	default:
	}
	t.arm(t.clock.now.Add(d))
	t.clock.fireLocked()
}
