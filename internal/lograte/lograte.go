// Package lograte limits how often a repeated event is logged: one line
// per interval, standing for every event since the previous line.
package lograte

import "time"

// DefaultInterval is the interval of a zero Limiter.
const DefaultInterval = 10 * time.Second

// Limiter lets the first event through, then at most one per Interval,
// and counts the events in between so the next line can say how many it
// stands for. The zero value is ready to use. It is not safe for
// concurrent use: one goroutine (a room's) owns it.
type Limiter struct {
	// Interval between two lines; DefaultInterval when zero.
	Interval time.Duration

	last   time.Time
	logged bool
	events int // events since the last line
	sum    int // their amounts
}

// Add records an event of amount n (ticks skipped, say) at now. When ok,
// the caller logs one line for events events of total amount sum, this
// one included; otherwise the event is kept for a later line.
func (l *Limiter) Add(now time.Time, n int) (events, sum int, ok bool) {
	l.events++
	l.sum += n
	every := l.Interval
	if every <= 0 {
		every = DefaultInterval
	}
	if l.logged && now.Sub(l.last) < every {
		return 0, 0, false
	}
	events, sum = l.Flush()
	l.last, l.logged = now, true
	return events, sum, true
}

// Flush returns the events recorded since the last line and forgets them,
// for a last line when the owner stops. events is 0 when there are none.
func (l *Limiter) Flush() (events, sum int) {
	events, sum = l.events, l.sum
	l.events, l.sum = 0, 0
	return events, sum
}
