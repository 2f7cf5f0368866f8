package engine_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/engine"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/room"
)

// limitCount returns tickwire_limit_refusals_total{limit=name}.
func limitCount(t *testing.T, s *server, name string) int {
	t.Helper()
	var b strings.Builder
	s.e.Metrics().WritePrometheus(&b)
	prefix := `tickwire_limit_refusals_total{limit="` + name + `"} `
	for line := range strings.Lines(b.String()) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
			var n int
			for _, c := range v {
				n = n*10 + int(c-'0')
			}
			return n
		}
	}
	return 0
}

// dialFrom dials with the client address a trusted (loopback) proxy would
// forward, so that per-IP limits apply to it.
func dialFrom(t *testing.T, s *server, ip string, h http.Header) (*client.Client, error) {
	t.Helper()
	if h == nil {
		h = http.Header{}
	}
	if ip != "" {
		h.Set("X-Forwarded-For", ip)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, s.url, client.Options{Header: h})
	if err == nil {
		t.Cleanup(func() { _ = c.Close() })
	}
	return c, err
}

// TestSameOriginByDefault: a browser Origin of another site is refused
// (cross-site WebSocket hijacking); the request's own host, listed origins
// and clients without Origin are accepted.
func TestSameOriginByDefault(t *testing.T) {
	s := start(t, engine.Config{AllowedOrigins: []string{"https://game.example.com"}}, room.Config{})
	host := strings.TrimSuffix(strings.TrimPrefix(s.url, "ws://"), "/ws")
	for _, tt := range []struct {
		origin string
		ok     bool
	}{
		{"", true},
		{"http://" + host, true},
		{"https://game.example.com", true},
		{"https://evil.example", false},
		{"http://" + host + ".evil.example", false},
		{"null", false},
	} {
		h := http.Header{}
		if tt.origin != "" {
			h.Set("Origin", tt.origin)
		}
		_, err := dialFrom(t, s, "", h)
		if (err == nil) != tt.ok {
			t.Errorf("Origin %q: dial err %v, want allowed=%v", tt.origin, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "403") {
			t.Errorf("Origin %q: %v, want 403", tt.origin, err)
		}
	}
	if n := limitCount(t, s, "origin"); n != 3 {
		t.Fatalf("origin refusals counted %d, want 3", n)
	}
}

// TestRoomCreationBounded: rooms created per connection and per IP per
// minute, and rooms per node, are bounded; joining existing rooms still
// works past the creation limits.
func TestRoomCreationBounded(t *testing.T) {
	t.Run("per connection", func(t *testing.T) {
		s := start(t, engine.Config{Limits: engine.Limits{RoomsPerConnPerMinute: 3}}, room.Config{MaxPlayers: 2})
		c := dial(t, s, nil)
		for i := range 4 {
			_, err := c.Create(ctx5(t), "sum", client.JoinOptions{})
			if i == 3 {
				wantServerError(t, err, tickwirev1.ErrorCode_ERROR_CODE_RATE_LIMITED)
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Leave(ctx5(t)); err != nil {
				t.Fatal(err)
			}
		}
		// Join-or-create that would create is refused too, ...
		_, err := c.JoinOrCreate(ctx5(t), "sum", client.JoinOptions{Filter: map[string]string{"m": "new"}})
		wantServerError(t, err, tickwirev1.ErrorCode_ERROR_CODE_RATE_LIMITED)
		// ... but one that joins an existing room passes.
		other := dial(t, s, nil)
		if _, err := other.Create(ctx5(t), "sum", client.JoinOptions{Filter: map[string]string{"m": "x"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.JoinOrCreate(ctx5(t), "sum", client.JoinOptions{Filter: map[string]string{"m": "x"}}); err != nil {
			t.Fatalf("joining an existing room past the creation limit: %v", err)
		}
		if n := limitCount(t, s, "rooms_per_connection"); n != 2 {
			t.Fatalf("counted %d, want 2", n)
		}
	})
	t.Run("per IP", func(t *testing.T) {
		s := start(t, engine.Config{Limits: engine.Limits{RoomsPerIPPerMinute: 2}}, room.Config{})
		for i := range 3 {
			c, err := dialFrom(t, s, "203.0.113.7", nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Create(ctx5(t), "sum", client.JoinOptions{})
			if i == 2 {
				wantServerError(t, err, tickwirev1.ErrorCode_ERROR_CODE_RATE_LIMITED)
			} else if err != nil {
				t.Fatal(err)
			}
		}
		c, err := dialFrom(t, s, "203.0.113.8", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Create(ctx5(t), "sum", client.JoinOptions{}); err != nil {
			t.Fatalf("another address: %v", err)
		}
		if n := limitCount(t, s, "rooms_per_ip"); n != 1 {
			t.Fatalf("counted %d, want 1", n)
		}
	})
	t.Run("per node", func(t *testing.T) {
		s := start(t, engine.Config{Limits: engine.Limits{MaxRooms: 2}}, room.Config{})
		for i := range 3 {
			c := dial(t, s, nil)
			_, err := c.Create(ctx5(t), "sum", client.JoinOptions{})
			if i == 2 {
				wantServerError(t, err, tickwirev1.ErrorCode_ERROR_CODE_ROOM_BUSY)
			} else if err != nil {
				t.Fatal(err)
			}
		}
		if n := limitCount(t, s, "rooms"); n != 1 {
			t.Fatalf("counted %d, want 1", n)
		}
	})
}

// TestJoinFilterBounded: a join filter (a created room's metadata, listed
// by /rooms) is bounded in entries and bytes.
func TestJoinFilterBounded(t *testing.T) {
	s := start(t, engine.Config{}, room.Config{})
	c := dial(t, s, nil)
	many := map[string]string{}
	for i := range 9 {
		many[string(rune('a'+i))] = "v"
	}
	_, err := c.JoinOrCreate(ctx5(t), "sum", client.JoinOptions{Filter: many})
	wantServerError(t, err, tickwirev1.ErrorCode_ERROR_CODE_BAD_REQUEST)
	_, err = c.Create(ctx5(t), "sum", client.JoinOptions{Filter: map[string]string{"k": strings.Repeat("x", 600)}})
	wantServerError(t, err, tickwirev1.ErrorCode_ERROR_CODE_BAD_REQUEST)
	if _, err := c.Create(ctx5(t), "sum", client.JoinOptions{Filter: map[string]string{"mode": "duel"}}); err != nil {
		t.Fatal(err)
	}
	if n := limitCount(t, s, "filter"); n != 2 {
		t.Fatalf("counted %d, want 2", n)
	}
}

// TestTicketsPerSessionBounded: a connection's open tickets are bounded.
func TestTicketsPerSessionBounded(t *testing.T) {
	s := start(t, engine.Config{
		Limits:  engine.Limits{MaxTicketsPerSession: 2},
		Cluster: engine.ClusterConfig{Queues: []engine.QueueConfig{{Name: "sum", MatchSize: 4, Interval: 50 * time.Millisecond}}},
	}, room.Config{})
	c := dial(t, s, nil)
	var ids []string
	for i := range 3 {
		id, err := c.MatchmakerAdd(ctx5(t), &tickwirev1.MatchmakerAdd{Queue: "sum"})
		if i == 2 {
			wantServerError(t, err, tickwirev1.ErrorCode_ERROR_CODE_RATE_LIMITED)
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := c.MatchmakerCancel(ctx5(t), ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := c.MatchmakerAdd(ctx5(t), &tickwirev1.MatchmakerAdd{Queue: "sum"}); err != nil {
		t.Fatalf("after a cancel: %v", err)
	}
	if n := limitCount(t, s, "tickets"); n != 1 {
		t.Fatalf("counted %d, want 1", n)
	}
}

// TestConnectionsBounded: connections per IP and connections outside rooms
// per node are bounded at the upgrade.
func TestConnectionsBounded(t *testing.T) {
	t.Run("per IP", func(t *testing.T) {
		s := start(t, engine.Config{Limits: engine.Limits{MaxConnsPerIP: 3}}, room.Config{})
		var first *client.Client
		for i := range 4 {
			c, err := dialFrom(t, s, "198.51.100.1", nil)
			if i == 3 {
				if err == nil || !strings.Contains(err.Error(), "429") {
					t.Fatalf("4th connection: %v, want 429", err)
				}
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if first == nil {
				first = c
			}
		}
		if _, err := dialFrom(t, s, "198.51.100.2", nil); err != nil {
			t.Fatalf("another address: %v", err)
		}
		_ = first.Close()
		eventually(t, "a slot freed by a close", func() bool {
			_, err := dialFrom(t, s, "198.51.100.1", nil)
			return err == nil
		})
		if n := limitCount(t, s, "connections_per_ip"); n < 1 {
			t.Fatalf("counted %d", n)
		}
	})
	t.Run("roomless", func(t *testing.T) {
		s := start(t, engine.Config{Limits: engine.Limits{MaxRoomless: 2}}, room.Config{})
		a := dial(t, s, nil)
		dial(t, s, nil)
		if _, err := dialFrom(t, s, "", nil); err == nil || !strings.Contains(err.Error(), "503") {
			t.Fatalf("3rd roomless connection: %v, want 503", err)
		}
		// A connection in a room no longer counts.
		if _, err := a.Create(ctx5(t), "sum", client.JoinOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := dialFrom(t, s, "", nil); err != nil {
			t.Fatalf("after one joined a room: %v", err)
		}
		if n := limitCount(t, s, "roomless"); n != 1 {
			t.Fatalf("counted %d, want 1", n)
		}
	})
}

// TestSlowlorisCounted: a connection that never finishes its request is
// dropped by the server's header timeout and counted.
func TestSlowlorisCounted(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the 10 s header timeout")
	}
	s := start(t, engine.Config{}, room.Config{})
	addr := strings.TrimSuffix(strings.TrimPrefix(s.url, "ws://"), "/ws")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET /ws HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	// The server closes it at ReadHeaderTimeout (10 s).
	_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("not closed by the server: %v", err)
	}
	eventually(t, "slowloris counted", func() bool { return limitCount(t, s, "request_timeout") == 1 })
}
