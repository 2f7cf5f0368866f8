package netcode

import (
	"bytes"
	"reflect"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tickwire/tickwire/netcode/internal/randmsg"
	"github.com/tickwire/tickwire/netcode/internal/testpb"
)

// TestLayoutsShared: replicators on several goroutines that share one
// Layouts encode exactly what a replicator with its own layouts encodes,
// and the layouts of the state's types are built once, for all of them.
func TestLayoutsShared(t *testing.T) {
	for _, tc := range []struct {
		name  string
		state func() proto.Message
	}{
		{"nested maps, lists and oneofs", func() proto.Message { return &testpb.TestState{} }},
		{"world", func() proto.Message { return benchWorld(20) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var layouts Layouts
			const owners = 6
			shared := make([]*Replicator, owners)
			var wg sync.WaitGroup
			for i := range owners {
				shared[i] = NewReplicator(ReplicatorConfig{History: 4, ReuseBuffers: true, Layouts: &layouts})
				wg.Go(func() {
					// Every goroutine replays the same states: same seed.
					g := randmsg.New(11)
					state := tc.state()
					g.Fill(state.ProtoReflect())
					own := NewReplicator(ReplicatorConfig{History: 4, ReuseBuffers: true})
					for tick := uint32(1); tick <= 40; tick++ {
						g.Mutate(state.ProtoReflect())
						shared[i].Commit(tick, state)
						own.Commit(tick, state)
						for _, baseline := range []uint32{0, tick - 1, tick - 3} {
							got, used, err := shared[i].Encode(baseline)
							if err != nil {
								t.Error(err)
								return
							}
							want, wantUsed, err := own.Encode(baseline)
							if err != nil {
								t.Error(err)
								return
							}
							if used != wantUsed || !bytes.Equal(got, want) {
								t.Errorf("owner %d tick %d baseline %d: shared layouts encode %x (baseline %d), own %x (baseline %d)", i, tick, baseline, got, used, want, wantUsed)
								return
							}
						}
					}
				})
			}
			wg.Wait()

			if layouts.len() == 0 {
				t.Fatal("the shared Layouts holds no layout")
			}
			typ := reflect.TypeOf(tc.state())
			md := tc.state().ProtoReflect().Descriptor()
			first := shared[0].differ.types.byType(typ, md)
			for i, r := range shared {
				if r.differ.types.m != nil || r.copier.types.m != nil {
					t.Errorf("owner %d built layouts of its own", i)
				}
				if gs := r.copier.types.byType(typ, md); gs != first {
					t.Errorf("owner %d: a layout of its own for %v", i, typ)
				}
			}
			if !first.ok {
				t.Errorf("%v: the fast paths do not apply", typ)
			}
		})
	}
}

// A Layouts built by one owner gives the next the same layouts without
// building again, and a type it has not met is added beside them.
func TestLayoutsGrow(t *testing.T) {
	var l Layouts
	world := reflect.TypeOf(&testpb.World{})
	a := l.byType(world, (&testpb.World{}).ProtoReflect().Descriptor())
	n := l.len() // World and Entity
	if n != 2 {
		t.Fatalf("%d layouts after World, want 2 (World, Entity)", n)
	}
	if b := l.byType(world, (&testpb.World{}).ProtoReflect().Descriptor()); b != a || l.len() != n {
		t.Fatalf("a second lookup built again: %p %p, %d layouts", a, b, l.len())
	}
	l.byType(reflect.TypeOf(&testpb.TestState{}), (&testpb.TestState{}).ProtoReflect().Descriptor())
	if l.len() <= n {
		t.Fatalf("%d layouts after TestState, want more than %d", l.len(), n)
	}
	if c := l.byType(world, (&testpb.World{}).ProtoReflect().Descriptor()); c != a {
		t.Fatal("World's layout changed when another type was added")
	}
}
