package engine

import (
	"io"
	"testing"
	"time"

	"github.com/tickwire/tickwire/internal/roomrt"
)

var benchTick = roomrt.TickTimes{Lateness: 50 * time.Microsecond, Total: 300 * time.Microsecond,
	Polled: true, Read: 100 * time.Microsecond, Rules: 50 * time.Microsecond, State: 80 * time.Microsecond, Write: 60 * time.Microsecond}

// The per-tick and per-message observer calls: what the room goroutines
// pay for metrics on the hot path.
func BenchmarkMetricsObserveTick(b *testing.B) {
	m := newMetrics()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveTick("arena", benchTick)
		}
	})
}

func BenchmarkMetricsStateEncoded(b *testing.B) {
	m := newMetrics()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.StateEncoded("arena", false, 120)
		}
	})
}

func BenchmarkMetricsInputDropped(b *testing.B) {
	m := newMetrics()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.InputDropped("arena", "rate")
		}
	})
}

// A scrape of a node with a few room types, drop reasons and close codes.
func BenchmarkMetricsScrape(b *testing.B) {
	m := newMetrics()
	for _, t := range []string{"arena", "lobby", "duel"} {
		m.RoomOpened(t)
		m.InputDropped(t, "rate")
	}
	m.closed(1000)
	m.closed(1008)
	for range 1000 {
		m.ObserveTick("arena", benchTick)
	}
	b.ReportAllocs()
	for b.Loop() {
		m.WritePrometheus(io.Discard)
	}
}
