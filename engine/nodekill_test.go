package engine_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/engine/internal/redistest"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

// TestSeatsSurviveANodeKill: 30 players through a load balancer in front of
// three node processes; one node is killed with SIGKILL. Every player whose
// room lived on another node is back in its seat (same room, same player
// id) within the room's reconnection grace, whichever node it had entered
// through; the dead node's players are told their room is lost and join a
// new room by themselves.
func TestSeatsSurviveANodeKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs node processes")
	}
	rs := redistest.Start(t)
	const secret = "seats test secret"
	ps := startArena(t, buildArena(t), secret, 3, "-redis", rs.Addr(), "-capacity", "100")
	b := watchCluster(t, rs.Addr(), secret, len(ps))
	addrs := make([]string, len(ps))
	for i, p := range ps {
		addrs[i] = p.addr
	}
	lb := newBalancer(t, addrs)
	url := "ws://" + lb.ln.Addr().String() + "/ws"

	type player struct {
		c      *client.Client
		joined *tickwirev1.Joined
		owner  string
		back   chan *tickwirev1.Joined
		at     time.Time // when it came back (written before back is sent)
	}
	players := make([]*player, 30)
	for i := range players {
		p := &player{back: make(chan *tickwirev1.Joined, 4)}
		c, err := client.Dial(ctx5(t), url, client.Options{
			Name: fmt.Sprint("bot", i), SilenceTimeout: time.Second,
			OnReconnected: func(j *tickwirev1.Joined) { p.at = time.Now(); p.back <- j },
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if p.joined, err = c.JoinOrCreate(ctx5(t), "arena", client.JoinOptions{}); err != nil {
			t.Fatal(err)
		}
		rec, err := b.LookupRoom(context.Background(), p.joined.RoomId)
		if err != nil {
			t.Fatal(err)
		}
		p.c, p.owner = c, rec.NodeID
		players[i] = p
	}
	// Kill the node that owns the fewest rooms' players but still some:
	// node p1 (every node enters a third of the players through the
	// balancer).
	victim := "p1"
	var kept, lost int
	for _, p := range players {
		if p.owner == victim {
			lost++
		} else {
			kept++
		}
	}
	if kept == 0 {
		t.Fatal("every room is on the victim node: nothing to keep")
	}
	_ = ps[0].cmd.Process.Signal(syscall.SIGKILL)
	killed := time.Now()

	// Players of surviving rooms: those that entered through the dead node
	// reconnect and resume; the others never noticed. Either way the seat
	// is the same.
	deadline := killed.Add(15 * time.Second)
	var resumes []time.Duration
	for _, p := range players {
		if p.owner == victim {
			continue
		}
		for {
			room, id := p.c.Room()
			if room == p.joined.RoomId && id == p.joined.PlayerId {
				if _, err := p.c.Ping(ctx5(t)); err == nil || errors.Is(err, client.ErrNoClockSample) {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("a player of surviving room %s lost its seat (now %q/%d, err %v)", p.joined.RoomId, room, id, p.c.Err())
			}
			time.Sleep(20 * time.Millisecond)
		}
		select {
		case j := <-p.back:
			if !j.Resumed || j.PlayerId != p.joined.PlayerId || j.RoomId != p.joined.RoomId {
				t.Errorf("a player of a surviving room came back as %+v, was player %d in %s", j, p.joined.PlayerId, p.joined.RoomId)
			}
			resumes = append(resumes, p.at.Sub(killed))
		default:
		}
	}
	// The dead node's players are told the room is lost and join new rooms
	// by themselves.
	deadline = killed.Add(40 * time.Second)
	rejoined := 0
	for _, p := range players {
		if p.owner != victim {
			continue
		}
		select {
		case j := <-p.back:
			if j.Resumed || j.RoomId == p.joined.RoomId {
				t.Errorf("a player of the dead node's room resumed it: %+v", j)
			}
			rejoined++
		case <-time.After(time.Until(deadline)):
			t.Errorf("a player of the dead node's room never joined a new one (err %v)", p.c.Err())
		}
	}
	sort.Slice(resumes, func(i, j int) bool { return resumes[i] < resumes[j] })
	t.Logf("seats kept: %d of %d whose room survived (%d reconnected: %v after the kill); %d of %d players of the dead node joined a new room",
		kept, kept, len(resumes), resumes, rejoined, lost)
}
