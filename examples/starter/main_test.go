package main

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/tickwire/tickwire/client"
	starterv1 "github.com/tickwire/tickwire/examples/starter/gen/starter/v1"
)

// TestServe runs the server and plays it with the Go client: join, move,
// wave, see it all come back.
func TestServe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, addr, t.TempDir()) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	var c *client.Client
	for c == nil { // until the server listens
		if c, err = client.Dial(dctx, "ws://"+addr+"/ws", client.Options{Name: "ada"}); err != nil && dctx.Err() != nil {
			t.Fatalf("dial: %v", err)
		}
	}
	defer c.Close()
	r, err := client.JoinOrCreate[*starterv1.State](dctx, c, "dots", client.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waved := make(chan *starterv1.Waved, 1)
	client.OnMessage(r, func(_ uint32, m *starterv1.Waved) { waved <- m })
	if _, err := r.SendInput(&starterv1.Input{Dx: 1}); err != nil {
		t.Fatal(err)
	}
	if err := r.Send(&starterv1.Wave{}); err != nil {
		t.Fatal(err)
	}
	for {
		if s, _, last, ok := r.State(); ok && last == 1 {
			if d := s.Dots[r.PlayerID()]; d == nil || d.X != 201 {
				t.Fatalf("my dot after one step right: %v", d)
			}
			break
		}
		select {
		case <-dctx.Done():
			t.Fatal("the input never showed in the state")
		case <-time.After(5 * time.Millisecond):
		}
	}
	select {
	case m := <-waved:
		if m.Name != "ada" {
			t.Fatalf("Waved %v", m)
		}
	case <-dctx.Done():
		t.Fatal("no Waved")
	}
	// Leave (a closed connection would keep the seat for the reconnection
	// grace, and the server's drain would wait for it).
	if err := r.Leave(dctx); err != nil {
		t.Fatal(err)
	}
}
