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
	slices.Sort(v)
	c.scratch = v
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
