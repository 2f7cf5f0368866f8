package netcode

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/tickwire/tickwire/netcode/internal/randmsg"
	"github.com/tickwire/tickwire/netcode/internal/testpb"
)

// TestCopyIntoRecycled copies random states into a message that held other
// random content (the recycled Replicator snapshot): the copy must be
// proto.Equal to the source and share nothing mutable with it.
func TestCopyIntoRecycled(t *testing.T) {
	var c copier
	for seed := uint64(0); seed < 300; seed++ {
		g := randmsg.New(seed)
		dst := &testpb.TestState{}
		g.Fill(dst.ProtoReflect())
		for round := 0; round < 3; round++ {
			src := &testpb.TestState{}
			g.Fill(src.ProtoReflect())
			if round == 2 {
				// A mutation of the previous content: most keys match.
				src = proto.Clone(dst).(*testpb.TestState)
				g.Mutate(src.ProtoReflect())
			}
			if round == 1 && seed%2 == 0 {
				// Unknown fields are copied too (proto.Equal compares them).
				u := protowire.AppendTag(nil, 9999, protowire.VarintType)
				src.ProtoReflect().SetUnknown(protowire.AppendVarint(u, seed))
			}
			if !c.copyInto(dst, src) {
				t.Fatal("copyInto refused two TestStates")
			}
			if !proto.Equal(dst, src) {
				t.Fatalf("seed %d round %d: copy differs\nsrc %v\ndst %v", seed, round, src, dst)
			}
			want := proto.Clone(dst)
			for range 3 {
				g.Mutate(src.ProtoReflect())
			}
			scribble(src.ProtoReflect())
			if !proto.Equal(dst, want) {
				t.Fatalf("seed %d round %d: mutating the source changed the copy", seed, round)
			}
		}
	}
}

// scribble overwrites, in place, every byte of every bytes value and every
// integer in nested messages of m, to catch a copy that aliases them.
func scribble(m protoreflect.Message) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				scribbleValue(fd, l.Get(i))
			}
		case fd.IsMap():
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				scribbleValue(fd.MapValue(), mv)
				return true
			})
		default:
			scribbleValue(fd, v)
		}
		return true
	})
}

func scribbleValue(fd protoreflect.FieldDescriptor, v protoreflect.Value) {
	switch {
	case fd.Message() != nil:
		sub := v.Message()
		if sub.IsValid() {
			scribble(sub)
			if f := sub.Descriptor().Fields().ByName("x"); f != nil {
				sub.Set(f, protoreflect.ValueOfInt32(int32(sub.Get(f).Int())+12345))
			}
		}
	case fd.Kind() == protoreflect.BytesKind:
		b := v.Bytes()
		for i := range b {
			b[i] ^= 0xa5
		}
	}
}

func TestCopyIntoFallbackAndMismatch(t *testing.T) {
	var c copier
	g := randmsg.New(42)
	md := (&testpb.TestState{}).ProtoReflect().Descriptor()
	for i := 0; i < 50; i++ {
		src := dynamicpb.NewMessage(md)
		g.Fill(src)
		dst := dynamicpb.NewMessage(md)
		g.Fill(dst)
		if !c.copyInto(dst, src) || !proto.Equal(dst, src) {
			t.Fatalf("dynamic message copy differs")
		}
	}
	if c.copyInto(&testpb.World{}, &testpb.TestState{}) {
		t.Fatal("copyInto accepted different types")
	}
	if c.copyInto(dynamicpb.NewMessage(md), &testpb.TestState{}) {
		t.Fatal("copyInto accepted a dynamic message for a generated one")
	}
}

// TestDiffFastPathMatchesReflection checks that the Go-struct fast path of
// the Differ writes the same bytes as the protoreflect path (dynamicpb
// messages of the same schema).
func TestDiffFastPathMatchesReflection(t *testing.T) {
	var d Differ
	md := (&testpb.TestState{}).ProtoReflect().Descriptor()
	toDyn := func(m proto.Message) proto.Message {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		dm := dynamicpb.NewMessage(md)
		if err := proto.Unmarshal(b, dm); err != nil {
			t.Fatal(err)
		}
		return dm
	}
	for seed := uint64(0); seed < 300; seed++ {
		g := randmsg.New(seed)
		base := &testpb.TestState{}
		g.Fill(base.ProtoReflect())
		cur := proto.Clone(base).(*testpb.TestState)
		g.Mutate(cur.ProtoReflect())
		if seed%5 == 0 {
			cur = &testpb.TestState{}
			g.Fill(cur.ProtoReflect())
		}
		fast, err := d.AppendDiff(nil, base, cur)
		if err != nil {
			t.Fatal(err)
		}
		slow, err := d.AppendDiff(nil, toDyn(base), toDyn(cur))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fast, slow) {
			t.Fatalf("seed %d: fast path %x, protoreflect path %x", seed, fast, slow)
		}
	}
}

