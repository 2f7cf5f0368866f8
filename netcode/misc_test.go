package netcode

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestClockSync(t *testing.T) {
	ms := time.Millisecond
	epoch := time.Unix(1_700_000_000, 0)
	// The server clock is the client clock + epoch + 5 s.
	trueOffset := time.Duration(epoch.UnixNano()) + 5*time.Second
	type sample struct{ send, rtt, skew time.Duration } // skew: asymmetric delay error
	tests := []struct {
		name       string
		samples    []sample
		wantRTT    time.Duration
		wantOffErr time.Duration // max |offset error|
		ready      bool
	}{
		{"steady", []sample{{0, 50 * ms, 0}, {100 * ms, 50 * ms, 0}, {200 * ms, 50 * ms, 0}}, 50 * ms, 0, true},
		{"not ready", []sample{{0, 50 * ms, 0}, {100 * ms, 52 * ms, 0}}, 51 * ms, 0, false},
		{"retransmit spikes rejected", []sample{
			{0, 50 * ms, 0}, {100 * ms, 400 * ms, 150 * ms}, {200 * ms, 52 * ms, 0}, {300 * ms, 48 * ms, 0},
			{400 * ms, 350 * ms, -100 * ms}, {500 * ms, 51 * ms, 0}, {600 * ms, 900 * ms, 400 * ms},
		}, 50500 * time.Microsecond, 0, true},
		{"negative rtt ignored", []sample{{100 * ms, -5 * ms, 0}, {0, 30 * ms, 0}, {10 * ms, 30 * ms, 0}, {20 * ms, 30 * ms, 0}}, 30 * ms, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewClockSync(ClockSyncConfig{})
			for _, s := range tc.samples {
				// Server handles the ping halfway (plus skew).
				server := time.Unix(0, int64(trueOffset+s.send+s.rtt/2+s.skew))
				c.AddSample(s.send, s.send+s.rtt, server)
			}
			if c.Ready() != tc.ready {
				t.Fatalf("Ready = %v", c.Ready())
			}
			if c.RTT() != tc.wantRTT {
				t.Fatalf("RTT = %v, want %v", c.RTT(), tc.wantRTT)
			}
			if d := c.Offset() - trueOffset; d < -tc.wantOffErr || d > tc.wantOffErr {
				t.Fatalf("offset error %v", d)
			}
			now := time.Second
			if got := c.ServerNow(now); !got.Equal(time.Unix(0, int64(trueOffset+now))) {
				t.Fatalf("ServerNow = %v", got)
			}
		})
	}
	if !NewClockSync(ClockSyncConfig{}).ServerNow(0).IsZero() {
		t.Fatal("ServerNow before samples")
	}
}

func TestLagHistory(t *testing.T) {
	h := NewLagHistory(LagHistoryConfig{TickRate: 10}) // 10 ticks kept
	if got := h.Rewind(3, nil); len(got) != 0 {
		t.Fatal("Rewind on empty history")
	}
	for tick := uint32(1); tick <= 15; tick++ {
		pos := []EntityPos{{ID: 2, Pos: Vec2{float64(tick) * 10, 0}}, {ID: 1, Pos: Vec2{0, float64(tick)}}}
		if tick == 13 {
			pos = pos[:1] // entity 1 absent at tick 13
		}
		h.Record(tick, pos)
	}
	if o, _ := h.Oldest(); o != 6 {
		t.Fatalf("Oldest = %d, want 6", o)
	}
	tests := []struct {
		t    float64
		want []EntityPos
	}{
		{10, []EntityPos{{1, Vec2{0, 10}}, {2, Vec2{100, 0}}}},
		{10.25, []EntityPos{{1, Vec2{0, 10.25}}, {2, Vec2{102.5, 0}}}},
		{12.5, []EntityPos{{1, Vec2{0, 12}}, {2, Vec2{125, 0}}}}, // 1 missing at 13: keeps 12
		{13.5, []EntityPos{{2, Vec2{135, 0}}}},                   // 1 absent at 13
		{2, []EntityPos{{1, Vec2{0, 6}}, {2, Vec2{60, 0}}}},      // clamps to oldest
		{99, []EntityPos{{1, Vec2{0, 15}}, {2, Vec2{150, 0}}}},   // clamps to newest
		{math.NaN(), []EntityPos{{1, Vec2{0, 6}}, {2, Vec2{60, 0}}}},
	}
	for _, tc := range tests {
		got := h.Rewind(tc.t, nil)
		if !slices.Equal(got, tc.want) {
			t.Fatalf("Rewind(%v) = %v, want %v", tc.t, got, tc.want)
		}
		for _, w := range tc.want {
			if p, ok := h.Position(w.ID, tc.t); !ok || p != w.Pos {
				t.Fatalf("Position(%d, %v) = %v %v, want %v", w.ID, tc.t, p, ok, w.Pos)
			}
		}
	}
	if _, ok := h.Position(3, 10); ok {
		t.Fatal("Position of unknown entity")
	}
}

