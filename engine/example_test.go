package engine_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/engine"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/room"
)

// counter is a game whose state counts inputs.
type counter struct {
	room.Base[*wrapperspb.UInt64Value]
}

func (counter) Tick(c *room.Context[*wrapperspb.UInt64Value], in []room.Input) {
	c.State.Value += uint64(len(in))
}

// A node with one room type, mounted in an existing mux next to the
// application's own route, and a Go client that joins and plays.
func Example() {
	e := engine.New(engine.Config{
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		DrainTimeout: 100 * time.Millisecond,
	})
	if err := e.RegisterRoom("counter", room.Define(room.Config{TickRate: 50, MaxPlayers: 4},
		func() room.Handler[*wrapperspb.UInt64Value] { return counter{} })); err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", e.Handler())
	mux.HandleFunc("/api/hello", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hi") })

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Serve(ctx, ln, mux) }()

	states := client.NewStateTracker[*wrapperspb.UInt64Value]()
	dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(dctx, "ws://"+ln.Addr().String()+"/ws", client.Options{
		Name:    "ada",
		OnState: func(st *tickwirev1.State) { _, _ = states.Apply(st) },
	})
	if err != nil {
		panic(err)
	}
	joined, err := c.JoinOrCreate(dctx, "counter", client.JoinOptions{})
	if err != nil {
		panic(err)
	}
	fmt.Println("joined a", joined.RoomType, "room at", joined.TickRate, "Hz")
	for range 3 {
		_, _ = c.SendInput(nil)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if s, _, last, ok := states.Latest(); ok && last == 3 {
			fmt.Println("inputs counted by the server:", s.Value)
			break
		}
	}
	_ = c.Close()
	stop()
	<-done
	// Output:
	// joined a counter room at 50 Hz
	// inputs counted by the server: 3
}
