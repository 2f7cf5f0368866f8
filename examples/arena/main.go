// Command arena is the sample game's server: the Tickwire engine with the
// arena room type, serving the browser game (embedded bundle) on the same
// port. With no flags it runs a single node on :8080 with no Redis.
package main

import (
	"context"
	"embed"
	"flag"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/tickwire/tickwire/engine"
	"github.com/tickwire/tickwire/examples/arena/game"
)

//go:embed all:web/dist
var webFS embed.FS

func main() {
	addr := flag.String("addr", ":8080", "listen address")
	pprof := flag.Bool("pprof", false, "serve net/http/pprof under /debug/pprof/")
	debug := flag.Bool("debug", false, "debug logging")
	flag.Parse()

	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	e := engine.New(engine.Config{Logger: log, EnablePprof: *pprof})
	for name, def := range game.RoomTypes() {
		if err := e.RegisterRoom(name, def); err != nil {
			log.Error("register room", "type", name, "err", err)
			os.Exit(1)
		}
	}
	dist, err := fs.Sub(webFS, "web/dist")
	if err != nil {
		log.Error("embedded web bundle", "err", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServerFS(dist))
	api := e.Handler()
	for _, p := range []string{"/ws", "/healthz", "/metrics", "/rooms", "/debug/pprof/"} {
		mux.Handle(p, api)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := e.ListenAndServe(ctx, *addr, mux); err != nil {
		log.Error("server", "err", err)
		os.Exit(1)
	}
}
