package client_test

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/tickwire/tickwire/client"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

// A bot that joins a room, applies state frames to its copy of the room's
// state, and sends an input per tick. (Not run: it needs a server.)
func Example() {
	states := client.NewStateTracker[*structpb.Struct]()
	var c *client.Client
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "ws://127.0.0.1:8080/ws", client.Options{
		Name: "bot",
		OnState: func(st *tickwirev1.State) {
			if _, err := states.Apply(st); client.IsUnknownBaseline(err) {
				_ = c.RequestFullState()
			}
		},
		OnEvent: func(m *tickwirev1.ServerMessage) {
			if p := m.GetPlayerJoined(); p != nil {
				fmt.Println("joined:", p.Player.Name)
			}
		},
	})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	joined, err := c.JoinOrCreate(ctx, "arena", client.JoinOptions{})
	if err != nil {
		panic(err)
	}
	// One input per tick, timed to reach the server 20 ms before the tick
	// that uses it (before the first state, once per tick from now).
	interval := time.Second / time.Duration(joined.TickRate)
	next := time.Now()
	for range 100 {
		if at, ok := c.NextInputAt(20 * time.Millisecond); ok && at.Sub(next) > -interval/2 {
			next = at
		}
		time.Sleep(time.Until(next))
		if _, err := c.SendInput([]byte{8, 1}); err != nil {
			panic(err)
		}
		next = next.Add(interval)
	}
	rtt, _ := c.Ping(ctx)
	_, serverTick, lastInput, _ := states.Latest()
	fmt.Println(rtt, serverTick, lastInput)
}
