package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/engine"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/room"
)

func TestEmbeddedAuthAndChat(t *testing.T) {
	eng, err := engine.New(engine.Config{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Path: "/game/ws", DrainTimeout: 50 * time.Millisecond,
		Authenticate: authenticate(map[string]string{"t1": "alice"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.RegisterRoom("chat", room.Define(room.Config{}, func() room.Handler[*wrapperspb.UInt64Value, *emptypb.Empty] { return chat{} })); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/hello", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hi") })
	mux.Handle("/game/ws", eng.Handler())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = eng.Serve(ctx, ln, mux); close(done) }()
	defer func() { cancel(); <-done }()
	url := "ws://" + ln.Addr().String() + "/game/ws"

	resp, err := http.Get("http://" + ln.Addr().String() + "/api/hello")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("backend route: %d", resp.StatusCode)
	}

	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer dcancel()
	if _, err := client.Dial(dctx, url, client.Options{Token: "wrong"}); err == nil {
		t.Fatal("a bad token must be refused")
	} else if ce := new(client.CloseError); !errors.As(err, &ce) || ce.Code != uint16(tickwirev1.CloseCode_CLOSE_CODE_UNAUTHORIZED) {
		t.Fatalf("bad token: %v, want close 4004", err)
	}
	got := make(chan string, 1)
	c, err := client.Dial(dctx, url, client.Options{Token: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Welcome().UserId != "user:alice" {
		t.Fatalf("user id = %q", c.Welcome().UserId)
	}
	r, err := client.JoinOrCreate[*wrapperspb.UInt64Value](dctx, c, "chat", client.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	client.OnMessage(r, func(_ uint32, m *wrapperspb.StringValue) { got <- m.Value })
	if err := r.Send(wrapperspb.String("hi all")); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != "alice: hi all" {
			t.Fatalf("relayed %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no relay")
	}
}
