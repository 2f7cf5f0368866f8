package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/engine"
	"github.com/tickwire/tickwire/engine/cluster"
	"github.com/tickwire/tickwire/engine/internal/redistest"
	"github.com/tickwire/tickwire/room"
)

// TestSeatCountConvergesAfterFailedRelease: a player leaves while Redis is
// down, so the directory never hears of it; once Redis is back (with its
// data: persistence on) the owner's seat sync sets the room's directory
// seat count to its players again. The removal of a room that closed
// during an outage is sent again.
func TestSeatCountConvergesAfterFailedRelease(t *testing.T) {
	rs := redistest.StartPersistent(t)
	// A long NodeTTL: the node stays registered through the outage, so
	// nothing re-publishes its rooms and only the seat sync can fix the
	// count.
	s := start(t, engine.Config{
		NodeID: "n1",
		Cluster: engine.ClusterConfig{
			RedisAddr: rs.Addr(), Secret: testSecret, Capacity: 1000,
			HeartbeatInterval: 200 * time.Millisecond, NodeTTL: time.Minute,
		},
	}, room.Config{TickRate: 20, MaxPlayers: 4, DisposeAfter: 50 * time.Millisecond})
	a, b := dial(t, s, &recorder{}), dial(t, s, &recorder{})
	ja, err := a.JoinOrCreate(ctx5(t), "sum", client.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if jb, err := b.JoinOrCreate(ctx5(t), "sum", client.JoinOptions{}); err != nil || jb.RoomId != ja.RoomId {
		t.Fatalf("second join: %v, room %v want %s", err, jb, ja.RoomId)
	}
	seats := func() int { return directorySeats(s.e.Backend(), ja.RoomId) }
	eventually(t, "two seats in the directory", func() bool { return seats() == 2 })

	rs.Stop()
	if _, err := b.Leave(ctx5(t)); err != nil {
		t.Fatalf("leave during the outage: %v", err)
	}
	rs.Start()
	eventually(t, "one seat in the directory", func() bool { return seats() == 1 })

	// The last player leaves during a second outage and the empty room
	// closes: its removal is owed, and the record goes once Redis is back.
	rs.Stop()
	if _, err := a.Leave(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the room closed on its node", func() bool { return len(s.e.Rooms()) == 0 })
	eventually(t, "the removal owed", func() bool { return engine.OwedRemovals(s.e) == 1 })
	rs.Start()
	eventually(t, "the closed room gone from the directory", func() bool {
		_, err := s.e.Backend().LookupRoom(context.Background(), ja.RoomId)
		return errors.Is(err, cluster.ErrRoomNotFound)
	})
	eventually(t, "nothing owed", func() bool { return engine.OwedRemovals(s.e) == 0 })
	if v := metricValue(t, s, "tickwire_directory_updates_retried_total"); v != 1 {
		t.Fatalf("directory_updates_retried_total = %v, want 1", v)
	}
	if engine.SeatsInTransit(s.e) != 0 {
		t.Fatalf("%d players still counted in transit", engine.SeatsInTransit(s.e))
	}
}

// faultMode is how faultyBackend fails the next call of an operation.
type faultMode int

const (
	// appliedReplyLost: the call reaches Redis and is applied, and the
	// node gets an error (the connection dropped before the reply).
	appliedReplyLost faultMode = iota + 1
	// sentNotApplied: the node gets the same error, but the call never
	// got to Redis (dropped on the way).
	sentNotApplied
	// notReached: the connection could not be dialled.
	notReached
)

// faultyBackend fails the next Consume or ReleaseSeat as armed; every
// other call goes to the real backend.
type faultyBackend struct {
	cluster.Backend
	mu    sync.Mutex
	armed map[string]faultMode // "consume" or "release" -> mode (one call)
	hit   map[string]int
}

func (f *faultyBackend) arm(op string, m faultMode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armed[op] = m
}

func (f *faultyBackend) hits(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hit[op]
}

func (f *faultyBackend) fault(op string, call func() error) error {
	f.mu.Lock()
	m := f.armed[op]
	delete(f.armed, op)
	if m != 0 {
		f.hit[op]++
	}
	f.mu.Unlock()
	lost := fmt.Errorf("%s: %w: read tcp 127.0.0.1:1->127.0.0.1:2: %w", op, cluster.ErrUnavailable, os.ErrDeadlineExceeded)
	switch m {
	case appliedReplyLost:
		if err := call(); err != nil {
			return err
		}
		return lost
	case sentNotApplied:
		return lost
	case notReached:
		return fmt.Errorf("%s: %w: %w", op, cluster.ErrUnavailable, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED})
	}
	return call()
}

func (f *faultyBackend) ReleaseSeat(ctx context.Context, roomID string, seq uint64) error {
	return f.fault("release", func() error { return f.Backend.ReleaseSeat(ctx, roomID, seq) })
}

func (f *faultyBackend) Consume(ctx context.Context, c cluster.Claims, seq uint64) error {
	return f.fault("consume", func() error { return f.Backend.Consume(ctx, c, seq) })
}

func directorySeats(b cluster.Backend, roomID string) int {
	rec, err := b.LookupRoom(context.Background(), roomID)
	if err != nil {
		return -1
	}
	return rec.Seats
}

// TestSeatSyncRepairsCutOffSeatOperations: a seat release or consume cut
// off mid-call, applied in Redis or not, leaves the room's directory seat
// count right within one seat sync, and the count stays right (a release
// applied and then repaired is not taken twice).
func TestSeatSyncRepairsCutOffSeatOperations(t *testing.T) {
	rs := redistest.Start(t)
	for _, tc := range []struct {
		name string
		op   string
		mode faultMode
	}{
		{"release applied, reply lost", "release", appliedReplyLost},
		{"release lost on the way", "release", sentNotApplied},
		{"release never reached Redis", "release", notReached},
		{"consume applied, reply lost", "consume", appliedReplyLost},
		{"consume lost on the way", "consume", sentNotApplied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rb, err := cluster.NewRedis(cluster.RedisConfig{Config: cluster.Config{Secret: []byte(testSecret)},
				Addr: rs.Addr(), Prefix: fmt.Sprintf("seat%d:", time.Now().UnixNano())})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = rb.Close() })
			fb := &faultyBackend{Backend: rb, armed: map[string]faultMode{}, hit: map[string]int{}}
			s := start(t, engine.Config{
				NodeID: "n1",
				Cluster: engine.ClusterConfig{Backend: fb, Shared: true, Secret: testSecret,
					HeartbeatInterval: 100 * time.Millisecond},
			}, room.Config{TickRate: 20, MaxPlayers: 4})
			a, b := dial(t, s, &recorder{}), dial(t, s, &recorder{})
			ja, err := a.JoinOrCreate(ctx5(t), "sum", client.JoinOptions{})
			if err != nil {
				t.Fatal(err)
			}
			seats := func() int { return directorySeats(fb, ja.RoomId) }
			fb.arm(tc.op, tc.mode)
			want := 1
			if tc.op == "release" {
				if jb, err := b.JoinOrCreate(ctx5(t), "sum", client.JoinOptions{}); err != nil || jb.RoomId != ja.RoomId {
					t.Fatalf("second join: %v, room %v want %s", err, jb, ja.RoomId)
				}
				if _, err := b.Leave(ctx5(t)); err != nil {
					t.Fatal(err)
				}
			} else {
				// The consume fails: the join is refused, the player is
				// not in the room, and its seat must not stay taken.
				if _, err := b.JoinOrCreate(ctx5(t), "sum", client.JoinOptions{}); err == nil {
					t.Fatal("join with a failed consume succeeded")
				}
			}
			// A release goes out after Left (the directory queue).
			eventually(t, "the fault hit", func() bool { return fb.hits(tc.op) == 1 })
			// Two syncs after the fault: the second began after it.
			syncs := metricValue(t, s, "tickwire_directory_seat_syncs_total")
			eventually(t, "two seat syncs", func() bool {
				return metricValue(t, s, "tickwire_directory_seat_syncs_total") >= syncs+2
			})
			if got := seats(); got != want {
				t.Fatalf("directory seats = %d after a sync, want %d", got, want)
			}
			// And it stays so (a repaired release is not applied twice).
			syncs = metricValue(t, s, "tickwire_directory_seat_syncs_total")
			eventually(t, "two more seat syncs", func() bool {
				return metricValue(t, s, "tickwire_directory_seat_syncs_total") >= syncs+2
			})
			if got := seats(); got != want {
				t.Fatalf("directory seats = %d later, want %d", got, want)
			}
			if n := engine.SeatsInTransit(s.e); n != 0 {
				t.Fatalf("%d players still counted in transit", n)
			}
		})
	}
}

