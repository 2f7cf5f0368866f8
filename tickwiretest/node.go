package tickwiretest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/engine"
	"github.com/tickwire/tickwire/room"
)

// Node is a running Tickwire node for a test.
type Node struct {
	// Engine is the node.
	Engine *engine.Engine
	// URL is its WebSocket endpoint, ws://127.0.0.1:port/ws.
	URL string
	// Addr is its host:port.
	Addr string
	// Admin serves the node's AdminHandler (metrics, rooms, health).
	Admin *httptest.Server
}

// StartNode starts a node on a free loopback port with cfg and the given
// room types, serving Engine.Handler, and stops it (draining it) when the
// test ends. A cfg with no Logger logs nothing; with no DrainTimeout the
// test's end closes the rooms within a second.
func StartNode(t testing.TB, cfg engine.Config, rooms map[string]*room.Definition) *Node {
	t.Helper()
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = discardLogger()
	}
	e, err := engine.New(cfg)
	if err != nil {
		t.Fatalf("tickwiretest: %v", err)
	}
	for name, def := range rooms {
		if err := e.RegisterRoom(name, def); err != nil {
			t.Fatalf("tickwiretest: %v", err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("tickwiretest: listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Serve(ctx, ln, nil) }()
	n := &Node{Engine: e, Addr: ln.Addr().String(), URL: "ws://" + ln.Addr().String() + "/ws"}
	n.Admin = httptest.NewServer(e.AdminHandler())
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("tickwiretest: node stopped with: %v", err)
		}
		n.Admin.Close()
	})
	// Serve runs the node in its own goroutine; wait until it accepts.
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(n.Admin.URL + "/healthz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("tickwiretest: node did not start: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return n
}

// Dial connects a client to the node, closed when the test ends.
func (n *Node) Dial(t testing.TB, opts client.Options) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, n.URL, opts)
	if err != nil {
		t.Fatalf("tickwiretest: dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
