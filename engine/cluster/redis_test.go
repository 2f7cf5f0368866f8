package cluster

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tickwire/tickwire/engine/internal/redistest"
)

// waitFor polls cond up to a generous bound (a hang guard, not a timing assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 600; i++ {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("gave up waiting for %s", what)
}

// TestRedisUnavailable: with Redis down every call fails with
// ErrUnavailable, the heartbeat loop backs off, no goroutines pile up; when
// Redis returns (empty), the node re-registers and re-publishes its rooms.
func TestRedisUnavailable(t *testing.T) {
	srv := redistest.Start(t)
	before := runtime.NumGoroutine()
	r, err := NewRedis(RedisConfig{Config: Config{Secret: testSecret, NodeTTL: time.Second}, Addr: srv.Addr(), OpTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rooms := []RoomRecord{{ID: "r1", Type: "arena", MaxSeats: 10, Seats: 3}, {ID: "r2", Type: "arena", MaxSeats: 10}}
	node := NewNode(r, NodeConfig{ID: "n1", Address: "127.0.0.1:1", Interval: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		Rooms: func() []RoomRecord { return rooms }, Load: func() Load { return Load{Rooms: 2, Players: 3} }})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = node.Run(ctx) })
	waitFor(t, "registration", func() bool { _, err := r.LookupRoom(ctx, "r2"); return err == nil })

	srv.Stop()
	var calls sync.WaitGroup
	var unavailable atomic.Int64
	for range 50 {
		calls.Go(func() {
			_, err := r.JoinOrCreate(ctx, JoinRequest{RoomType: "arena", UserID: "u", MaxSeats: 10})
			if errors.Is(err, ErrUnavailable) {
				unavailable.Add(1)
			} else {
				t.Errorf("join with redis down: %v", err)
			}
		})
	}
	calls.Wait()
	if unavailable.Load() != 50 {
		t.Fatalf("unavailable = %d", unavailable.Load())
	}
	if err := r.Publish(ctx, "n1", []byte("x")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("publish: %v", err)
	}
	waitFor(t, "unhealthy node", func() bool { return !node.Healthy() })

	srv.Restart() // empty server on the same port
	waitFor(t, "re-published rooms", func() bool {
		rec, err := r.LookupRoom(ctx, "r1")
		return err == nil && rec.Seats == 3 && rec.NodeID == "n1"
	})
	if _, err := r.JoinOrCreate(ctx, JoinRequest{RoomType: "arena", UserID: "u", MaxSeats: 10}); err != nil {
		t.Fatalf("join after restart: %v", err)
	}
	cancel()
	wg.Wait()
	_ = r.Close()
	waitFor(t, "goroutines to settle", func() bool { return runtime.NumGoroutine() <= before+2 })
}

// TestRedisRestartUnderLoad: three nodes heartbeat while workers reserve and
// consume seats; Redis is killed and restarted; the cluster recovers.
func TestRedisRestartUnderLoad(t *testing.T) {
	srv := redistest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var bs []*Redis
	var wg sync.WaitGroup
	for i := range 3 {
		r, err := NewRedis(RedisConfig{Config: Config{Secret: testSecret, NodeTTL: time.Second}, Addr: srv.Addr(), OpTimeout: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		bs = append(bs, r)
		id := fmt.Sprint("n", i)
		node := NewNode(r, NodeConfig{ID: id, Address: id, Capacity: 100000, Interval: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
			Rooms: func() []RoomRecord { return []RoomRecord{{ID: "home-" + id, Type: "lobby", MaxSeats: 5}} }})
		wg.Go(func() { _ = node.Run(ctx) })
	}
	waitFor(t, "3 nodes", func() bool { n, _ := bs[0].Nodes(ctx); return len(n) == 3 })
	var ok, failed atomic.Int64
	stop := make(chan struct{})
	for w := range 6 {
		wg.Go(func() {
			for i := 0; i < 100000; i++ { // bounded
				select {
				case <-stop:
					return
				default:
				}
				b := bs[(w+i)%3]
				res, err := b.JoinOrCreate(ctx, JoinRequest{RoomType: "arena", UserID: fmt.Sprint(w, "-", i), MaxSeats: 8})
				if err == nil {
					err = bs[i%3].Consume(ctx, res.Claims, 0)
				}
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, ErrUnavailable), errors.Is(err, ErrNoCapacity), errors.Is(err, ErrRoomNotFound), errors.Is(err, ErrTokenExpired):
					failed.Add(1) // expected while Redis is away or just back
					time.Sleep(10 * time.Millisecond)
				default:
					t.Errorf("unexpected error: %v", err)
				}
			}
		})
	}
	waitFor(t, "some load", func() bool { return ok.Load() > 200 })
	srv.Restart()
	waitFor(t, "errors during the outage", func() bool { return failed.Load() > 0 })
	base := ok.Load()
	waitFor(t, "recovery", func() bool { return ok.Load() > base+200 })
	waitFor(t, "nodes and rooms re-published", func() bool {
		n, _ := bs[1].Nodes(ctx)
		rooms, _ := bs[2].ListRooms(ctx, "lobby")
		return len(n) == 3 && len(rooms) == 3
	})
	close(stop)
	cancel()
	wg.Wait()
	rooms, err := bs[0].ListRooms(context.Background(), "arena")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rooms {
		if r.Seats+r.Reserved > r.MaxSeats {
			t.Errorf("room %s over capacity: %d+%d/%d", r.ID, r.Seats, r.Reserved, r.MaxSeats)
		}
	}
}
