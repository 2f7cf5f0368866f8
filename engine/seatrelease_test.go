package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/engine"
	"github.com/tickwire/tickwire/engine/internal/redistest"
	"github.com/tickwire/tickwire/room"
)

// TestSeatCountConvergesAfterFailedRelease: a player leaves while Redis is
// down, so the directory never hears of it; once Redis is back (with its
// data: persistence on) the owner sends the owed release and the room's
// directory seat count matches its players again.
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
	}, room.Config{TickRate: 20, MaxPlayers: 4})
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
	eventually(t, "the failed release owed", func() bool { return engine.OwedReleases(s.e) == 1 })
	rs.Start()
	eventually(t, "one seat in the directory", func() bool { return seats() == 1 })
	eventually(t, "nothing owed", func() bool { return engine.OwedReleases(s.e) == 0 })
	if v := metricValue(t, s, "tickwire_seat_releases_retried_total"); v != 1 {
		t.Fatalf("seat_releases_retried_total = %v, want 1", v)
	}
	if _, err := a.Leave(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "no seat in the directory", func() bool { return seats() <= 0 })
}
