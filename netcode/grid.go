package netcode

import (
	"math"
	"slices"
)

type cellKey struct{ x, y int32 }

type gridEntry struct {
	x, y float64
	cell cellKey
}

// Grid is a uniform spatial hash for interest management: entities by id at
// positions in world units, queried by radius. Cells should be about the
// view radius (a query then touches ~9 cells). Not safe for concurrent use.
type Grid struct {
	cell  float64
	cells map[cellKey][]uint32
	ents  map[uint32]gridEntry
}

// NewGrid returns a Grid with square cells of cellSize world units (default
// 100 when cellSize <= 0).
func NewGrid(cellSize float64) *Grid {
	if !(cellSize > 0) {
		cellSize = 100
	}
	return &Grid{cell: cellSize, cells: make(map[cellKey][]uint32), ents: make(map[uint32]gridEntry)}
}

func (g *Grid) key(x, y float64) cellKey {
	return cellKey{clampCell(x / g.cell), clampCell(y / g.cell)}
}

func clampCell(v float64) int32 {
	switch {
	case v != v:
		return 0
	case v < -1<<30:
		return -1 << 30
	case v > 1<<30:
		return 1 << 30
	}
	return int32(math.Floor(v))
}

// Update inserts or moves entity id to (x, y).
func (g *Grid) Update(id uint32, x, y float64) {
	k := g.key(x, y)
	if e, ok := g.ents[id]; ok {
		if e.cell == k {
			g.ents[id] = gridEntry{x, y, k}
			return
		}
		g.removeFromCell(e.cell, id)
	}
	g.ents[id] = gridEntry{x, y, k}
	g.cells[k] = append(g.cells[k], id)
}

// Remove deletes entity id (no-op if absent).
func (g *Grid) Remove(id uint32) {
	if e, ok := g.ents[id]; ok {
		g.removeFromCell(e.cell, id)
		delete(g.ents, id)
	}
}

func (g *Grid) removeFromCell(k cellKey, id uint32) {
	ids := g.cells[k]
	if i := slices.Index(ids, id); i >= 0 {
		ids[i] = ids[len(ids)-1]
		ids = ids[:len(ids)-1]
	}
	if len(ids) == 0 {
		delete(g.cells, k)
		return
	}
	g.cells[k] = ids
}

// Len returns the number of entities.
func (g *Grid) Len() int { return len(g.ents) }

// Query appends to dst the ids of entities within distance r of (x, y)
// (inclusive), in ascending id order, and returns the extended slice.
func (g *Grid) Query(x, y, r float64, dst []uint32) []uint32 {
	if !(r >= 0) {
		return dst
	}
	lo, hi := g.key(x-r, y-r), g.key(x+r, y+r)
	start := len(dst)
	r2 := r * r
	if (int64(hi.x)-int64(lo.x)+1)*(int64(hi.y)-int64(lo.y)+1) > int64(len(g.cells)) {
		// Huge radius: scanning every entity is cheaper than every cell.
		for id, e := range g.ents {
			dx, dy := e.x-x, e.y-y
			if dx*dx+dy*dy <= r2 {
				dst = append(dst, id)
			}
		}
		slices.Sort(dst[start:])
		return dst
	}
	for cy := lo.y; cy <= hi.y; cy++ {
		for cx := lo.x; cx <= hi.x; cx++ {
			for _, id := range g.cells[cellKey{cx, cy}] {
				e := g.ents[id]
				dx, dy := e.x-x, e.y-y
				if dx*dx+dy*dy <= r2 {
					dst = append(dst, id)
				}
			}
		}
	}
	slices.Sort(dst[start:])
	return dst
}
