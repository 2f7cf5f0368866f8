// Command embed shows Tickwire inside an existing net/http backend: the
// backend keeps its own routes and its own auth (a bearer token checked at
// the WebSocket's Hello), and mounts the engine's WebSocket endpoint and
// metrics under /game/.
//
//	go run ./examples/embed -addr 127.0.0.1:8081
//
// The room type "chat" relays room messages to everyone and keeps a message
// counter as replicated state.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tickwire/tickwire/engine"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/room"
)

// chat is the game: it relays text messages (StringValue) with the
// sender's name and counts them in its state. It takes no inputs.
type chat struct {
	room.Base[*wrapperspb.UInt64Value, *emptypb.Empty]
}

func (chat) Init(c *room.Context[*wrapperspb.UInt64Value], _ []byte) error {
	room.OnMessage(c, func(p *room.Player, m *wrapperspb.StringValue) {
		c.State.Value++
		c.Broadcast(wrapperspb.String(p.Name() + ": " + m.Value))
	})
	return nil
}

// users is the backend's own user store: token -> user name.
var errUnknownToken = errors.New("unknown token")

func authenticate(tokens map[string]string) engine.AuthFunc {
	return func(_ context.Context, r *http.Request, hello *tickwirev1.Hello) (engine.Identity, error) {
		token := hello.Token
		if token == "" { // browsers cannot set headers on WebSockets; accept a header too
			token = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		}
		name, ok := tokens[token]
		if !ok {
			return engine.Identity{}, errUnknownToken
		}
		return engine.Identity{UserID: "user:" + name, Name: name}, nil
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	adminAddr := flag.String("admin-addr", "127.0.0.1:9091", "address of the admin endpoints (metrics, rooms)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	eng, err := engine.New(engine.Config{
		Logger:       log,
		Path:         "/game/ws",
		Authenticate: authenticate(map[string]string{"alice-token": "alice", "bob-token": "bob"}),
		AdminAddr:    *adminAddr, // ListenAndServe serves the admin endpoints there
	})
	if err != nil {
		log.Error("engine", "err", err)
		os.Exit(2)
	}
	if err := eng.RegisterRoom("chat", room.Define(room.Config{TickRate: 10, MaxPlayers: 50}, func() room.Handler[*wrapperspb.UInt64Value, *emptypb.Empty] { return chat{} })); err != nil {
		log.Error("register", "err", err)
		os.Exit(1)
	}

	mux := http.NewServeMux()
	// The backend's own routes.
	mux.HandleFunc("GET /api/hello", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "hello from the backend") })
	// Tickwire's game endpoint, mounted where the backend wants it. Its
	// admin endpoints (metrics, rooms, pprof) stay off the public mux.
	mux.Handle("/game/ws", eng.Handler())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := eng.ListenAndServe(ctx, *addr, mux); err != nil {
		log.Error("serve", "err", err)
		os.Exit(1)
	}
}
