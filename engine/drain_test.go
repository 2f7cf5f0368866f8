package engine_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/engine"
	"github.com/tickwire/tickwire/engine/internal/redistest"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/room"
)

// A draining node tells each of its players what the drain means for it:
// a player relayed to a room on another node is sent to reconnect
// elsewhere (CLOSE_CODE_RECONNECT) and resumes its seat there; a player in
// one of the draining node's own rooms hears when the room will close.
func TestDrainTellsPlayers(t *testing.T) {
	rs := redistest.Start(t)
	nodes := make([]*server, 2)
	for i := range nodes {
		nodes[i] = start(t, engine.Config{
			NodeID: fmt.Sprintf("d%d", i+1), DrainTimeout: 3 * time.Second,
			Cluster: engine.ClusterConfig{
				RedisAddr: rs.Addr(), Secret: testSecret, HeartbeatInterval: 200 * time.Millisecond, NodeTTL: 2 * time.Second,
			},
		}, room.Config{TickRate: 20})
	}
	eventually(t, "nodes registered", func() bool {
		ns, err := nodes[0].e.Backend().Nodes(ctx5(t))
		return err == nil && len(ns) == 2
	})
	ctx := ctx5(t)
	// A room on node 2, and a player who enters through node 1 (the
	// balancer's first pick) and is relayed there.
	owner := dial(t, nodes[1], nil)
	jo, err := owner.Create(ctx, "sum", client.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lb := newBalancer(t, []string{hostOf(t, nodes[0].url), hostOf(t, nodes[1].url)})
	back := make(chan *tickwirev1.Joined, 1)
	relayed, err := client.Dial(ctx, "ws://"+lb.ln.Addr().String()+"/ws", client.Options{
		OnReconnected: func(j *tickwirev1.Joined) { back <- j },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = relayed.Close() })
	jr, err := relayed.JoinByID(ctx, jo.RoomId, client.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A player in a room of node 1.
	rl := &recorder{}
	local := dial(t, nodes[0], rl)
	if _, err := local.Create(ctx, "sum", client.JoinOptions{}); err != nil {
		t.Fatal(err)
	}

	drainStart := time.Now()
	nodes[0].cancel()
	select {
	case j := <-back:
		if !j.Resumed || j.PlayerId != jr.PlayerId || j.RoomId != jo.RoomId {
			t.Fatalf("the relayed player came back as %+v, want player %d resumed in %s", j, jr.PlayerId, jo.RoomId)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the relayed player was not sent elsewhere (err %v)", relayed.Err())
	}
	eventually(t, "RoomClosing", func() bool {
		m := rl.find(func(m *tickwirev1.ServerMessage) bool { return m.GetRoomClosing() != nil })
		if m == nil {
			return false
		}
		at := time.UnixMilli(int64(m.GetRoomClosing().CloseAtMs))
		if d := at.Sub(drainStart); d < 2*time.Second || d > 5*time.Second {
			t.Fatalf("RoomClosing at %v after the drain started, want about the 3 s drain timeout", d)
		}
		return true
	})
}
