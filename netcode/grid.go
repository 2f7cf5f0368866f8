package netcode

import (
	"math"
	"slices"
)

type cellKey struct{ x, y int32 }

// gridEntry is where an entity is: its cell and its index in the cell.
type gridEntry struct {
	cell cellKey
	i    int32
}

// gridItem is an entity in a cell, its position inline: queries read the
// cells alone.
type gridItem struct {
	x, y float64
	id   uint32
}

// Grid is a uniform spatial hash for interest management: entities by id at
// positions in world units, queried by radius. Cells should be about the
// view radius (a query then touches ~9 cells). Queries (Query,
// QueryNearest) may run at once; anything that moves, adds or removes an
// entity must run alone.
type Grid struct {
	cell  float64
	cells map[cellKey][]gridItem
	ents  map[uint32]gridEntry
	// free holds the slices of cells that emptied, for the next cell
	// entered: entities crossing cells allocate nothing.
	free [][]gridItem
}

// nearEnt is a candidate of QueryNearest: an id and its squared distance.
type nearEnt struct {
	d2 float64
	id uint32
}

func (a nearEnt) before(b nearEnt) bool { return a.d2 < b.d2 || a.d2 == b.d2 && a.id < b.id }

// NewGrid returns a Grid with square cells of cellSize world units (default
// 100 when cellSize <= 0).
func NewGrid(cellSize float64) *Grid {
	if !(cellSize > 0) {
		cellSize = 100
	}
	return &Grid{cell: cellSize, cells: make(map[cellKey][]gridItem), ents: make(map[uint32]gridEntry)}
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
	e, ok := g.ents[id]
	if ok {
		if e.cell == k {
			g.cells[k][e.i] = gridItem{x, y, id}
			return
		}
		g.removeFromCell(e)
	}
	items, ok := g.cells[k]
	if !ok && len(g.free) > 0 {
		items = g.free[len(g.free)-1]
		g.free[len(g.free)-1] = nil
		g.free = g.free[:len(g.free)-1]
	}
	g.ents[id] = gridEntry{k, int32(len(items))}
	g.cells[k] = append(items, gridItem{x, y, id})
}

// Remove deletes entity id (no-op if absent).
func (g *Grid) Remove(id uint32) {
	if e, ok := g.ents[id]; ok {
		g.removeFromCell(e)
		delete(g.ents, id)
	}
}

// removeFromCell takes the entity at e out of its cell, moving the cell's
// last entity into its place.
func (g *Grid) removeFromCell(e gridEntry) {
	items := g.cells[e.cell]
	last := len(items) - 1
	if int(e.i) != last {
		items[e.i] = items[last]
		g.ents[items[e.i].id] = gridEntry{e.cell, e.i}
	}
	items = items[:last]
	if len(items) == 0 {
		delete(g.cells, e.cell)
		if len(g.free) < 64 {
			g.free = append(g.free, items)
		}
		return
	}
	g.cells[e.cell] = items
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
		for _, items := range g.cells {
			for _, e := range items {
				dx, dy := e.x-x, e.y-y
				if dx*dx+dy*dy <= r2 {
					dst = append(dst, e.id)
				}
			}
		}
		slices.Sort(dst[start:])
		return dst
	}
	for cy := lo.y; cy <= hi.y; cy++ {
		for cx := lo.x; cx <= hi.x; cx++ {
			for _, e := range g.cells[cellKey{cx, cy}] {
				dx, dy := e.x-x, e.y-y
				if dx*dx+dy*dy <= r2 {
					dst = append(dst, e.id)
				}
			}
		}
	}
	slices.Sort(dst[start:])
	return dst
}

// QueryNearest appends to dst the ids of the k entities nearest (x, y)
// within distance r (inclusive; equal distances by lower id), in ascending
// id order, and returns the extended slice. k <= 0 is Query. A crowd so
// costs a client no more than k entities in view. It does not allocate for
// k up to 64.
func (g *Grid) QueryNearest(x, y, r float64, k int, dst []uint32) []uint32 {
	if k <= 0 {
		return g.Query(x, y, r, dst)
	}
	if !(r >= 0) {
		return dst
	}
	r2 := r * r
	// The candidates live on the stack (k up to nearOnStack), so queries
	// share no scratch space and may run at once.
	var local [nearOnStack]nearEnt
	near := local[:0]
	if k > nearOnStack {
		near = make([]nearEnt, 0, k)
	}
	consider := func(e gridItem) {
		dx, dy := e.x-x, e.y-y
		c := nearEnt{dx*dx + dy*dy, e.id}
		if c.d2 > r2 {
			return
		}
		switch {
		case len(near) < k:
			near = append(near, c)
		case c.before(near[k-1]):
			near[k-1] = c
		default:
			return
		}
		for i := len(near) - 1; i > 0 && near[i].before(near[i-1]); i-- {
			near[i], near[i-1] = near[i-1], near[i]
		}
	}
	lo, hi := g.key(x-r, y-r), g.key(x+r, y+r)
	if (int64(hi.x)-int64(lo.x)+1)*(int64(hi.y)-int64(lo.y)+1) > int64(len(g.cells)) {
		for _, items := range g.cells {
			for _, e := range items {
				consider(e)
			}
		}
	} else {
		// Rings of cells around the point's cell, nearest first: once k
		// are found no farther than the next ring can be, stop (in a crowd
		// the k nearest are a cell or two away).
		c := g.key(x, y)
		cell := func(cx, cy int32) {
			if cx < lo.x || cx > hi.x || cy < lo.y || cy > hi.y {
				return
			}
			for _, e := range g.cells[cellKey{cx, cy}] {
				consider(e)
			}
		}
		rings := max(c.x-lo.x, hi.x-c.x, c.y-lo.y, hi.y-c.y)
		for ring := int32(0); ring <= rings; ring++ {
			if ring == 0 {
				cell(c.x, c.y)
			} else {
				for dx := -ring; dx <= ring; dx++ {
					cell(c.x+dx, c.y-ring)
					cell(c.x+dx, c.y+ring)
				}
				for dy := -ring + 1; dy <= ring-1; dy++ {
					cell(c.x-ring, c.y+dy)
					cell(c.x+ring, c.y+dy)
				}
			}
			// Every entity of the next ring is at least this far: the
			// point's distance to the edge of the ring just searched.
			fx, fy := x-float64(c.x)*g.cell, y-float64(c.y)*g.cell
			edge := min(fx, g.cell-fx, fy, g.cell-fy) + float64(ring)*g.cell
			if len(near) == k && near[k-1].d2 <= edge*edge {
				break
			}
		}
	}
	start := len(dst)
	for _, c := range near {
		dst = append(dst, c.id)
	}
	slices.Sort(dst[start:])
	return dst
}

// nearOnStack is the largest k for which QueryNearest allocates nothing.
const nearOnStack = 64
