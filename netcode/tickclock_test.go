package netcode

import (
	"testing"
	"time"
)

const ms = time.Millisecond

func TestTickClockOrigin(t *testing.T) {
	tests := []struct {
		name     string
		arrivals []time.Duration // arrival of tick i+10
		want     time.Duration
	}{
		{"one", []time.Duration{503 * ms}, 3 * ms},
		{"jitter is filtered", []time.Duration{503 * ms, 560 * ms, 603 * ms, 690 * ms, 703 * ms}, 3 * ms},
		{"even count takes the mid-point", []time.Duration{500 * ms, 554 * ms}, 2 * ms},
		{"one late frame does not move it", []time.Duration{503 * ms, 553 * ms, 603 * ms, 1400 * ms, 703 * ms}, 3 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewTickClock(50*ms, TickClockConfig{})
			if c.Ready() {
				t.Fatal("ready before any arrival")
			}
			for i, a := range tt.arrivals {
				c.Observe(uint32(10+i), a)
			}
			if got := c.Origin(); got != tt.want {
				t.Fatalf("Origin = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTickClockResync(t *testing.T) {
	c := NewTickClock(50*ms, TickClockConfig{Resync: 100 * ms, ResyncAfter: 3})
	for i := range 10 {
		c.Observe(uint32(i), time.Duration(i)*50*ms+5*ms)
	}
	// The timeline moves by 300 ms for good: two jumps are ignored, the
	// third restarts the window.
	for i := 10; i < 13; i++ {
		c.Observe(uint32(i), time.Duration(i)*50*ms+305*ms)
		want := 5 * ms
		if i == 12 {
			want = 305 * ms
		}
		if got := c.Origin(); got != want {
			t.Fatalf("after tick %d: Origin = %v, want %v", i, got, want)
		}
	}
	if c.Resyncs() != 1 {
		t.Fatalf("Resyncs = %d, want 1", c.Resyncs())
	}
	c.Reset(100 * ms)
	if c.Ready() || c.Interval() != 100*ms {
		t.Fatalf("after Reset: ready %v, interval %v", c.Ready(), c.Interval())
	}
}

func TestTickClockNextSend(t *testing.T) {
	// Tick k's state arrives at 7 ms + k × 50 ms.
	c := NewTickClock(50*ms, TickClockConfig{})
	if _, ok := c.NextSend(0, 0, 0); ok {
		t.Fatal("NextSend ready before any arrival")
	}
	for k := range 20 {
		c.Observe(uint32(100+k), time.Duration(100+k)*50*ms+7*ms)
	}
	tests := []struct {
		name           string
		now, rtt, lead time.Duration
		want           time.Duration
	}{
		{"lead only", 6000 * ms, 0, 20 * ms, 6037 * ms},
		{"rtt and lead", 6000 * ms, 4 * ms, 20 * ms, 6033 * ms},
		{"strictly after now", 6037 * ms, 0, 20 * ms, 6087 * ms},
		{"just before", 6036 * ms, 0, 20 * ms, 6037 * ms},
		{"lead over a tick", 6000 * ms, 0, 70 * ms, 6037 * ms},
		{"now before the origin", -1000 * ms, 0, 0, -993 * ms},
		{"now before the origin, on a send time", -993 * ms, 0, 0, -943 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := c.NextSend(tt.now, tt.rtt, tt.lead)
			if !ok || got != tt.want {
				t.Fatalf("NextSend(%v, %v, %v) = %v, %v; want %v", tt.now, tt.rtt, tt.lead, got, ok, tt.want)
			}
			if got <= tt.now || got > tt.now+c.Interval() {
				t.Fatalf("NextSend = %v not in (now, now+interval]", got)
			}
		})
	}
}

func BenchmarkTickClockObserve(b *testing.B) {
	c := NewTickClock(50*ms, TickClockConfig{})
	b.ReportAllocs()
	for i := range b.N {
		c.Observe(uint32(i), time.Duration(i)*50*ms+time.Duration(i%7)*ms)
		if i%20 == 0 {
			c.Origin()
		}
	}
}
