package netcode

import (
	"math/rand/v2"
	"slices"
	"sort"
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
