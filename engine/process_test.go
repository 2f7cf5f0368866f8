package engine_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/engine/cluster"
	"github.com/tickwire/tickwire/engine/internal/redistest"
)

// freeAddr returns a loopback address that was free.
func freeAddr(t *testing.T) string {
	t.Helper()
	return freeAddrs(t, 1)[0]
}

// freeAddrs returns n distinct loopback addresses that were free: their
// listeners are open together, so no two are the same port.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		addrs[i] = l.Addr().String()
	}
	return addrs
}

// TestNodeProcessesKillAndDrain runs three examples/arena processes on one
// Redis: a node killed with SIGKILL leaves the directory with its rooms
// within the TTL while players elsewhere keep playing; a node sent SIGTERM
// stops taking rooms, closes its connections with 1001 after the drain
// timeout, and deregisters.
func TestNodeProcessesKillAndDrain(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs node processes")
	}
	rs := redistest.Start(t)
	const secret = "process test secret"
	ps := startArena(t, buildArena(t), secret, 3, "-redis", rs.Addr(), "-capacity", "100")
	b := watchCluster(t, rs.Addr(), secret, len(ps))
	urls := make([]string, len(ps))
	for i, p := range ps {
		urls[i] = p.url
	}
	// One private room per node, created by a client connected to it.
	clients := make([]*client.Client, 3)
	rooms := make([]string, 3)
	recs := make([]*recorder, 3)
	for i := range clients {
		recs[i] = &recorder{}
		opts := recs[i].options(fmt.Sprint("c", i))
		c, err := client.Dial(ctx5(t), urls[i], opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		j, err := c.Create(ctx5(t), "arena", client.JoinOptions{})
		if err != nil {
			t.Fatal(err)
		}
		clients[i], rooms[i] = c, j.RoomId
	}
	// kill -9 node 3: its room leaves the directory within the TTL (5 s)
	// plus a heartbeat; the others keep running.
	_ = ps[2].cmd.Process.Signal(syscall.SIGKILL)
	killed := time.Now()
	eventually(t, "dead node's room gone", func() bool {
		_, err := b.LookupRoom(context.Background(), rooms[2])
		return err != nil
	})
	if d := time.Since(killed); d > 7*time.Second {
		t.Errorf("room left the directory after %v", d)
	}
	for i := 0; i < 2; i++ {
		if _, err := clients[i].Ping(ctx5(t)); err != nil && !errors.Is(err, client.ErrNoClockSample) {
			t.Fatalf("client on node %d affected: %v", i+1, err)
		}
		if _, err := b.LookupRoom(context.Background(), rooms[i]); err != nil {
			t.Fatalf("room of live node %d: %v", i+1, err)
		}
	}
	// SIGTERM node 2: draining, no placements, 1001 after the drain
	// timeout, deregistered.
	_ = ps[1].cmd.Process.Signal(syscall.SIGTERM)
	eventually(t, "node 2 draining", func() bool {
		ns, _ := b.Nodes(context.Background())
		for _, n := range ns {
			if n.ID == "p2" {
				return n.Draining
			}
		}
		return false
	})
	for range 5 {
		res, err := b.JoinOrCreate(context.Background(), cluster.JoinRequest{RoomType: "arena", UserID: "x", MaxSeats: 10})
		if err != nil {
			t.Fatal(err)
		}
		if res.NodeID == "p2" {
			t.Fatal("a draining node got a new room")
		}
	}
	wantClose(t, clients[1], 1001)
	eventually(t, "node 2 deregistered", func() bool {
		ns, err := b.Nodes(context.Background())
		return err == nil && len(ns) == 1 && ns[0].ID == "p1"
	})
	done := make(chan error, 1)
	go func() { done <- ps[1].cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("drained node did not exit")
	}
	if _, err := clients[0].Ping(ctx5(t)); err != nil && !errors.Is(err, client.ErrNoClockSample) {
		t.Fatalf("client on node 1 affected: %v", err)
	}
}
