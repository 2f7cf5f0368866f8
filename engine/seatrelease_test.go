package engine_test

import (
	"context"
	"errors"
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
// data: persistence on) the owner sends the owed release and the room's
// directory seat count matches its players again. The same for the removal
// of a room that closed during an outage.
func TestSeatCountConvergesAfterFailedRelease(t *testing.T) {
	rs := redistest.StartPersistent(t)
	// A long NodeTTL: the node stays registered through the outage, so
	// nothing re-publishes its rooms and only the owed release can fix the
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
	seats := func() int {
		rec, err := s.e.Backend().LookupRoom(context.Background(), ja.RoomId)
		if err != nil {
			return -1
		}
		return rec.Seats
	}
	eventually(t, "two seats in the directory", func() bool { return seats() == 2 })

	rs.Stop()
	if _, err := b.Leave(ctx5(t)); err != nil {
		t.Fatalf("leave during the outage: %v", err)
	}
	eventually(t, "the failed release owed", func() bool { r, _ := engine.OwedReleases(s.e); return r == 1 })
	rs.Start()
	eventually(t, "one seat in the directory", func() bool { return seats() == 1 })
	eventually(t, "nothing owed", func() bool { r, d := engine.OwedReleases(s.e); return r == 0 && d == 0 })
	if v := metricValue(t, s, "tickwire_directory_updates_retried_total"); v != 1 {
		t.Fatalf("directory_updates_retried_total = %v, want 1", v)
	}

	// The last player leaves during a second outage and the empty room
	// closes: its removal is owed too, and the record goes once Redis is back.
	rs.Stop()
	if _, err := a.Leave(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the room closed on its node", func() bool { return len(s.e.Rooms()) == 0 })
	eventually(t, "the removal owed", func() bool { r, d := engine.OwedReleases(s.e); return r == 0 && d == 1 })
	rs.Start()
	eventually(t, "the closed room gone from the directory", func() bool {
		_, err := s.e.Backend().LookupRoom(context.Background(), ja.RoomId)
		return errors.Is(err, cluster.ErrRoomNotFound)
	})
	eventually(t, "nothing owed", func() bool { r, d := engine.OwedReleases(s.e); return r == 0 && d == 0 })
}
