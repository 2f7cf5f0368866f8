// Package randmsg fills and mutates protobuf messages with random values by
// reflection, for netcode's property tests, fuzz targets and golden vectors.
// Floats are always finite (never NaN), so proto.Equal is reflexive on its
// output.
package randmsg

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Gen is a seeded random message generator. Not safe for concurrent use.
type Gen struct {
	R *rand.Rand
	// MaxDepth bounds message nesting below the top level (default 3).
	MaxDepth int
}

// New returns a generator seeded with seed.
func New(seed uint64) *Gen {
	return &Gen{R: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), MaxDepth: 3}
}

// Fill sets a random subset of m's fields to random values.
func (g *Gen) Fill(m protoreflect.Message) { g.fill(m, 0) }

func (g *Gen) fill(m protoreflect.Message, depth int) {
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if g.R.IntN(2) == 0 {
			continue
		}
		g.setField(m, fd, depth)
	}
}

func (g *Gen) setField(m protoreflect.Message, fd protoreflect.FieldDescriptor, depth int) {
	isMsg := fd.Message() != nil && !fd.IsMap()
	if (isMsg || (fd.IsMap() && fd.MapValue().Message() != nil)) && depth >= g.MaxDepth {
		return
	}
	switch {
	case fd.IsList():
		l := m.Mutable(fd).List()
		l.Truncate(0)
		n := g.R.IntN(5)
		for j := 0; j < n; j++ {
			if isMsg {
				v := l.NewElement()
				g.fill(v.Message(), depth+1)
				l.Append(v)
			} else {
				l.Append(g.Scalar(fd))
			}
		}
	case fd.IsMap():
		mp := m.Mutable(fd).Map()
		n := g.R.IntN(6)
		for j := 0; j < n; j++ {
			g.setMapEntry(mp, fd, g.Scalar(fd.MapKey()).MapKey(), depth)
		}
	case isMsg:
		v := m.NewField(fd)
		g.fill(v.Message(), depth+1)
		m.Set(fd, v)
	default:
		m.Set(fd, g.Scalar(fd))
	}
}

func (g *Gen) setMapEntry(mp protoreflect.Map, fd protoreflect.FieldDescriptor, k protoreflect.MapKey, depth int) {
	if fd.MapValue().Message() != nil {
		v := mp.NewValue()
		g.fill(v.Message(), depth+1)
		mp.Set(k, v)
		return
	}
	mp.Set(k, g.Scalar(fd.MapValue()))
}

func (g *Gen) intVal() int64 {
	switch g.R.IntN(6) {
	case 0:
		return 0
	case 1:
		return int64(g.R.IntN(200)) - 100
	case 2:
		return int64(g.R.Uint64())
	case 3:
		return []int64{math.MaxInt32, math.MinInt32, math.MaxInt64, math.MinInt64, -1, math.MaxUint32}[g.R.IntN(6)]
	default:
		return int64(g.R.IntN(1 << 20))
	}
}

// Scalar returns a random value of fd's scalar kind.
func (g *Gen) Scalar(fd protoreflect.FieldDescriptor) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(g.R.IntN(2) == 0)
	case protoreflect.EnumKind:
		vals := fd.Enum().Values()
		return protoreflect.ValueOfEnum(vals.Get(g.R.IntN(vals.Len())).Number())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(g.intVal()))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(g.intVal())
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(g.intVal()))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(uint64(g.intVal()))
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(g.floatVal(fd)))
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(g.floatVal(fd))
	case protoreflect.StringKind:
		const alpha = "abcxyz_é世"
		rs := []rune(alpha)
		n := g.R.IntN(8)
		out := make([]rune, n)
		for i := range out {
			out[i] = rs[g.R.IntN(len(rs))]
		}
		return protoreflect.ValueOfString(string(out))
	case protoreflect.BytesKind:
		b := make([]byte, g.R.IntN(8))
		for i := range b {
			b[i] = byte(g.R.Uint32())
		}
		return protoreflect.ValueOfBytes(b)
	}
	panic("randmsg: unsupported scalar kind " + fd.Kind().String())
}

// floatVal never returns -0 for implicit-presence fields: proto.Clone and
// proto.Merge drop it there, so a clone would not be proto.Equal.
func (g *Gen) floatVal(fd protoreflect.FieldDescriptor) float64 {
	switch g.R.IntN(5) {
	case 0:
		return 0
	case 1:
		if !fd.HasPresence() {
			return 0
		}
		return math.Copysign(0, -1)
	case 2:
		return math.Inf(1 - 2*g.R.IntN(2))
	default:
		return (g.R.Float64() - 0.5) * 1000
	}
}

// Mutate changes m the way a game state changes between ticks: each field is
// left alone, cleared, replaced, nudged (integers by a small delta) or, for
// messages and maps, mutated recursively (entries removed, added, changed).
func (g *Gen) Mutate(m protoreflect.Message) { g.mutate(m, 0) }

func (g *Gen) mutate(m protoreflect.Message, depth int) {
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		switch g.R.IntN(8) {
		case 0:
			m.Clear(fd)
		case 1:
			g.setField(m, fd, depth)
		case 2, 3:
			g.nudge(m, fd, depth)
		}
	}
}

func (g *Gen) nudge(m protoreflect.Message, fd protoreflect.FieldDescriptor, depth int) {
	if !m.Has(fd) || fd.IsList() {
		return
	}
	switch {
	case fd.IsMap():
		mp := m.Mutable(fd).Map()
		var keys []protoreflect.MapKey
		mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
			keys = append(keys, k)
			return true
		})
		// Map iteration order is random; sort for reproducible output.
		slices.SortFunc(keys, func(a, b protoreflect.MapKey) int {
			return strings.Compare(fmt.Sprint(a.Interface()), fmt.Sprint(b.Interface()))
		})
		for _, k := range keys {
			switch g.R.IntN(4) {
			case 0:
				mp.Clear(k)
			case 1:
				if fd.MapValue().Message() != nil {
					g.mutate(mp.Mutable(k).Message(), depth+1)
				} else if v, ok := g.nudged(fd.MapValue(), mp.Get(k)); ok {
					mp.Set(k, v)
				} else {
					mp.Set(k, g.Scalar(fd.MapValue()))
				}
			}
		}
		if g.R.IntN(2) == 0 {
			g.setMapEntry(mp, fd, g.Scalar(fd.MapKey()).MapKey(), depth)
		}
	case fd.Message() != nil:
		g.mutate(m.Mutable(fd).Message(), depth+1)
	default:
		if v, ok := g.nudged(fd, m.Get(fd)); ok {
			m.Set(fd, v)
		}
	}
}

func (g *Gen) nudged(fd protoreflect.FieldDescriptor, v protoreflect.Value) (protoreflect.Value, bool) {
	d := int64(g.R.IntN(21)) - 10
	if g.R.IntN(10) == 0 {
		d = int64(g.R.Uint64())
	}
	switch fd.Kind() {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(v.Int()) + int32(d)), true
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(v.Int() + d), true
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(v.Uint()) + uint32(d)), true
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(v.Uint() + uint64(d)), true
	}
	return protoreflect.Value{}, false
}
