package netcode

import (
	"slices"
	"time"
)

// ClockSyncConfig configures a ClockSync. The zero value is usable.
type ClockSyncConfig struct {
	// Samples is the number of most recent samples kept (default 16).
	Samples int
	// MinSamples is how many samples Ready needs (default 3).
	MinSamples int
	// OutlierFactor and OutlierSlack reject samples whose RTT exceeds
	// min RTT × OutlierFactor + OutlierSlack (defaults 1.5 and 5 ms): a
	// ping delayed by a TCP retransmit or a stalled tab measures a long RTT
	// and an asymmetric, wrong offset.
	OutlierFactor float64
	OutlierSlack  time.Duration
}

type clockSample struct {
	rtt, offset time.Duration
}

// ClockSync estimates round-trip time and the server clock from ping/pong
// samples. Client times are durations on the client's monotonic clock (for
// example time.Since(start)); the server time is its wall clock when it
// handled the ping. Each sample gives rtt = recv - send and offset = server
// time - (send + recv)/2, assuming symmetric paths. Of the last Samples
// samples, those whose RTT is far above the minimum are discarded; RTT and
// Offset are the medians of the rest.
//
// Not safe for concurrent use.
type ClockSync struct {
	cfg     ClockSyncConfig
	samples []clockSample // ring
	next    int
	n       int
	rtt     time.Duration
	offset  time.Duration
	scratch []time.Duration
}

// NewClockSync returns a ClockSync with cfg's defaults applied.
func NewClockSync(cfg ClockSyncConfig) *ClockSync {
	if cfg.Samples <= 0 {
		cfg.Samples = 16
	}
	if cfg.MinSamples <= 0 {
		cfg.MinSamples = 3
	}
	if cfg.OutlierFactor <= 0 {
		cfg.OutlierFactor = 1.5
	}
	if cfg.OutlierSlack <= 0 {
		cfg.OutlierSlack = 5 * time.Millisecond
	}
	return &ClockSync{cfg: cfg, samples: make([]clockSample, cfg.Samples), scratch: make([]time.Duration, 0, cfg.Samples)}
}

// AddSample records one ping/pong exchange: clientSend and clientRecv on
// the client's clock, serverTime the server's clock when it answered. When
// the server held the ping before answering (Pong.hold_ms), pass clientSend
// plus the hold: the round trip then excludes it and the offset stays
// right. Samples with clientRecv before clientSend are ignored.
func (c *ClockSync) AddSample(clientSend, clientRecv time.Duration, serverTime time.Time) {
	rtt := clientRecv - clientSend
	if rtt < 0 {
		return
	}
	off := time.Duration(serverTime.UnixNano()) - (clientSend + rtt/2)
	c.samples[c.next] = clockSample{rtt: rtt, offset: off}
	c.next = (c.next + 1) % len(c.samples)
	if c.n < len(c.samples) {
		c.n++
	}
	c.update()
}

func (c *ClockSync) update() {
	minRTT := c.samples[0].rtt
	for _, s := range c.samples[:c.n] {
		minRTT = min(minRTT, s.rtt)
	}
	limit := time.Duration(float64(minRTT)*c.cfg.OutlierFactor) + c.cfg.OutlierSlack
	c.rtt = c.median(limit, func(s clockSample) time.Duration { return s.rtt })
	c.offset = c.median(limit, func(s clockSample) time.Duration { return s.offset })
}

func (c *ClockSync) median(limit time.Duration, f func(clockSample) time.Duration) time.Duration {
	v := c.scratch[:0]
	for _, s := range c.samples[:c.n] {
		if s.rtt <= limit {
			v = append(v, f(s))
		}
	}
	c.scratch = v
	return sortedMedian(v)
}

// sortedMedian sorts v in place and returns its median (the mid-point of
// the two middle values for an even count). v must not be empty.
func sortedMedian(v []time.Duration) time.Duration {
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return v[len(v)/2-1] + (v[len(v)/2]-v[len(v)/2-1])/2
}

// Ready reports whether enough samples have arrived for the estimates.
func (c *ClockSync) Ready() bool { return c.n >= c.cfg.MinSamples }

// RTT returns the round-trip time estimate (0 before the first sample).
func (c *ClockSync) RTT() time.Duration { return c.rtt }

// Offset returns the estimated server wall clock (since the Unix epoch)
// minus the client's monotonic clock.
func (c *ClockSync) Offset() time.Duration { return c.offset }

// ServerNow estimates the server's wall clock at client time clientNow
// (zero time.Time before the first sample).
func (c *ClockSync) ServerNow(clientNow time.Duration) time.Time {
	if c.n == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(c.offset+clientNow))
}

// TickClockConfig configures a TickClock. The zero value is usable.
type TickClockConfig struct {
	// Window is the number of most recent arrivals kept (default 40: 2 s
	// at 20 Hz).
	Window int
	// Resync and ResyncAfter: an arrival more than Resync (default 250 ms)
	// off the current estimate counts as a jump; after ResyncAfter
	// (default 3) jumps in a row the window restarts from the new arrivals
	// (the room moved, the process stalled, the server restarted). A single
	// late frame does not move the estimate.
	Resync      time.Duration
	ResyncAfter int
}

