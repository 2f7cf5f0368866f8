package cluster_test

import (
	"context"
	"fmt"

	"github.com/tickwire/tickwire/engine/cluster"
)

// A single node with the in-memory backend: reserve a seat, hand the token to
// the client, verify and consume it when the client connects.
func Example() {
	ctx := context.Background()
	b := cluster.NewMemory(cluster.Config{Secret: []byte("cluster secret")})
	defer b.Close()
	if _, err := b.Heartbeat(ctx, cluster.NodeInfo{ID: "node-1", Address: "10.0.0.1:8080", Capacity: 1000}); err != nil {
		panic(err)
	}
	res, err := b.JoinOrCreate(ctx, cluster.JoinRequest{RoomType: "arena", UserID: "alice", MaxSeats: 10})
	if err != nil {
		panic(err)
	}
	fmt.Println("new room on", res.NodeID, res.Created)

	// Later, on whichever node the WebSocket lands:
	claims, err := b.Verify(res.Token)
	if err != nil {
		panic(err)
	}
	fmt.Println(b.Consume(ctx, claims, 0))
	fmt.Println(b.Consume(ctx, claims, 0) != nil) // a token is good once
	// Output:
	// new room on node-1 true
	// <nil>
	// true
}

// The heartbeat loop of a node, and a matchmaker for one queue.
func ExampleNewNode() {
	b := cluster.NewMemory(cluster.Config{})
	defer b.Close()
	node := cluster.NewNode(b, cluster.NodeConfig{
		ID: "node-1", Address: "10.0.0.1:8080", Capacity: 1000,
		Load:  func() cluster.Load { return cluster.Load{Rooms: 0, Players: 0} },
		Rooms: func() []cluster.RoomRecord { return nil }, // re-published after a Redis restart
	})
	created, err := node.Beat(context.Background()) // Run(ctx) loops this
	fmt.Println(created, err)
	_ = cluster.NewMatcher(b, cluster.MatcherConfig{Queue: "ranked", Holder: "node-1", MatchSize: 4})
	// Output: true <nil>
}
