package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/engine"
	"github.com/tickwire/tickwire/engine/internal/redistest"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/room"
)

func matchedEvent(r *recorder) *tickwirev1.MatchmakerMatched {
	return r.find(func(m *tickwirev1.ServerMessage) bool { return m.GetMatchmakerMatched().GetRoomId() != "" }).GetMatchmakerMatched()
}

func timeoutEvent(r *recorder) *tickwirev1.Error {
	return r.find(func(m *tickwirev1.ServerMessage) bool {
		return m.RequestId == 0 && m.GetError().GetCode() == tickwirev1.ErrorCode_ERROR_CODE_MATCHMAKING_TIMEOUT
	}).GetError()
}

// TestRedisRestartKeepsTickets: a ticket acknowledged just before Redis
// restarts empty is queued again by its node once the node re-registers,
// and matches with a ticket added after the restart. A player in a room
// keeps playing throughout.
func TestRedisRestartKeepsTickets(t *testing.T) {
	rs := redistest.Start(t)
	nodes := startCluster(t, rs.Addr(), 2, room.Config{TickRate: 20, MaxPlayers: 2},
		engine.QueueConfig{Name: "sum", MatchSize: 2, Interval: 50 * time.Millisecond, TicketTimeout: 30 * time.Second})
	playing := &recorder{}
	pc := dial(t, nodes[1], playing)
	if _, err := pc.Create(ctx5(t), "sum", client.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	ra := &recorder{}
	a := dial(t, nodes[0], ra)
	if _, err := a.MatchmakerAdd(ctx5(t), &tickwirev1.MatchmakerAdd{Queue: "sum"}); err != nil {
		t.Fatal(err)
	}
	rs.Restart() // empty: the ticket, the nodes and the rooms are gone
	restarted := time.Now()
	rb := &recorder{}
	b := dial(t, nodes[1], rb)
	// Ticket holders retry while the nodes re-register.
	eventually(t, "second ticket queued", func() bool {
		_, err := b.MatchmakerAdd(ctx5(t), &tickwirev1.MatchmakerAdd{Queue: "sum"})
		return err == nil
	})
	eventually(t, "both tickets matched", func() bool { return matchedEvent(ra) != nil && matchedEvent(rb) != nil })
	t.Logf("Redis restart to match of the re-queued ticket: %v", time.Since(restarted))
	ma, mb := matchedEvent(ra), matchedEvent(rb)
	if ma.RoomId != mb.RoomId {
		t.Fatalf("matched into different rooms %s and %s", ma.RoomId, mb.RoomId)
	}
	if _, err := a.JoinWithReservation(ctx5(t), ma.Reservation); err != nil {
		t.Fatalf("join the match: %v", err)
	}
	if _, err := pc.Ping(ctx5(t)); err != nil && !errors.Is(err, client.ErrNoClockSample) {
		t.Fatalf("player in a running room after the restart: %v", err)
	}
	if m := pc.Err(); m != nil {
		t.Fatalf("player disconnected: %v", m)
	}
}

// TestRedisOutageTicketTimesOut: while Redis is down nobody can time a
// ticket out in the queue, so its node does: the holder gets the timeout
// error shortly after the queue's TicketTimeout, and stays connected.
func TestRedisOutageTicketTimesOut(t *testing.T) {
	rs := redistest.Start(t)
	nodes := startCluster(t, rs.Addr(), 1, room.Config{TickRate: 20, MaxPlayers: 2},
		engine.QueueConfig{Name: "sum", MatchSize: 2, Interval: 50 * time.Millisecond, TicketTimeout: time.Second})
	ra := &recorder{}
	a := dial(t, nodes[0], ra)
	id, err := a.MatchmakerAdd(ctx5(t), &tickwirev1.MatchmakerAdd{Queue: "sum"})
	if err != nil {
		t.Fatal(err)
	}
	rs.Stop()
	stopped := time.Now()
	eventually(t, "timeout error", func() bool { return timeoutEvent(ra) != nil })
	t.Logf("timeout error %v after Redis stopped (ticket timeout 1 s)", time.Since(stopped))
	if e := timeoutEvent(ra); e.TicketId != id || !strings.Contains(e.Message, "matchmaking timed out after 1 s") {
		t.Fatalf("timeout error %v, want ticket %s and %q", e, id, "matchmaking timed out after 1 s")
	}
	if _, err := a.Ping(ctx5(t)); err != nil && !errors.Is(err, client.ErrNoClockSample) {
		t.Fatalf("connection during the outage: %v", err)
	}
	// A new ticket during the outage is refused as unavailable, not lost.
	_, err = a.MatchmakerAdd(context.Background(), &tickwirev1.MatchmakerAdd{Queue: "sum"})
	var se *client.ServerError
	if !errors.As(err, &se) || se.Code != tickwirev1.ErrorCode_ERROR_CODE_MATCHMAKING_UNAVAILABLE {
		t.Fatalf("add during outage: %v", err)
	}
}