// TestSeatSyncRepairsReleaseCutOffOnTheWire: the node talks to a real
// Redis through a proxy that cuts the connection carrying a seat release,
// after Redis applied it (the reply is lost) or before it got there. The
// node only sees a connection reset mid-call either way; the room's
// directory seat count is right after the next seat sync and stays so.
func TestSeatSyncRepairsReleaseCutOffOnTheWire(t *testing.T) {
	rs := redistest.Start(t)
	for _, tc := range []struct {
		name  string
		apply bool
	}{{"applied, reply lost", true}, {"lost on the way", false}} {
		t.Run(tc.name, func(t *testing.T) {
			proxy := newRedisFaultProxy(t, rs.Addr())
			s := start(t, engine.Config{
				NodeID: "n1",
				Cluster: engine.ClusterConfig{RedisAddr: proxy.Addr(), RedisPrefix: fmt.Sprintf("wire%d:", time.Now().UnixNano()),
					Secret: testSecret, HeartbeatInterval: 100 * time.Millisecond},
			}, room.Config{TickRate: 20, MaxPlayers: 4})
			a, b := dial(t, s, &recorder{}), dial(t, s, &recorder{})
			ja, err := a.JoinOrCreate(ctx5(t), "sum", client.JoinOptions{})
			if err != nil {
				t.Fatal(err)
			}
			seats := func() int { return directorySeats(s.e.Backend(), ja.RoomId) }
			// Once through join and leave first, so every script is cached
			// in Redis and the cut command is the release itself.
			join := func() {
				if jb, err := b.JoinOrCreate(ctx5(t), "sum", client.JoinOptions{}); err != nil || jb.RoomId != ja.RoomId {
					t.Fatalf("join: %v, room %v want %s", err, jb, ja.RoomId)
				}
				eventually(t, "two seats in the directory", func() bool { return seats() == 2 })
			}
			join()
			if _, err := b.Leave(ctx5(t)); err != nil {
				t.Fatal(err)
			}
			eventually(t, "one seat in the directory", func() bool { return seats() == 1 })
			join()
			// The release script: EVALSHA sha numkeys prefix now room seq.
			proxy.arm(func(cmd [][]byte) bool {
				return len(cmd) == 7 && bytes.EqualFold(cmd[0], []byte("evalsha")) && string(cmd[5]) == ja.RoomId
			}, tc.apply)
			if _, err := b.Leave(ctx5(t)); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the release cut off", func() bool { return proxy.hitCount() == 1 })
			for range 2 { // two syncs after the cut: the second began after it
				syncs := metricValue(t, s, "tickwire_directory_seat_syncs_total")
				eventually(t, "two seat syncs", func() bool {
					return metricValue(t, s, "tickwire_directory_seat_syncs_total") >= syncs+2
				})
				if got := seats(); got != 1 {
					t.Fatalf("directory seats = %d, want 1", got)
				}
			}
		})
	}
}
