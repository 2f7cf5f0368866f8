package netcode

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tickwire/tickwire/netcode/internal/testpb"
)

func TestFlatLayouts(t *testing.T) {
	var g goTypes
	tests := []struct {
		msg  proto.Message
		flat bool
	}{
		{&testpb.Dot{}, true},
		{&testpb.Entity{}, false}, // string and optional fields
		{&testpb.Leaf{}, false},
		{&testpb.Dots{}, false}, // a map
		{&testpb.World{}, false},
	}
	for _, tt := range tests {
		gs := g.byType(reflect.TypeOf(tt.msg), tt.msg.ProtoReflect().Descriptor())
		if got := gs.ok && gs.flatHi != 0; got != tt.flat {
			t.Errorf("%T: flat = %v, want %v", tt.msg, got, tt.flat)
		}
	}
}

// randomDot changes some fields of d. (Not to -0: patches do not carry a
// change between +0 and -0 of a float without presence, with or without
// the flat fast path.)
func randomDot(r *rand.Rand, d *testpb.Dot) {
	switch r.IntN(7) {
	case 0:
		d.X = r.Int32N(200) - 100
	case 1:
		d.On = !d.On
	case 2:
		d.W = []float64{0, 0.5, 1.5, -3}[r.IntN(4)]
	case 3:
		d.V = r.Uint32N(4)
	case 4:
		d.C = testpb.Color(r.IntN(4))
	case 5:
		d.F = []float32{0, -1, 2.25}[r.IntN(3)]
	}
	// case 6: unchanged
}

// Flat map values take the block compare in Diff and the block copy in
// Commit: patches must still carry exactly the changes, and snapshots must
// equal their source.
func TestFlatEntriesDiffApplyAndCopy(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var c copier
	snap := &testpb.Dots{}
	base := &testpb.Dots{Dots: map[uint32]*testpb.Dot{}}
	for id := range uint32(20) {
		base.Dots[id] = &testpb.Dot{X: int32(id)}
	}
	for round := range 2000 {
		cur := proto.Clone(base).(*testpb.Dots)
		for id, d := range cur.Dots {
			switch r.IntN(10) {
			case 0:
				delete(cur.Dots, id)
			case 1, 2, 3:
				randomDot(r, d)
			}
		}
		if r.IntN(3) == 0 {
			if cur.Dots == nil {
				cur.Dots = map[uint32]*testpb.Dot{}
			}
			cur.Dots[uint32(20+r.IntN(20))] = &testpb.Dot{V: 7, On: true}
		}
		patch, err := Diff(base, cur)
		if err != nil {
			t.Fatal(err)
		}
		got := proto.Clone(base).(*testpb.Dots)
		if err := Apply(got, patch); err != nil {
			t.Fatalf("round %d: apply: %v", round, err)
		}
		for id, want := range cur.Dots {
			d := got.Dots[id]
			if !proto.Equal(d, want) {
				t.Fatalf("round %d: dot %d = %v, want %v", round, id, d, want)
			}
		}
		if len(got.Dots) != len(cur.Dots) {
			t.Fatalf("round %d: %d dots, want %d", round, len(got.Dots), len(cur.Dots))
		}
		if !c.copyInto(snap, cur) {
			t.Fatal("copyInto refused a generated message")
		}
		if !proto.Equal(snap, cur) {
			t.Fatalf("round %d: copy %v != %v", round, snap, cur)
		}
		for id, d := range snap.Dots { // and bit for bit
			if w := cur.Dots[id]; math.Float64bits(d.W) != math.Float64bits(w.W) || math.Float32bits(d.F) != math.Float32bits(w.F) {
				t.Fatalf("round %d: copy of dot %d = %v, want %v", round, id, d, w)
			}
		}
		base = cur
	}
	// An unchanged state patches to the empty patch.
	same, err := Diff(base, proto.Clone(base))
	if err != nil {
		t.Fatal(err)
	}
	empty, _ := Diff(&testpb.Dots{}, &testpb.Dots{})
	if len(same) != len(empty) {
		t.Errorf("patch of an unchanged world is %d bytes (%x), want %d", len(same), same, len(empty))
	}
	// The copy shares nothing with its source.
	for _, d := range base.Dots {
		d.X += 1000
	}
	for id, d := range snap.Dots {
		if d.X >= 1000-200 && base.Dots[id].X == d.X {
			t.Fatalf("snapshot dot %d changed with its source", id)
		}
	}
}

// BenchmarkDiffFlatEntries: 20 entries of a flat message, 2 of them changed
// (like the arena's pickups beside its moving players).
func BenchmarkDiffFlatEntries(b *testing.B) {
	base := &testpb.Dots{Dots: map[uint32]*testpb.Dot{}}
	for id := range uint32(20) {
		base.Dots[id] = &testpb.Dot{X: int32(id), V: id, W: 1.5, On: true}
	}
	cur := proto.Clone(base).(*testpb.Dots)
	cur.Dots[3].X++
	cur.Dots[11].W = 2
	var d Differ
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = d.AppendDiff(buf[:0], base, cur); err != nil {
			b.Fatal(err)
		}
	}
}
