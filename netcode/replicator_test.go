package netcode

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tickwire/tickwire/netcode/internal/testpb"
)

func TestReplicator(t *testing.T) {
	for _, reuse := range []bool{false, true} {
		t.Run(fmt.Sprintf("reuse=%v", reuse), func(t *testing.T) { testReplicator(t, reuse) })
	}
}

func testReplicator(t *testing.T, reuse bool) {
	r := NewReplicator(ReplicatorConfig{History: 4, ReuseBuffers: reuse})
	if _, _, err := r.Encode(0); !errors.Is(err, ErrNoState) {
		t.Fatalf("Encode before Commit: %v", err)
	}
	w := &testpb.World{Entities: map[uint32]*testpb.Entity{1: {X: 1000, Name: "a"}}}
	cs := NewClientStates(func() *testpb.World { return &testpb.World{} }, 8)
	for tick := uint32(1); tick <= 10; tick++ {
		w.Tick = tick
		w.Entities[1].X += 3
		r.Commit(tick, w)
		w.Entities[1].Y = 99 // mutation after Commit must not leak into the snapshot
		if _, snap := r.Latest(); snap.(*testpb.World).Entities[1].Y == 99 {
			t.Fatal("Commit did not copy the state")
		}
		w.Entities[1].Y = 0
		// Baselines: none, the previous tick (one-tick delta), two back
		// (a client with a queued frame), and one aged out of the ring.
		for _, baseline := range []uint32{0, tick - 1, tick - 2, tick - 5} {
			if baseline > tick {
				continue
			}
			p1, used, err := r.Encode(baseline)
			if err != nil {
				t.Fatal(err)
			}
			wantUsed := baseline
			if !r.Has(baseline) {
				wantUsed = 0
			}
			if used != wantUsed {
				t.Fatalf("tick %d baseline %d: used %d, want %d", tick, baseline, used, wantUsed)
			}
			p2, _, _ := r.Encode(baseline)
			if &p1[0] != &p2[0] {
				t.Fatal("second Encode for the same baseline did not share the payload")
			}
			if wantUsed != 0 && !cs.has(used) {
				continue
			}
			got, err := cs.Apply(tick, used, p1)
			if err != nil {
				t.Fatalf("tick %d baseline %d: %v", tick, used, err)
			}
			if !proto.Equal(got, w) {
				t.Fatalf("tick %d baseline %d: client has %v, want %v", tick, used, got, w)
			}
		}
	}
	st := r.Stats()
	if st.Encodes != st.FullEncodes+st.Patches || st.CacheHits < st.Encodes || st.Patches == 0 || st.FullEncodes == 0 {
		t.Fatalf("stats %+v", st)
	}
	if r.Has(5) || !r.Has(9) || r.Has(0) {
		t.Fatal("Has disagrees with a 4-tick ring")
	}
}

// With ReuseBuffers a room that commits and encodes patches every tick
// allocates nothing: the payloads of the tick before the last Commit are
// reused. (A full encoding still allocates inside protobuf's deterministic
// map ordering; rooms send those only on joins and resyncs.)
func TestReplicatorReuseBuffers(t *testing.T) {
	w := &testpb.World{Entities: map[uint32]*testpb.Entity{1: {X: 1000, Name: "a"}, 2: {X: 5}}}
	r := NewReplicator(ReplicatorConfig{History: 4, ReuseBuffers: true})
	tick := uint32(0)
	step := func() {
		tick++
		w.Entities[1].X += 3
		r.Commit(tick, w)
		for _, baseline := range []uint32{tick - 1, tick - 2} {
			if _, _, err := r.Encode(baseline); err != nil {
				t.Fatal(err)
			}
		}
	}
	for range 10 { // past History: snapshots are recycled too
		step()
	}
	if n := testing.AllocsPerRun(100, step); n != 0 {
		t.Fatalf("%.1f allocations per tick, want 0", n)
	}
}

func (c *ClientStates[T]) has(tick uint32) bool { _, ok := c.Get(tick); return ok }

func TestClientStatesErrors(t *testing.T) {
	cs := NewClientStates(func() *testpb.World { return &testpb.World{} }, 4)
	if _, err := cs.Apply(5, 4, []byte{0}); !errors.Is(err, ErrUnknownBaseline) {
		t.Fatalf("err = %v", err)
	}
	if _, err := cs.Apply(5, 0, []byte{0xff}); !errors.Is(err, ErrMalformedPatch) {
		t.Fatalf("err = %v", err)
	}
	full, _ := proto.Marshal(&testpb.World{Tick: 1})
	if _, err := cs.Apply(1, 0, full); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Apply(2, 1, []byte{0x03, 0x02}); !errors.Is(err, ErrMalformedPatch) {
		t.Fatalf("patch of absent map: %v", err)
	}
	if s, _ := cs.Get(1); s.Tick != 1 {
		t.Fatal("a failed Apply changed the kept baseline")
	}
	if cs.Latest() != 1 {
		t.Fatalf("Latest = %d", cs.Latest())
	}
}

func TestViewEncoder(t *testing.T) {
	vf, err := NewViewFilter((&testpb.World{}).ProtoReflect().Descriptor(), "entities")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewViewFilter((&testpb.World{}).ProtoReflect().Descriptor(), "tick"); !errors.Is(err, ErrTypeMismatch) {
		t.Fatalf("non-map field: %v", err)
	}
	state := &testpb.World{Tick: 1, Entities: map[uint32]*testpb.Entity{1: {X: 1}, 2: {X: 2}, 3: {X: 3}}}
	ve := NewViewEncoder(vf, ViewEncoderConfig{})
	cs := NewClientStates(func() *testpb.World { return &testpb.World{} }, 8)
	steps := []struct {
		ids      []uint32
		baseline uint32
		wantUsed uint32
	}{
		{[]uint32{1, 2}, 0, 0},
		{[]uint32{1, 2}, 1, 1},
		{[]uint32{2, 3}, 2, 2}, // 1 leaves, 3 enters
		{[]uint32{2, 3, 9}, 2, 2},
		{nil, 4, 4},
		{[]uint32{3}, 77, 0}, // unknown baseline: full
	}
	for i, s := range steps {
		tick := uint32(i + 1)
		snap := proto.Clone(state).(*testpb.World)
		snap.Tick = tick
		view, err := vf.View(snap, s.ids)
		if err != nil {
			t.Fatal(err)
		}
		want := proto.Clone(view)
		payload, used, err := ve.Encode(tick, snap, s.ids, s.baseline)
		if err != nil || used != s.wantUsed {
			t.Fatalf("step %d: used %d err %v, want used %d", i, used, err, s.wantUsed)
		}
		if i == 2 && !bytes.Contains(payload, []byte{0x01, 0x01, 0x01, 0x03}) {
			t.Fatalf("step 2 patch %x: want entity 1 removed and 3 added", payload)
		}
		got, err := cs.Apply(tick, used, payload)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("step %d: got %v want %v", i, got, want)
		}
		if !ve.Has(tick) {
			t.Fatal("view not kept")
		}
	}
}
