// Package golden lists the delta golden-vector cases (base and current
// TestState pairs). internal/goldengen writes them to netcode/testdata/golden.
package golden

import (
	"math"

	"google.golang.org/protobuf/proto"

	"github.com/tickwire/tickwire/netcode/internal/randmsg"
	pb "github.com/tickwire/tickwire/netcode/internal/testpb"
)

// Case is one golden vector.
type Case struct {
	Name      string
	Base, Cur *pb.TestState
}

func p[T any](v T) *T { return &v }

func world(n int, dx int32) *pb.World {
	w := &pb.World{Entities: map[uint32]*pb.Entity{}, Tick: 100}
	for i := 1; i <= n; i++ {
		w.Entities[uint32(i)] = &pb.Entity{X: int32(i*40) + dx, Y: int32(i*25) - dx, Name: "p", Score: p(uint32(i)), Hue: uint32(i * 30)}
	}
	return w
}

// Cases returns the golden cases; the output is the same on every call.
func Cases() []Case {
	all := &pb.TestState{I32: -5, I64: -1 << 40, U32: 7, U64: 1 << 50, S32: -3, S64: 1 << 45, F32: 9, F64: 10,
		Sf32: -11, Sf64: -12, Fl: 1.5, Db: -2.25, B: true, Color: pb.Color_COLOR_NEGATIVE, Str: "héllo", Byt: []byte{0, 1, 255}}
	inner := func() *pb.Inner {
		return &pb.Inner{X: 10, Y: -10, Score: p(uint32(0)), Leaf: &pb.Leaf{V: 5, Label: "leaf", F: p(float32(0.5)), H: 77, C: pb.Color_COLOR_BLUE},
			Tags: []uint32{1, 2}, Named: map[string]*pb.Leaf{"a": {V: 1}, "b": {V: 2}}, Name: "in"}
	}
	maps := func() *pb.TestState {
		return &pb.TestState{
			MStrI32:   map[string]int32{"a": 1000, "b": 2, "zz": -7},
			MI32Inner: map[int32]*pb.Inner{-1: {X: 1}, 5: inner()},
			MBoolStr:  map[bool]string{false: "no", true: "yes"},
			MU64Byt:   map[uint64][]byte{1: {1}, math.MaxUint64: {2}},
			MS32Leaf:  map[int32]*pb.Leaf{-100: {V: 1}, 100: {Label: "x"}},
			MStrInner: map[string]*pb.Inner{"": {Y: 3}, "k": {X: 4}},
			MF32Db:    map[uint32]float64{3: 0.25},
			MI64Color: map[int64]pb.Color{math.MinInt64: pb.Color_COLOR_RED},
			MSf64S64:  map[int64]int64{-3: 100000, 4: -100000},
		}
	}
	cs := []Case{
		{"empty", &pb.TestState{}, &pb.TestState{}},
		{"unchanged", all, all},
		{"set all implicit scalars", &pb.TestState{}, all},
		{"clear all implicit scalars", all, &pb.TestState{}},
		{"patch int32 positive", &pb.TestState{I32: 1000}, &pb.TestState{I32: 1003}},
		{"patch int32 negative delta", &pb.TestState{I32: 1000}, &pb.TestState{I32: 990}},
		{"patch int32 wraparound", &pb.TestState{I32: math.MaxInt32}, &pb.TestState{I32: math.MinInt32}},
		{"patch uint32 wraparound", &pb.TestState{U32: 1}, &pb.TestState{U32: math.MaxUint32}},
		{"patch uint64 wraparound", &pb.TestState{U64: math.MaxUint64}, &pb.TestState{U64: 2}},
		{"patch every integer kind", &pb.TestState{I64: -1 << 40, S32: 5000, S64: -1 << 41, F32: 1 << 20, F64: 1 << 40, Sf32: -1 << 20, Sf64: 1 << 40},
			&pb.TestState{I64: -1<<40 - 3, S32: 5003, S64: -1<<41 + 60, F32: 1<<20 - 1, F64: 1<<40 + 1, Sf32: -1<<20 + 1, Sf64: 1<<40 - 100}},
		{"int set when delta not smaller", &pb.TestState{I32: 1, U64: 5}, &pb.TestState{I32: 2, U64: 1 << 60}},
		{"negative int32 set", &pb.TestState{}, &pb.TestState{I32: -1, OptI32: p(int32(-2))}},
		{"set optional zeros", &pb.TestState{}, &pb.TestState{OptI32: p(int32(0)), OptU64: p(uint64(0)), OptB: p(false), OptStr: p(""), OptByt: []byte{}, OptDb: p(0.0), OptColor: p(pb.Color_COLOR_UNSPECIFIED)}},
		{"clear optionals", &pb.TestState{OptI32: p(int32(0)), OptS32: p(int32(9)), OptSf64: p(int64(1)), OptStr: p("x")}, &pb.TestState{}},
		{"patch optional", &pb.TestState{OptS32: p(int32(100000)), OptU64: p(uint64(1 << 33))}, &pb.TestState{OptS32: p(int32(99999)), OptU64: p(uint64(1<<33 + 7))}},
		{"floats and doubles", &pb.TestState{Fl: 1, Db: 2, OptDb: p(3.0)}, &pb.TestState{Fl: float32(math.Inf(-1)), Db: 2.5, OptDb: p(math.Copysign(0, -1))}},
		{"strings bytes enums", &pb.TestState{Str: "a", Byt: []byte{1}, Color: pb.Color_COLOR_RED, B: true}, &pb.TestState{Str: "世界", Byt: []byte{2, 3}, Color: pb.Color_COLOR_NEGATIVE}},
		{"nested set", &pb.TestState{}, &pb.TestState{Inner: inner(), Leaf: &pb.Leaf{}}},
		{"nested clear", &pb.TestState{Inner: inner(), Leaf: &pb.Leaf{}}, &pb.TestState{}},
		{"nested patch two levels", &pb.TestState{Inner: inner()}, func() *pb.TestState {
			in := inner()
			in.X = 1000
			in.Leaf.V = 6
			in.Leaf.F = nil
			in.Named["b"].V = 3
			return &pb.TestState{Inner: in}
		}()},
		{"nested empty message set", &pb.TestState{}, &pb.TestState{Leaf: &pb.Leaf{}}},
		{"map set whole", &pb.TestState{}, maps()},
		{"map clear", maps(), &pb.TestState{}},
		{"map remove", maps(), func() *pb.TestState {
			m := maps()
			delete(m.MStrI32, "b")
			delete(m.MI32Inner, -1)
			delete(m.MBoolStr, false)
			delete(m.MU64Byt, math.MaxUint64)
			return m
		}()},
		{"map add", maps(), func() *pb.TestState {
			m := maps()
			m.MStrI32["c"] = 3
			m.MI32Inner[6] = &pb.Inner{}
			m.MS32Leaf[0] = &pb.Leaf{V: -1}
			m.MI64Color[math.MaxInt64] = pb.Color_COLOR_BLUE
			return m
		}()},
		{"map patch values", maps(), func() *pb.TestState {
			m := maps()
			m.MStrI32["a"] = 1001
			m.MStrI32["zz"] = 1 << 30
			m.MI32Inner[5].Leaf.Label = "changed"
			m.MI32Inner[5].Named["c"] = &pb.Leaf{}
			m.MStrInner[""].Y = -3
			m.MSf64S64[-3] = 100001
			m.MF32Db[3] = 0.5
			m.MBoolStr[true] = "YES"
			m.MI64Color[math.MinInt64] = pb.Color_COLOR_GREEN
			return m
		}()},
		{"map replaced entirely", &pb.TestState{MStrI32: map[string]int32{"a": 1}}, &pb.TestState{MStrI32: map[string]int32{"b": 1}}},
		{"map remove set patch together", maps(), func() *pb.TestState {
			m := maps()
			delete(m.MStrInner, "k")
			m.MStrInner["new"] = &pb.Inner{Name: "n"}
			m.MStrInner[""].X = 1
			return m
		}()},
		{"oneof set scalar", &pb.TestState{}, &pb.TestState{Choice: &pb.TestState_ChoiceI32{ChoiceI32: 0}}},
		{"oneof switch scalar to message", &pb.TestState{Choice: &pb.TestState_ChoiceI32{ChoiceI32: 4}}, &pb.TestState{Choice: &pb.TestState_ChoiceInner{ChoiceInner: inner()}}},
		{"oneof switch message to string", &pb.TestState{Choice: &pb.TestState_ChoiceInner{ChoiceInner: inner()}}, &pb.TestState{Choice: &pb.TestState_ChoiceStr{ChoiceStr: "s"}}},
		{"oneof switch message to message", &pb.TestState{Choice: &pb.TestState_ChoiceLeaf{ChoiceLeaf: &pb.Leaf{V: 1}}}, &pb.TestState{Choice: &pb.TestState_ChoiceInner{ChoiceInner: &pb.Inner{}}}},
		{"oneof patch same member", &pb.TestState{Choice: &pb.TestState_ChoiceLeaf{ChoiceLeaf: &pb.Leaf{V: 1000}}}, &pb.TestState{Choice: &pb.TestState_ChoiceLeaf{ChoiceLeaf: &pb.Leaf{V: 1001}}}},
		{"oneof clear", &pb.TestState{Choice: &pb.TestState_ChoiceStr{ChoiceStr: "s"}}, &pb.TestState{}},
		{"repeated replace", &pb.TestState{RI32: []int32{1, 2, 3}, RStr: []string{"a"}, RDb: []float64{1}}, &pb.TestState{RI32: []int32{1, 2, 4}, RStr: []string{"a", "b"}, RDb: []float64{1}, RColor: []pb.Color{pb.Color_COLOR_NEGATIVE}, RS64: []int64{-1}, RF32: []uint32{7}, RByt: [][]byte{{}, {1}}}},
		{"repeated clear", &pb.TestState{RI32: []int32{1}, RInner: []*pb.Inner{{}}}, &pb.TestState{}},
		{"repeated messages", &pb.TestState{RInner: []*pb.Inner{{X: 1}}}, &pb.TestState{RInner: []*pb.Inner{{X: 2}, inner()}}},
		{"arena move", &pb.TestState{World: world(10, 0)}, &pb.TestState{World: world(10, 3)}},
		{"arena enter leave score", &pb.TestState{World: world(3, 0)}, func() *pb.TestState {
			w := world(4, 0)
			delete(w.Entities, 2)
			w.Entities[1].Score = p(uint32(6))
			w.Entities[3].Score = nil
			w.Tick++
			return &pb.TestState{World: w}
		}()},
		{"field numbers out of declaration order", &pb.TestState{LateFl: 1, Early: 1}, &pb.TestState{LateFl: 2, Early: 1 << 20}},
	}
	g := randmsg.New(2024)
	for i := 0; i < 8; i++ {
		base := &pb.TestState{}
		g.Fill(base.ProtoReflect())
		cur := proto.Clone(base).(*pb.TestState)
		g.Mutate(cur.ProtoReflect())
		cs = append(cs, Case{"random mutation", base, cur})
	}
	for i := 0; i < 2; i++ {
		base, cur := &pb.TestState{}, &pb.TestState{}
		g.Fill(base.ProtoReflect())
		g.Fill(cur.ProtoReflect())
		cs = append(cs, Case{"random pair", base, cur})
	}
	return cs
}
