package client_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/engine"
	"github.com/tickwire/tickwire/examples/arena/game"
	arenav1 "github.com/tickwire/tickwire/examples/arena/proto/arena/v1"
)

// A bot for the sample arena, with the arena's own generated types: it
// joins, walks right on the room's tick timeline, and watches its own
// player move in the replicated state.
func Example() {
	url, stop := startArena() // a real arena node on a loopback port
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, url, client.Options{Name: "bot"})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	r, err := client.JoinOrCreate[*arenav1.State](ctx, c, "arena", client.JoinOptions{})
	if err != nil {
		panic(err)
	}
	client.OnMessage(r, func(_ uint32, t *arenav1.Tagged) { fmt.Println("tag!", t.Tagger, "->", t.Target) })

	start := waitForState(ctx, r, 0)
	x0 := start.Players[r.PlayerID()].X
	interval := time.Second / time.Duration(r.Joined().TickRate)
	for range 10 {
		// Each input is timed to reach the server just before the tick
		// that applies it.
		at, ok := c.NextInputAt(20 * time.Millisecond)
		if !ok {
			at = time.Now().Add(interval)
		}
		time.Sleep(time.Until(at))
		if _, err := r.SendInput(&arenav1.Input{MoveX: 127}); err != nil {
			panic(err)
		}
	}
	end := waitForState(ctx, r, 10)
	fmt.Println("moved right:", end.Players[r.PlayerID()].X > x0)
	// Output:
	// moved right: true
}

// waitForState waits for the first state in which the server processed
// input seq.
func waitForState(ctx context.Context, r *client.Room[*arenav1.State], seq uint32) *arenav1.State {
	for ctx.Err() == nil {
		if s, _, last, ok := r.State(); ok && last >= seq {
			return s
		}
		time.Sleep(5 * time.Millisecond)
	}
	panic("no state")
}

// startArena runs an arena node on a loopback port, with the given
// matchmaking queues, until stop.
func startArena(queues ...engine.QueueConfig) (url string, stop func()) {
	e, err := engine.New(engine.Config{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DrainTimeout: 100 * time.Millisecond,
		Cluster: engine.ClusterConfig{Queues: queues},
	})
	if err != nil {
		panic(err)
	}
	for name, def := range game.RoomTypes() {
		if err := e.RegisterRoom(name, def); err != nil {
			panic(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Serve(ctx, ln, nil) }()
	return "ws://" + ln.Addr().String() + "/ws", func() { cancel(); <-done }
}