// TickClock maps the client's clock onto the server's tick timeline as
// received here, from the arrival times of state frames: the state of
// tick t arriving at a is a sample of the origin a - t × interval (the
// arrival time of tick 0); the estimate is the median of the window, so
// frames delayed by jitter or a busy reader do not pull it. It is the Go
// twin of the browser SDK's TickClock.
//
// Client times are durations on the client's monotonic clock (for example
// time.Since(start)), as for ClockSync. Observe is cheap (the median is
// computed when the estimate is read), so a process running thousands of
// clients can feed every state frame.
//
// Not safe for concurrent use.
type TickClock struct {
	cfg      TickClockConfig
	interval time.Duration
	origins  []time.Duration // ring
	next, n  int
	fresh    int // arrivals since the estimate was computed
	origin   time.Duration
	jumps    int
	resyncs  int
	scratch  []time.Duration
}

// NewTickClock returns a TickClock for ticks of the given interval, with
// cfg's defaults applied. It panics if interval is not positive.
func NewTickClock(interval time.Duration, cfg TickClockConfig) *TickClock {
	if interval <= 0 {
		panic("netcode: NewTickClock: interval must be positive")
	}
	if cfg.Window <= 0 {
		cfg.Window = 40
	}
	if cfg.Resync <= 0 {
		cfg.Resync = 250 * time.Millisecond
	}
	if cfg.ResyncAfter <= 0 {
		cfg.ResyncAfter = 3
	}
	return &TickClock{cfg: cfg, interval: interval, origins: make([]time.Duration, cfg.Window), scratch: make([]time.Duration, 0, cfg.Window)}
}

// Interval returns the tick interval.
func (c *TickClock) Interval() time.Duration { return c.interval }

// Reset forgets every arrival and sets the tick interval (a new room, a
// tick-rate change); interval <= 0 keeps the current one.
func (c *TickClock) Reset(interval time.Duration) {
	if interval > 0 {
		c.interval = interval
	}
	c.n, c.next, c.fresh, c.jumps, c.origin = 0, 0, 0, 0, 0
}

// Observe records that the state of tick arrived at client time arrival.
func (c *TickClock) Observe(tick uint32, arrival time.Duration) {
	o := arrival - time.Duration(tick)*c.interval
	if c.n > 0 {
		// Compare with the last estimate; recompute it only once a quarter
		// of the window is new, so Observe does not sort on every frame.
		ref := c.origin
		if c.fresh >= max(1, len(c.origins)/4) {
			ref = c.Origin()
		}
		if d := o - ref; d > c.cfg.Resync || d < -c.cfg.Resync {
			if c.jumps++; c.jumps < c.cfg.ResyncAfter {
				return
			}
			c.n, c.next, c.jumps = 0, 0, 0
			c.resyncs++
		} else {
			c.jumps = 0
		}
	}
	c.origins[c.next] = o
	c.next = (c.next + 1) % len(c.origins)
	if c.n < len(c.origins) {
		c.n++
	}
	if c.n == 1 {
		c.origin, c.fresh = o, 0
		return
	}
	c.fresh++
}

// Ready reports whether at least one state has been observed.
func (c *TickClock) Ready() bool { return c.n > 0 }

// Resyncs returns how many times the window restarted after a lasting jump.
func (c *TickClock) Resyncs() int { return c.resyncs }

// Origin returns the estimated arrival time of tick 0 (0 before Ready).
func (c *TickClock) Origin() time.Duration {
	if c.fresh > 0 {
		c.scratch = append(c.scratch[:0], c.origins[:c.n]...)
		c.origin = sortedMedian(c.scratch)
		c.fresh = 0
	}
	return c.origin
}

// TickAt returns the (fractional) tick being received at client time now.
func (c *TickClock) TickAt(now time.Duration) float64 {
	return float64(now-c.Origin()) / float64(c.interval)
}

// NextSend returns the first client time after now at which an input sent
// reaches the server lead before one of its ticks, and whether the clock is
// Ready. The state of tick k arrives at Origin + k × interval, which
// includes the one-way delay down; the server ran tick k about rtt/2
// earlier, and an input takes about rtt/2 up. So the send time for tick k
// is Origin + k × interval - rtt - lead.
//
// A room reads its players' sockets at the start of each tick, so an input
// that arrives just before it waits least: sending on this timeline cuts
// the input's wait at the server from half a tick on average to about
// lead. It also lets TCP carry each side's acknowledgement on its next
// frame instead of a separate delayed ACK. lead should cover the jitter of
// the path up (a few ms on a LAN, 10-20 ms over the Internet).
func (c *TickClock) NextSend(now, rtt, lead time.Duration) (time.Duration, bool) {
	if c.n == 0 {
		return 0, false
	}
	base := c.Origin() - rtt - lead
	k := (now - base) / c.interval
	t := base + k*c.interval
	for t <= now {
		t += c.interval
	}
	return t, true
}
