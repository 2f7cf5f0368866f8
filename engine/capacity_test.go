package engine_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/engine"
	"github.com/tickwire/tickwire/engine/internal/redistest"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/room"
)

func waitingStatuses(r *recorder, ticket string) []*tickwirev1.MatchmakerStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*tickwirev1.MatchmakerStatus
	for _, m := range r.events {
		if st := m.GetMatchmakerStatus(); st.GetTicketId() == ticket &&
			st.GetStatus() == tickwirev1.MatchmakerTicketStatus_MATCHMAKER_TICKET_STATUS_WAITING_FOR_CAPACITY {
			out = append(out, st)
		}
	}
	return out
}

// TestClusterFullTicketsWaitForCapacity: two nodes with room for two
// players each hold two matches of two. The holders of a third match get
// MatchmakerStatus WAITING_FOR_CAPACITY (not silence), and their match as
// soon as a placed pair leaves.
func TestClusterFullTicketsWaitForCapacity(t *testing.T) {
	rs := redistest.Start(t)
	q := engine.QueueConfig{Name: "sum", MatchSize: 2, Interval: 50 * time.Millisecond, TicketTimeout: 30 * time.Second}
	nodes := make([]*server, 2)
	for i := range nodes {
		nodes[i] = start(t, engine.Config{
			NodeID: fmt.Sprintf("n%d", i+1),
			Cluster: engine.ClusterConfig{
				RedisAddr: rs.Addr(), Secret: testSecret, Capacity: 2,
				HeartbeatInterval: 200 * time.Millisecond, NodeTTL: 2 * time.Second,
				Queues: []engine.QueueConfig{q},
			},
		}, room.Config{TickRate: 20, MaxPlayers: 2})
	}
	eventually(t, "nodes registered", func() bool {
		ns, err := nodes[0].e.Backend().Nodes(context.Background())
		return err == nil && len(ns) == 2
	})
	type player struct {
		c      *client.Client
		rec    *recorder
		ticket string
	}
	ps := make([]player, 6)
	add := func(i int) {
		ps[i].rec = &recorder{}
		c := dial(t, nodes[i%2], ps[i].rec)
		id, err := c.MatchmakerAdd(ctx5(t), &tickwirev1.MatchmakerAdd{Queue: "sum"})
		if err != nil {
			t.Fatal(err)
		}
		ps[i].c, ps[i].ticket = c, id
		t.Cleanup(func() { _ = c.Close() })
	}
	// Two pairs fill both nodes.
	for i := range 4 {
		add(i)
		if i%2 == 0 {
			continue
		}
		for j := i - 1; j <= i; j++ {
			eventually(t, fmt.Sprint("player ", j, " matched"), func() bool { return matchedEvent(ps[j].rec) != nil })
			if _, err := ps[j].c.JoinWithReservation(ctx5(t), matchedEvent(ps[j].rec).Reservation); err != nil {
				t.Fatalf("player %d joins: %v", j, err)
			}
		}
	}
	for i := 0; i < 4; i += 2 {
		if a, b := matchedEvent(ps[i].rec).RoomId, matchedEvent(ps[i+1].rec).RoomId; a != b {
			t.Fatalf("pair %d split over rooms %s and %s", i/2, a, b)
		}
	}
	// The third pair forms a match that no node has room for.
	waitStart := time.Now()
	add(4)
	add(5)
	for i := 4; i < 6; i++ {
		eventually(t, fmt.Sprint("player ", i, " told waiting for capacity"), func() bool { return len(waitingStatuses(ps[i].rec, ps[i].ticket)) > 0 })
		st := waitingStatuses(ps[i].rec, ps[i].ticket)[0]
		if st.Queue != "sum" || st.TimeoutMs != 30000 || st.QueuedForMs > uint32(time.Since(waitStart).Milliseconds()) {
			t.Fatalf("status %v", st)
		}
		if matchedEvent(ps[i].rec) != nil {
			t.Fatalf("player %d matched while the cluster is full", i)
		}
	}
	// Capacity frees: the first pair leaves.
	for i := range 2 {
		if _, err := ps[i].c.Leave(ctx5(t)); err != nil {
			t.Fatalf("player %d leaves: %v", i, err)
		}
	}
	for i := 4; i < 6; i++ {
		eventually(t, fmt.Sprint("player ", i, " matched once capacity freed"), func() bool { return matchedEvent(ps[i].rec) != nil })
	}
	waited := time.Since(waitStart)
	if a, b := matchedEvent(ps[4].rec).RoomId, matchedEvent(ps[5].rec).RoomId; a != b {
		t.Fatalf("third pair split over rooms %s and %s", a, b)
	}
	// Rate limit: one status per StatusInterval (5 s by default), not one
	// per matcher round (50 ms).
	for i := 4; i < 6; i++ {
		if n, most := len(waitingStatuses(ps[i].rec, ps[i].ticket)), 1+int(waited/(5*time.Second)); n > most {
			t.Fatalf("player %d got %d waiting statuses in %v (at most %d)", i, n, waited, most)
		}
	}
}
