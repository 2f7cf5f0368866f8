package netcode_test

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/tickwire/tickwire/netcode"
	"github.com/tickwire/tickwire/netcode/internal/testpb"
)

func ExampleDiff() {
	base := &testpb.World{Entities: map[uint32]*testpb.Entity{7: {X: 400, Y: 400, Name: "ann"}}}
	cur := proto.Clone(base).(*testpb.World)
	cur.Entities[7].X += 3 // moved right and up
	cur.Entities[7].Y -= 2

	patch, err := netcode.Diff(base, cur)
	if err != nil {
		panic(err)
	}
	fmt.Printf("patch % x\n", patch)

	// The receiver applies the patch to its copy of base.
	if err := netcode.Apply(base, patch); err != nil {
		panic(err)
	}
	fmt.Println(proto.Equal(base, cur))
	// Output:
	// patch 03 00 00 01 07 0f 06 03
	// true
}

func ExampleReplicator() {
	// Room side: commit the state every tick, encode per baseline.
	repl := netcode.NewReplicator(netcode.ReplicatorConfig{})
	state := &testpb.World{Entities: map[uint32]*testpb.Entity{1: {X: 100}}}
	repl.Commit(1, state)
	full, used, _ := repl.Encode(0) // a client with no baseline
	fmt.Println("tick 1 baseline", used, "bytes", len(full))

	state.Entities[1].X += 4
	repl.Commit(2, state)
	patch, used, _ := repl.Encode(1) // clients whose last written frame is tick 1
	again, _, _ := repl.Encode(1)    // shared: encoded once
	fmt.Println("tick 2 baseline", used, "bytes", len(patch), "shared", &patch[0] == &again[0])

	// Client side: apply the frames in order.
	cs := netcode.NewClientStates(func() *testpb.World { return &testpb.World{} }, 0)
	if _, err := cs.Apply(1, 0, full); err != nil {
		panic(err)
	}
	s, err := cs.Apply(2, 1, patch)
	if err != nil {
		panic(err)
	}
	fmt.Println("client x", s.Entities[1].X)
	fmt.Printf("%+v\n", repl.Stats())
	// Output:
	// tick 1 baseline 0 bytes 9
	// tick 2 baseline 1 bytes 7 shared true
	// client x 104
	// {Encodes:2 FullEncodes:1 Patches:1 CacheHits:1}
}

func ExampleLayouts() {
	// Rooms of one type share one Layouts: each room's Replicator (and
	// each player's ViewEncoder) reads the state's Go type layouts there
	// instead of building its own, on whatever goroutine runs the room.
	var layouts netcode.Layouts
	rooms := make([]*netcode.Replicator, 3)
	for i := range rooms {
		rooms[i] = netcode.NewReplicator(netcode.ReplicatorConfig{History: 4, Layouts: &layouts})
	}
	for i, repl := range rooms {
		repl.Commit(1, &testpb.World{Entities: map[uint32]*testpb.Entity{1: {X: int32(100 * i)}}})
		repl.Commit(2, &testpb.World{Entities: map[uint32]*testpb.Entity{1: {X: int32(100*i + 4)}}})
		patch, used, _ := repl.Encode(1)
		fmt.Println("room", i, "patch against", used, "bytes", len(patch))
	}
	// Output:
	// room 0 patch against 1 bytes 7
	// room 1 patch against 1 bytes 7
	// room 2 patch against 1 bytes 7
}
