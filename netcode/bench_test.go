package netcode

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tickwire/tickwire/netcode/internal/testpb"
)

// world returns an arena-like state with n entities spread over a
// 1600x900 world (quarter units).
func benchWorld(n int) *testpb.World {
	w := &testpb.World{Entities: make(map[uint32]*testpb.Entity, n), Tick: 1}
	for i := 1; i <= n; i++ {
		score := uint32(i % 7)
		w.Entities[uint32(i)] = &testpb.Entity{X: int32(i*97%6400) + 64, Y: int32(i*53%3600) + 64, Name: fmt.Sprintf("player%d", i), Score: &score, Hue: uint32(i * 37 % 360)}
	}
	return w
}

// move advances every entity by a small step, like one tick of play.
func move(w *testpb.World, tick int) {
	w.Tick++
	for id, e := range w.Entities {
		e.X += int32((int(id)+tick)%97) - 48
		e.Y += int32((int(id)*3+tick)%97) - 48
	}
}

func BenchmarkDiff(b *testing.B) {
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("entities=%d", n), func(b *testing.B) {
			base := benchWorld(n)
			cur := proto.Clone(base).(*testpb.World)
			move(cur, 1)
			var d Differ
			buf := make([]byte, 0, 4096)
			b.ReportAllocs()
			var size int
			for b.Loop() {
				out, err := d.AppendDiff(buf[:0], base, cur)
				if err != nil {
					b.Fatal(err)
				}
				size = len(out)
			}
			full, _ := proto.Marshal(cur)
			b.ReportMetric(float64(size), "patch-bytes")
			b.ReportMetric(float64(len(full)), "full-bytes")
		})
	}
}

func BenchmarkApply(b *testing.B) {
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("entities=%d", n), func(b *testing.B) { benchApply(b, n, Apply) })
		var ap Applier
		b.Run(fmt.Sprintf("applier/entities=%d", n), func(b *testing.B) { benchApply(b, n, ap.Apply) })
	}
}

func benchApply(b *testing.B, n int, apply func(proto.Message, []byte) error) {
	base := benchWorld(n)
	cur := proto.Clone(base).(*testpb.World)
	move(cur, 1)
	patch, _ := Diff(base, cur)
	// Alternate two states so each Apply patches a real baseline
	// without cloning inside the loop.
	a := proto.Clone(base).(*testpb.World)
	back, _ := Diff(cur, base)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p := patch
		if i%2 == 1 {
			p = back
		}
		if err := apply(a, p); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkReplicatorTick is one room tick for 10 clients sharing a
// baseline: Commit (snapshot clone) plus one patch encode and 9 cache hits.
// With reuse, payload memory is reused across ticks (ReuseBuffers).
func BenchmarkReplicatorTick(b *testing.B) {
	for _, reuse := range []bool{false, true} {
		b.Run(fmt.Sprintf("reuse=%v", reuse), func(b *testing.B) {
			w := benchWorld(10)
			r := NewReplicator(ReplicatorConfig{ReuseBuffers: reuse})
			tick := uint32(1)
			r.Commit(tick, w)
			b.ReportAllocs()
			for b.Loop() {
				tick++
				move(w, int(tick))
				r.Commit(tick, w)
				for c := 0; c < 10; c++ {
					if _, _, err := r.Encode(tick - 1); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkCommit is Replicator.Commit alone (the snapshot copy) for
// worlds of 10, 100 and 1,000 moving entities.
func BenchmarkCommit(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("entities=%d", n), func(b *testing.B) {
			w := benchWorld(n)
			r := NewReplicator(ReplicatorConfig{})
			tick := uint32(0)
			b.ReportAllocs()
			for b.Loop() {
				tick++
				w.Tick = tick
				w.Entities[uint32(tick%uint32(n))+1].X++
				r.Commit(tick, w)
			}
		})
	}
}

// BenchmarkInterest is the 1,000-entity case: per client per tick, a grid
// query of radius ~50 entities, the filtered view, and its patch against the
// client's previous view.
func BenchmarkInterest(b *testing.B) {
	const n = 1000
	w := benchWorld(n)
	g := NewGrid(400)
	for id, e := range w.Entities {
		g.Update(id, float64(e.X), float64(e.Y))
	}
	vf, err := NewViewFilter(w.ProtoReflect().Descriptor(), "entities")
	if err != nil {
		b.Fatal(err)
	}
	r := NewReplicator(ReplicatorConfig{})
	ve := NewViewEncoder(vf, ViewEncoderConfig{})
	tick := uint32(1)
	r.Commit(tick, w)
	const radius = 570 // ~50 entities in view at this density
	var ids []uint32
	me := w.Entities[500]
	viewSize, patchSize := 0, 0
	encode := func() {
		ids = g.Query(float64(me.X), float64(me.Y), radius, ids[:0])
		_, snap := r.Latest()
		p, _, err := ve.Encode(tick, snap, ids, tick-1)
		if err != nil {
			b.Fatal(err)
		}
		viewSize, patchSize = len(ids), len(p)
	}
	encode()
	b.Run("per-client", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			// Room work is outside the per-client figure: advance a tick
			// only every 100 iterations would skew it, so commit each time
			// but stop the timer.
			b.StopTimer()
			tick++
			move(w, int(tick))
			for id, e := range w.Entities {
				g.Update(id, float64(e.X), float64(e.Y))
			}
			r.Commit(tick, w)
			b.StartTimer()
			encode()
		}
		b.ReportMetric(float64(viewSize), "entities-in-view")
		b.ReportMetric(float64(patchSize), "patch-bytes")
	})
}

func BenchmarkGridUpdateQuery(b *testing.B) {
	w := benchWorld(1000)
	g := NewGrid(400)
	var ids []uint32
	b.ReportAllocs()
	tick := 0
	for b.Loop() {
		tick++
		for id, e := range w.Entities {
			g.Update(id, float64(e.X)+float64(tick%3), float64(e.Y))
		}
		ids = g.Query(3200, 1800, 570, ids[:0])
	}
}
