package main

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tickwire/tickwire/client"
)

// TestREADMESnippet keeps the README's "Embed it" code identical to this
// program, and runs it: a client joins the counter room, sends inputs and
// sees the server add them up.
func TestREADMESnippet(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "## Embed it\n\n```go\n")
	block, _, ok2 := strings.Cut(after, "```\n")
	if !ok || !ok2 {
		t.Fatal(`README.md has no "## Embed it" go block`)
	}
	if block != string(src) {
		t.Fatal("README.md's Embed it block differs from examples/readme/main.go: copy main.go into the README")
	}

	// A free port for the game and the admin address the snippet uses.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, addr) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	var c *client.Client
	for c == nil {
		c, err = client.Dial(dctx, "ws://"+addr+"/ws", client.Options{Name: "ada"})
		if err != nil && dctx.Err() != nil {
			t.Fatalf("dial: %v", err)
		}
	}
	defer c.Close()
	r, err := client.JoinOrCreate[*wrapperspb.UInt64Value](dctx, c, "counter", client.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []uint32{1, 2, 3} {
		if _, err := r.SendInput(wrapperspb.UInt32(v)); err != nil {
			t.Fatal(err)
		}
	}
	for {
		if s, _, last, ok := r.State(); ok && last == 3 {
			if s.Value != 6 {
				t.Fatalf("state %d after inputs 1+2+3", s.Value)
			}
			return
		}
		select {
		case <-dctx.Done():
			t.Fatal("the inputs never showed in the state")
		case <-time.After(5 * time.Millisecond):
		}
	}
}