// TestDiffWorldFastPathMatchesReflection does the same for the
// entity-map shape of game states (map<uint32, Entity>), with entities
// moving, joining and leaving.
func TestDiffWorldFastPathMatchesReflection(t *testing.T) {
	var d Differ
	md := (&testpb.World{}).ProtoReflect().Descriptor()
	toDyn := func(m proto.Message) proto.Message {
		b, _ := proto.Marshal(m)
		dm := dynamicpb.NewMessage(md)
		if err := proto.Unmarshal(b, dm); err != nil {
			t.Fatal(err)
		}
		return dm
	}
	var c copier
	recycled := benchWorld(7)
	base := benchWorld(40)
	for tick := 1; tick < 30; tick++ {
		cur := proto.Clone(base).(*testpb.World)
		move(cur, tick)
		delete(cur.Entities, uint32(tick))
		cur.Entities[uint32(1000+tick)] = &testpb.Entity{X: int32(tick), Name: "new"}
		if tick%7 == 0 {
			cur.Entities = nil
		}
		fast, err := d.AppendDiff(nil, base, cur)
		if err != nil {
			t.Fatal(err)
		}
		slow, err := d.AppendDiff(nil, toDyn(base), toDyn(cur))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fast, slow) {
			t.Fatalf("tick %d: fast path %x, protoreflect path %x", tick, fast, slow)
		}
		// The snapshot copy of the same shape (native map access).
		if !c.copyInto(recycled, cur) || !proto.Equal(recycled, cur) {
			t.Fatalf("tick %d: copy of the world differs", tick)
		}
		want := proto.Clone(recycled)
		if cur.Entities != nil {
			move(cur, tick+1)
			cur.Entities[1] = &testpb.Entity{Name: "replaced"}
			cur = proto.Clone(cur).(*testpb.World)
		}
		if !proto.Equal(recycled, want) {
			t.Fatalf("tick %d: mutating the world changed its copy", tick)
		}
		base = cur
		if base.Entities == nil {
			base = benchWorld(40)
		}
	}
}

// TestReplicatorRecyclesSnapshots commits a changing state for many ticks
// (so snapshots get recycled) and checks every snapshot in the ring stays
// equal to the state it was committed from for History ticks.
func TestReplicatorRecyclesSnapshots(t *testing.T) {
	const history = 4
	r := NewReplicator(ReplicatorConfig{History: history})
	g := randmsg.New(9)
	state := &testpb.TestState{}
	g.Fill(state.ProtoReflect())
	var kept []proto.Message // kept[i]: clone of the state of tick i+1
	var snaps []proto.Message
	for tick := uint32(1); tick <= 40; tick++ {
		g.Mutate(state.ProtoReflect())
		r.Commit(tick, state)
		kept = append(kept, proto.Clone(state))
		_, snap := r.Latest()
		snaps = append(snaps, snap)
		// Steady state: the snapshot evicted one Commit earlier (tick
		// tick-history-1) is the one reused.
		if tick > history+2 && snap != snaps[tick-history-2] {
			t.Fatalf("tick %d: snapshot not recycled", tick)
		}
		for b := tick; b > 0 && tick-b <= history; b-- {
			if !proto.Equal(snaps[b-1], kept[b-1]) {
				t.Fatalf("tick %d: snapshot of tick %d changed", tick, b)
			}
		}
	}
}

// TestViewFastPathMatchesReflection checks ViewFilter.View on a generated
// message (Go struct path) against a dynamicpb message (protoreflect path).
func TestViewFastPathMatchesReflection(t *testing.T) {
	w := benchWorld(50)
	w.Tick = 77
	vf, err := NewViewFilter(w.ProtoReflect().Descriptor(), "entities")
	if err != nil {
		t.Fatal(err)
	}
	dyn := dynamicpb.NewMessage(w.ProtoReflect().Descriptor())
	b, _ := proto.Marshal(w)
	if err := proto.Unmarshal(b, dyn); err != nil {
		t.Fatal(err)
	}
	for _, ids := range [][]uint32{nil, {1}, {3, 999, 7, 50, 1 << 31}, {1000, 2000}} {
		fast, err := vf.View(w, ids)
		if err != nil {
			t.Fatal(err)
		}
		slow, err := vf.View(dyn, ids)
		if err != nil {
			t.Fatal(err)
		}
		fb, _ := proto.MarshalOptions{Deterministic: true}.Marshal(fast)
		sb, _ := proto.MarshalOptions{Deterministic: true}.Marshal(slow)
		if !bytes.Equal(fb, sb) {
			t.Fatalf("ids %v: fast view %x, protoreflect view %x", ids, fb, sb)
		}
		if _, ok := fast.(*testpb.World); !ok {
			t.Fatalf("fast view is %T", fast)
		}
	}
}
