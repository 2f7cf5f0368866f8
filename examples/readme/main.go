package main

import (
	"context"
	"log"
	"net/http"
	"os"
	"os/signal"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tickwire/tickwire/engine"
	"github.com/tickwire/tickwire/room"
)

// counter is a game: the replicated state adds up the players' inputs.
type counter struct {
	room.Base[*wrapperspb.UInt64Value, *wrapperspb.UInt32Value]
}

func (counter) Tick(c *room.Context[*wrapperspb.UInt64Value], inputs []room.Input[*wrapperspb.UInt32Value]) {
	for _, in := range inputs {
		c.State.Value += uint64(in.Msg.Value)
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, ":8080"); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, addr string) error {
	e, err := engine.New(engine.Config{AdminAddr: "127.0.0.1:9090"}) // metrics, rooms, pprof
	if err != nil {
		return err
	}
	if err := e.RegisterRoom("counter", room.Define(room.Config{TickRate: 30, MaxPlayers: 8},
		func() room.Handler[*wrapperspb.UInt64Value, *wrapperspb.UInt32Value] { return counter{} })); err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", e.Handler()) // beside your own routes
	mux.HandleFunc("/api/hello", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("hi")) })
	return e.ListenAndServe(ctx, addr, mux) // runs the node until ctx ends, then drains
}
