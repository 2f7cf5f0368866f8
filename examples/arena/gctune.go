package main

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// gcTuner keeps the garbage collector's headroom (what the heap may grow
// between two collections) at least headroom bytes, with the GC percent
// never below floor. A fixed percent makes a small heap that allocates fast
// collect often, and the ticks that start during a mark phase start late
// (when the arena still allocated per input and per state payload: a
// collection every ~3 s at 1,000 players, about 1% of ticks in a mark,
// enough alone to set the tick lateness p99). A bigger percent for every
// heap would cost memory where it is scarce: at 3,000 players the floor
// decides. The arena now allocates too little to need it (the default is
// off); a game that allocates a lot per tick may. See docs/performance.md,
// "Tick pacing".
//
// run is its only goroutine; the caller owns it and waits for it.
type gcTuner struct {
	floor    int    // GC percent never below this
	ceiling  int    // nor above this
	headroom uint64 // bytes
	every    time.Duration
}

// percentFor returns the GC percent that gives a live heap of live bytes
// the tuner's headroom.
func (t gcTuner) percentFor(live uint64) int {
	if live == 0 {
		return t.ceiling
	}
	p := t.headroom * 100 / live
	return int(max(uint64(t.floor), min(p, uint64(t.ceiling))))
}

// run sets the GC percent from the live heap every t.every until ctx ends.
func (t gcTuner) run(ctx context.Context) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	last := -1
	tick := time.NewTicker(t.every)
	defer tick.Stop()
	for {
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			// Set only on a change of more than a tenth: each call takes
			// the heap lock.
			if p := t.percentFor(sample[0].Value.Uint64()); last < 0 || p > last+last/10 || p < last-last/10 {
				debug.SetGCPercent(p)
				last = p
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
