package engine_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/engine"
	"github.com/tickwire/tickwire/engine/cluster"
	"github.com/tickwire/tickwire/engine/internal/redistest"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/room"
)

// lossyBus loses the first matchmaker notice batches published through
// any node sharing budget, as a subscription that is reconnecting through
// a Redis failover loses what is published meanwhile.
type lossyBus struct {
	cluster.Backend
	budget *atomic.Int64
}

func (b lossyBus) Publish(ctx context.Context, node string, p []byte) error {
	if cluster.IsNotices(p) && b.budget.Add(-1) >= 0 {
		return nil // lost on the way
	}
	return b.Backend.Publish(ctx, node, p)
}

// TestLostMatchNoticeRecovered: the bus loses every notice of a match (a
// party of two on two nodes); the ticket holder's node fetches the kept
// notices, answers its player and sends the other member's on to its node.
// Each player hears of the match once, with a reservation that joins.
func TestLostMatchNoticeRecovered(t *testing.T) {
	rs := redistest.Start(t)
	var budget atomic.Int64
	budget.Store(2) // the matcher publishes one batch per member's node
	nodes := make([]*server, 2)
	for i := range nodes {
		b, err := cluster.NewRedis(cluster.RedisConfig{Addr: rs.Addr(), Config: cluster.Config{Secret: []byte(testSecret)}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		nodes[i] = start(t, engine.Config{
			NodeID: []string{"n1", "n2"}[i],
			Cluster: engine.ClusterConfig{
				Backend: lossyBus{Backend: b, budget: &budget}, Shared: true, Secret: testSecret,
				Queues: []engine.QueueConfig{{Name: "sum", MatchSize: 2, Interval: 50 * time.Millisecond}},
			},
		}, room.Config{TickRate: 20, MaxPlayers: 2})
	}
	ra, rb := &recorder{}, &recorder{}
	a, b := dial(t, nodes[0], ra), dial(t, nodes[1], rb)
	if _, err := a.MatchmakerAdd(ctx5(t), &tickwirev1.MatchmakerAdd{Queue: "sum", Party: []string{b.Welcome().SessionId}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both members told of the match", func() bool { return matchedEvent(ra) != nil && matchedEvent(rb) != nil })
	if left := budget.Load(); left > 0 {
		t.Fatalf("only %d of 2 notice batches were lost", 2-left)
	}
	if got := metricValue(t, nodes[0], "tickwire_matchmaker_notices_recovered_total"); got != 1 {
		t.Fatalf("holder's node recovered %v notices, want 1", got)
	}
	ma, mb := matchedEvent(ra), matchedEvent(rb)
	if ma.RoomId != mb.RoomId {
		t.Fatalf("members matched into %s and %s", ma.RoomId, mb.RoomId)
	}
	for _, p := range []struct {
		c *client.Client
		m *tickwirev1.MatchmakerMatched
	}{{a, ma}, {b, mb}} {
		if _, err := p.c.JoinWithReservation(ctx5(t), p.m.Reservation); err != nil {
			t.Fatalf("join with the recovered reservation: %v", err)
		}
	}
}
