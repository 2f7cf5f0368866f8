package engine_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tickwire/tickwire/engine"
	"github.com/tickwire/tickwire/engine/cluster"
)

// heartbeats counts the node's registrations and refreshes.
type heartbeats struct {
	cluster.Backend
	n *atomic.Int64
}

func (b heartbeats) Heartbeat(ctx context.Context, n cluster.NodeInfo) (bool, error) {
	b.n.Add(1)
	return b.Backend.Heartbeat(ctx, n)
}

// TestBusyAdminPortNeverJoinsTheCluster: Serve binds the admin port before
// the node starts. A node that cannot bind it returns the error, never
// registers in the cluster and leaves its public port closed (it used to
// register and then leave, so for a moment the cluster placed rooms on a
// node about to exit).
func TestBusyAdminPortNeverJoinsTheCluster(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	var beats atomic.Int64
	e, err := engine.New(engine.Config{
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		AdminAddr: busy.Addr().String(),
		Cluster: engine.ClusterConfig{
			Backend: heartbeats{cluster.NewMemory(cluster.Config{Secret: []byte(testSecret)}), &beats},
			Shared:  true, Secret: testSecret,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	err = e.Serve(context.Background(), ln, nil)
	if err == nil || !strings.Contains(err.Error(), "listen admin") {
		t.Fatalf("Serve: %v, want the admin listen error", err)
	}
	if n := beats.Load(); n != 0 {
		t.Fatalf("%d heartbeats, want none: the node joined the cluster", n)
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Fatal("the public port still accepts connections")
	}
}