func TestCommandTick(t *testing.T) {
	tests := []struct {
		tick            uint32
		rate            int
		latency, interp time.Duration
		want            float64
	}{
		{100, 20, 100 * time.Millisecond, 100 * time.Millisecond, 96},
		{100, 60, 25 * time.Millisecond, 0, 98.5},
		{1, 20, time.Second, 0, 0},
	}
	for _, tc := range tests {
		if got := CommandTick(tc.tick, tc.rate, tc.latency, tc.interp); math.Abs(got-tc.want) > 1e-9 {
			t.Fatalf("CommandTick(%+v) = %v", tc, got)
		}
	}
}

func TestGridMatchesBruteForce(t *testing.T) {
	g := NewGrid(50)
	r := rand.New(rand.NewPCG(1, 2))
	pos := map[uint32]Vec2{}
	for i := 0; i < 3000; i++ {
		id := uint32(r.IntN(300))
		if r.IntN(10) == 0 {
			g.Remove(id)
			delete(pos, id)
			continue
		}
		p := Vec2{r.Float64()*1000 - 500, r.Float64()*1000 - 500}
		g.Update(id, p.X, p.Y)
		pos[id] = p
		if i%50 != 0 {
			continue
		}
		qx, qy, qr := r.Float64()*1000-500, r.Float64()*1000-500, r.Float64()*200
		if i%500 == 0 {
			qr = 1e12 // huge radius path
		}
		var want []uint32
		for id, p := range pos {
			if (p.X-qx)*(p.X-qx)+(p.Y-qy)*(p.Y-qy) <= qr*qr {
				want = append(want, id)
			}
		}
		slices.Sort(want)
		got := g.Query(qx, qy, qr, nil)
		if !slices.Equal(got, want) {
			t.Fatalf("Query(%v,%v,%v) = %v, want %v", qx, qy, qr, got, want)
		}
		// The k nearest of them (ties by lower id).
		slices.SortFunc(want, func(a, b uint32) int {
			da := (pos[a].X-qx)*(pos[a].X-qx) + (pos[a].Y-qy)*(pos[a].Y-qy)
			db := (pos[b].X-qx)*(pos[b].X-qx) + (pos[b].Y-qy)*(pos[b].Y-qy)
			if da != db {
				return cmp.Compare(da, db)
			}
			return cmp.Compare(a, b)
		})
		want = want[:min(len(want), 7)]
		slices.Sort(want)
		if got := g.QueryNearest(qx, qy, qr, 7, nil); !slices.Equal(got, want) {
			t.Fatalf("QueryNearest(%v,%v,%v,7) = %v, want %v", qx, qy, qr, got, want)
		}
	}
	if g.Len() != len(pos) {
		t.Fatalf("Len %d, want %d", g.Len(), len(pos))
	}
	if got := g.Query(0, 0, math.NaN(), nil); len(got) != 0 {
		t.Fatal("NaN radius")
	}
}

func TestQuantize(t *testing.T) {
	tests := []struct {
		v, step float64
		want    int32
	}{
		{1.25, 0.25, 5},
		{-1.25, 0.25, -5},
		{0.125, 0.25, 1}, // half away from zero
		{-0.125, 0.25, -1},
		{0.1, 0.25, 0},
		{1e20, 0.01, math.MaxInt32},
		{-1e20, 0.01, math.MinInt32},
		{math.NaN(), 1, 0},
		{math.Inf(1), 1, math.MaxInt32},
	}
	for _, tc := range tests {
		if got := Quantize(tc.v, tc.step); got != tc.want {
			t.Fatalf("Quantize(%v, %v) = %d, want %d", tc.v, tc.step, got, tc.want)
		}
	}
	for _, v := range []float64{0, 3.3, -812.77, 1599.9} {
		if d := Dequantize(Quantize(v, 0.25), 0.25) - v; math.Abs(d) > 0.125 {
			t.Fatalf("round trip of %v off by %v", v, d)
		}
	}
}
