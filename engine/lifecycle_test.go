package engine_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tickwire/tickwire/engine"
)

func TestNewRefusesImpossibleConfigs(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  engine.Config
	}{
		{"redis without secret", engine.Config{Cluster: engine.ClusterConfig{RedisAddr: "127.0.0.1:6379"}}},
		{"negative message size", engine.Config{MaxMessageSize: -1}},
		{"huge message size", engine.Config{MaxMessageSize: 1 << 30}},
		{"negative rate", engine.Config{RateLimit: -5}},
		{"burst below a tenth of a second of the rate", engine.Config{RateLimit: 1000, RateBurst: 5}},
		{"negative drain timeout", engine.Config{DrainTimeout: -time.Second}},
		{"path without slash", engine.Config{Path: "ws"}},
		{"node TTL within one heartbeat", engine.Config{Cluster: engine.ClusterConfig{HeartbeatInterval: time.Second, NodeTTL: time.Second}}},
		{"queue without name", engine.Config{Cluster: engine.ClusterConfig{Queues: []engine.QueueConfig{{MatchSize: 2}}}}},
		{"queue twice", engine.Config{Cluster: engine.ClusterConfig{Queues: []engine.QueueConfig{{Name: "q"}, {Name: "q"}}}}},
		{"short admin token", engine.Config{AdminToken: "admin"}},
		{"match of one", engine.Config{Cluster: engine.ClusterConfig{Queues: []engine.QueueConfig{{Name: "q", MatchSize: 1}}}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e, err := engine.New(tt.cfg)
			if !errors.Is(err, engine.ErrInvalidConfig) || e != nil {
				t.Fatalf("New = %v, %v; want ErrInvalidConfig", e, err)
			}
		})
	}
	if _, err := engine.New(engine.Config{}); err != nil {
		t.Fatalf("the zero Config must work: %v", err)
	}
}

func TestHandlerRefusesUntilRunAndAfterDrain(t *testing.T) {
	e, err := engine.New(engine.Config{DrainTimeout: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	game := httptest.NewServer(e.Handler())
	defer game.Close()
	admin := httptest.NewServer(e.AdminHandler())
	defer admin.Close()
	status := func(url string) int {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status(game.URL + "/ws"); got != http.StatusServiceUnavailable {
		t.Fatalf("/ws before Run: %d, want 503", got)
	}
	if got := status(admin.URL + "/healthz"); got != http.StatusServiceUnavailable {
		t.Fatalf("/healthz before Run: %d, want 503", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for status(admin.URL+"/healthz") != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("node never became healthy")
		}
		time.Sleep(time.Millisecond)
	}
	// Running: a plain GET is not an upgrade (400), but it is served.
	if got := status(game.URL + "/ws"); got != http.StatusBadRequest {
		t.Fatalf("/ws while running: %d, want 400 (not a WebSocket upgrade)", got)
	}
	if got := status(game.URL + "/other"); got != http.StatusNotFound {
		t.Fatalf("/other on the game handler: %d, want 404", got)
	}
	if err := e.Run(context.Background()); !errors.Is(err, engine.ErrAlreadyRun) {
		t.Fatalf("second Run = %v, want ErrAlreadyRun", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if got := status(game.URL + "/ws"); got != http.StatusServiceUnavailable {
		t.Fatalf("/ws after the drain: %d, want 503", got)
	}
}
