package netcode

import (
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"testing"
)

// QueryNearest returns exactly the k nearest within r (ties by lower id),
// as a sort of every entity by distance does, for crowds and sparse
// worlds, points inside and outside the world, small and huge radii.
func TestQueryNearestMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tt := range []struct {
		name      string
		n         int
		spread    float64
		cell      float64
		r         float64
		k         int
		integerXY bool // many equal distances
	}{
		{"crowd", 200, 1500, 600, 1200, 16, false},
		{"sparse", 200, 8000, 600, 1200, 16, false},
		{"few in range", 50, 8000, 100, 300, 16, false},
		{"huge radius", 100, 1000, 50, 1e6, 5, false},
		{"ties", 300, 20, 5, 30, 10, true},
		{"k of one", 100, 500, 100, 400, 1, false},
		{"k above the stack's", 300, 1500, 600, 1200, nearOnStack + 36, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := NewGrid(tt.cell)
			pos := map[uint32][2]float64{}
			for id := uint32(1); id <= uint32(tt.n); id++ {
				x, y := rng.Float64()*tt.spread, rng.Float64()*tt.spread
				if tt.integerXY {
					x, y = float64(int(x)), float64(int(y))
				}
				pos[id] = [2]float64{x, y}
				g.Update(id, x, y)
			}
			for range 200 {
				x, y := rng.Float64()*tt.spread*1.2-tt.spread*0.1, rng.Float64()*tt.spread*1.2-tt.spread*0.1
				if tt.integerXY {
					x, y = float64(int(x)), float64(int(y))
				}
				type c struct {
					d2 float64
					id uint32
				}
				var all []c
				for id, p := range pos {
					dx, dy := p[0]-x, p[1]-y
					if d2 := dx*dx + dy*dy; d2 <= tt.r*tt.r {
						all = append(all, c{d2, id})
					}
				}
				sort.Slice(all, func(i, j int) bool { return all[i].d2 < all[j].d2 || all[i].d2 == all[j].d2 && all[i].id < all[j].id })
				var want []uint32
				for _, e := range all[:min(len(all), tt.k)] {
					want = append(want, e.id)
				}
				slices.Sort(want)
				got := g.QueryNearest(x, y, tt.r, tt.k, nil)
				if !slices.Equal(got, want) {
					t.Fatalf("at (%.1f, %.1f): got %v, want %v", x, y, got, want)
				}
			}
		})
	}
}

// Queries share no scratch space: goroutines querying one grid at once
// get what one goroutine gets (run with -race), and a query of up to
// nearOnStack entities allocates nothing.
func TestQueryNearestConcurrent(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	g := NewGrid(600)
	for id := uint32(1); id <= 300; id++ {
		g.Update(id, rng.Float64()*1500, rng.Float64()*1500)
	}
	points := make([][2]float64, 100)
	want := make([][]uint32, len(points))
	for i := range points {
		points[i] = [2]float64{rng.Float64() * 1500, rng.Float64() * 1500}
		want[i] = g.QueryNearest(points[i][0], points[i][1], 1200, 16, nil)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var dst []uint32
			for round := range 20 {
				for i := range points {
					j := (i + w*25 + round) % len(points)
					dst = g.QueryNearest(points[j][0], points[j][1], 1200, 16, dst[:0])
					if !slices.Equal(dst, want[j]) {
						errs <- "concurrent query differs from a lone one"
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if e, ok := <-errs; ok {
		t.Fatal(e)
	}
	dst := make([]uint32, 0, nearOnStack)
	if n := testing.AllocsPerRun(100, func() { dst = g.QueryNearest(700, 700, 1200, nearOnStack, dst[:0]) }); n != 0 {
		t.Fatalf("QueryNearest of %d allocates %.1f times, want 0", nearOnStack, n)
	}
}
