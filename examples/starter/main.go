// Command starter serves the starter game: the Tickwire engine with its
// room type on /ws, and the browser client (web/dist, `make web`) on /.
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"

	"github.com/tickwire/tickwire/engine"
	"github.com/tickwire/tickwire/examples/starter/game"
)

func main() {
	addr := flag.String("addr", ":8080", "listen address")
	web := flag.String("web", "web/dist", "directory of the browser client")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *addr, *web); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, addr, web string) error {
	e, err := engine.New(engine.Config{})
	if err != nil {
		return err
	}
	if err := e.RegisterRoom("dots", game.Define()); err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServer(http.Dir(web)))
	mux.Handle("/ws", e.Handler())
	return e.ListenAndServe(ctx, addr, mux) // until ctx ends, then drains
}
