package engine_test

import (
	"context"
	"errors"
	"fmt"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/engine"
	"github.com/tickwire/tickwire/engine/cluster"
	"github.com/tickwire/tickwire/engine/internal/redistest"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/room"
)

const testSecret = "test cluster secret"

// startCluster starts n in-process nodes sharing the Redis at addr.
func startCluster(t *testing.T, addr string, n int, roomCfg room.Config, queues ...engine.QueueConfig) []*server {
	t.Helper()
	nodes := make([]*server, n)
	for i := range nodes {
		nodes[i] = start(t, engine.Config{
			NodeID: fmt.Sprintf("n%d", i+1),
			Cluster: engine.ClusterConfig{
				RedisAddr: addr, Secret: testSecret, Capacity: 1000,
				HeartbeatInterval: 200 * time.Millisecond, NodeTTL: 2 * time.Second,
				Queues: queues,
			},
		}, roomCfg)
	}
	eventually(t, "nodes registered", func() bool {
		ns, err := nodes[0].e.Backend().Nodes(context.Background())
		return err == nil && len(ns) == n
	})
	return nodes
}

type bot struct {
	c      *client.Client
	rec    *recorder
	entry  int
	joined *tickwirev1.Joined
}

// TestClusterJoinOrCreateAcrossNodes: 300 bots join-or-create through
// random nodes of a 3-node cluster.
func TestClusterJoinOrCreateAcrossNodes(t *testing.T) {
	rs := redistest.Start(t)
	const maxPlayers, bots = 5, 300
	nodes := startCluster(t, rs.Addr(), 3, room.Config{TickRate: 20, MaxPlayers: maxPlayers})
	all := make([]*bot, bots)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 24)
	errs := make(chan error, bots)
	for i := range all {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			b := &bot{rec: &recorder{}, entry: rand.N(len(nodes))}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := client.Dial(ctx, nodes[b.entry].url, b.rec.options(fmt.Sprint("bot", i)))
			if err != nil {
				errs <- err
				return
			}
			b.c = c
			t.Cleanup(func() { _ = c.Close() })
			// A bot retries "unavailable, try again" (a Redis call past its
			// op timeout on a starved machine), as a game client would.
			for attempt := 1; ; attempt++ {
				b.joined, err = c.JoinOrCreate(ctx, "sum", client.JoinOptions{})
				var se *client.ServerError
				if err == nil || attempt == 3 || !errors.As(err, &se) || se.Code != tickwirev1.ErrorCode_ERROR_CODE_MATCHMAKING_UNAVAILABLE {
					break
				}
			}
			if err != nil {
				errs <- fmt.Errorf("bot %d via n%d: %w", i, b.entry+1, err)
				return
			}
			all[i] = b
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	byRoom := map[string][]*bot{}
	for _, b := range all {
		byRoom[b.joined.RoomId] = append(byRoom[b.joined.RoomId], b)
	}
	mixed := 0
	var relayed *bot
	var relayedRoom []*bot
	for id, bs := range byRoom {
		if len(bs) > maxPlayers {
			t.Errorf("room %s has %d players, max %d", id, len(bs), maxPlayers)
		}
		entries := map[int]bool{}
		for _, b := range bs {
			entries[b.entry] = true
		}
		if len(entries) > 1 {
			mixed++
		}
	}
	if mixed == 0 {
		t.Fatal("no room holds players of different entry nodes")
	}
	// The directory agrees: every seat consumed once, none pending.
	b, err := cluster.NewRedis(cluster.RedisConfig{Config: cluster.Config{Secret: []byte(testSecret)}, Addr: rs.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	recs, err := b.ListRooms(context.Background(), "sum")
	if err != nil {
		t.Fatal(err)
	}
	seats := 0
	owner := map[string]string{}
	for _, r := range recs {
		if r.Seats > r.MaxSeats || r.Reserved != 0 {
			t.Errorf("room %s: seats %d reserved %d max %d", r.ID, r.Seats, r.Reserved, r.MaxSeats)
		}
		seats += r.Seats
		owner[r.ID] = r.NodeID
	}
	if seats != bots {
		t.Fatalf("directory counts %d seats, want %d (reservation lost or double-used)", seats, bots)
	}
	// Find a relayed bot (entry node is not the owner) sharing a room with
	// a bot of another entry node.
	for id, bs := range byRoom {
		for _, x := range bs {
			if fmt.Sprintf("n%d", x.entry+1) != owner[id] && len(bs) > 1 {
				relayed, relayedRoom = x, bs
			}
		}
	}
	if relayed == nil {
		t.Fatal("no relayed session")
	}
	if _, err := relayed.c.SendInput(payload("relayed!")); err != nil {
		t.Fatal(err)
	}
	for _, o := range relayedRoom {
		eventually(t, "everyone in the room sees the relayed input", func() bool {
			st, _, _, ok := o.rec.states.Latest()
			return ok && st.Fields["last"].GetStringValue() == "relayed!"
		})
	}
	var up uint64
	for _, n := range nodes {
		u, _ := n.e.Metrics().RelayFrames()
		up += u
	}
	if up == 0 {
		t.Fatal("no frame was relayed")
	}
}

// TestClusterJoinByIDThroughOtherNode: Join{room_id} on a node that does
// not own the room is relayed; a stale owner cache entry is refreshed.
func TestClusterJoinByIDThroughOtherNode(t *testing.T) {
	rs := redistest.Start(t)
	nodes := startCluster(t, rs.Addr(), 2, room.Config{TickRate: 20, MaxPlayers: 4})
	a := dial(t, nodes[0], nil)
	ja, err := a.Create(ctx5(t), "sum", client.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rb := &recorder{}
	b := dial(t, nodes[1], rb)
	jb, err := b.JoinByID(ctx5(t), ja.RoomId, client.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if jb.RoomId != ja.RoomId || len(jb.Players) != 2 {
		t.Fatalf("joined %v", jb)
	}
	if _, err := a.SendInput(payload("xyz")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B sees A's input", func() bool {
		st, _, _, ok := rb.states.Latest()
		return ok && st.Fields["last"].GetStringValue() == "xyz"
	})
	// The room closes; node 2's cache still names node 1: the join is
	// answered room-not-found after one fresh lookup.
	if err := nodes[0].e.CloseRoom(ctx5(t), ja.RoomId); err != nil {
		t.Fatal(err)
	}
	eventually(t, "room left the directory", func() bool {
		_, err := nodes[1].e.Backend().LookupRoom(context.Background(), ja.RoomId)
		return err != nil
	})
	c := dial(t, nodes[1], nil)
	_, err = c.JoinByID(ctx5(t), ja.RoomId, client.JoinOptions{})
	wantServerError(t, err, tickwirev1.ErrorCode_ERROR_CODE_ROOM_NOT_FOUND)
}

// TestClusterRoomChangesReachDirectory: a room locked by its handler after
// creation is no longer offered by join-or-create on other nodes.
func TestClusterRoomChangesReachDirectory(t *testing.T) {
	rs := redistest.Start(t)
	nodes := startCluster(t, rs.Addr(), 2, room.Config{TickRate: 20, MaxPlayers: 4})
	a := dial(t, nodes[0], nil)
	ja, err := a.JoinOrCreate(ctx5(t), "sum", client.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SendMessage(wrapperspb.String("lock")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "lock published", func() bool {
		rec, err := nodes[1].e.Backend().LookupRoom(context.Background(), ja.RoomId)
		return err == nil && rec.Locked
	})
	b := dial(t, nodes[1], nil)
	jb, err := b.JoinOrCreate(ctx5(t), "sum", client.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if jb.RoomId == ja.RoomId {
		t.Fatal("join-or-create picked a locked room")
	}
}

// TestClusterReservationTokens: forged, expired and reused reservations
// are closed with 4010, 4011 and 4012, in the URL and in Join.
func TestClusterReservationTokens(t *testing.T) {
	rs := redistest.Start(t)
	nodes := startCluster(t, rs.Addr(), 2, room.Config{TickRate: 20, MaxPlayers: 4})
	b, err := cluster.NewRedis(cluster.RedisConfig{Config: cluster.Config{Secret: []byte(testSecret)}, Addr: rs.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	reserve := func() cluster.Reservation {
		res, err := b.JoinOrCreate(context.Background(), cluster.JoinRequest{RoomType: "sum", UserID: "u", MaxSeats: 4})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	forged := cluster.NewSigner([]byte("wrong secret"), nil).Sign(cluster.Claims{ReservationID: "x", RoomID: "r", RoomType: "sum", NodeID: "n1", UserID: "u", ExpiresAt: time.Now().Add(time.Minute)})
	expired := cluster.NewSigner([]byte(testSecret), nil).Sign(cluster.Claims{ReservationID: "y", RoomID: "r", RoomType: "sum", NodeID: "n1", UserID: "u", ExpiresAt: time.Now().Add(-time.Second)})

	// A good one, used through node 2 whatever the owner; then reused.
	good := reserve()
	c := dial(t, nodes[1], nil)
	if _, err := c.JoinWithReservation(ctx5(t), good.Token); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		token string
		code  tickwirev1.CloseCode
	}{
		{"forged", forged, tickwirev1.CloseCode_CLOSE_CODE_RESERVATION_INVALID},
		{"expired", expired, tickwirev1.CloseCode_CLOSE_CODE_RESERVATION_EXPIRED},
		{"reused", good.Token, tickwirev1.CloseCode_CLOSE_CODE_RESERVATION_USED},
	} {
		for i, n := range nodes {
			t.Run(fmt.Sprintf("%s/join/n%d", tc.name, i+1), func(t *testing.T) {
				c := dial(t, n, nil)
				_, _ = c.JoinWithReservation(ctx5(t), tc.token)
				wantClose(t, c, uint16(tc.code))
			})
			t.Run(fmt.Sprintf("%s/url/n%d", tc.name, i+1), func(t *testing.T) {
				r := dialRaw(t, &server{url: n.url + "?reservation=" + tc.token})
				r.wantClose(t, uint16(tc.code))
			})
		}
	}
	// A good reservation in the URL of the non-owner is proxied to the owner.
	res := reserve()
	other := 0
	if res.NodeID == "n1" {
		other = 1
	}
	ctx := ctx5(t)
	c2, err := client.Dial(ctx, nodes[other].url+"?reservation="+res.Token, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if c2.Welcome().NodeId != res.NodeID {
		t.Fatalf("upgrade served by %s, want owner %s", c2.Welcome().NodeId, res.NodeID)
	}
	if j, err := c2.JoinWithReservation(ctx, res.Token); err != nil || j.RoomId != res.RoomID {
		t.Fatalf("join with consumed reservation: %v %v", j, err)
	}
}

// TestClusterTicketMatchmaking: parties queue through different nodes and
// are matched together; every member is told over its own WebSocket and
// joins with the reservation through its own node.
func TestClusterTicketMatchmaking(t *testing.T) {
	rs := redistest.Start(t)
	nodes := startCluster(t, rs.Addr(), 3, room.Config{TickRate: 20, MaxPlayers: 4},
		engine.QueueConfig{Name: "sum", MatchSize: 4, Interval: 50 * time.Millisecond})
	testMatchmaking(t, nodes)
}

// TestEmbeddedTicketMatchmaking: the same on one node with no Redis.
func TestEmbeddedTicketMatchmaking(t *testing.T) {
	s := start(t, engine.Config{Cluster: engine.ClusterConfig{Queues: []engine.QueueConfig{{Name: "sum", MatchSize: 4, Interval: 50 * time.Millisecond}}}},
		room.Config{TickRate: 20, MaxPlayers: 4})
	if s.e.Clustered() {
		t.Fatal("embedded engine reports cluster mode")
	}
	testMatchmaking(t, []*server{s})
}

func testMatchmaking(t *testing.T, nodes []*server) {
	const players = 16 // 4 parties of 2, 8 solos -> 4 matches of 4
	type player struct {
		c     *client.Client
		rec   *recorder
		party int
	}
	ps := make([]*player, players)
	for i := range ps {
		p := &player{rec: &recorder{}, party: -1}
		c, err := client.Dial(ctx5(t), nodes[i%len(nodes)].url, p.rec.options(fmt.Sprint("p", i)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		p.c = c
		ps[i] = p
	}
	for i := 0; i < players; {
		add := &tickwirev1.MatchmakerAdd{Queue: "sum", NumericProperties: map[string]float64{"rating": float64(1000 + i)}}
		n := 1
		if i < 8 { // parties of two, members on different nodes
			add.Party = []string{ps[i+1].c.Welcome().SessionId}
			ps[i].party, ps[i+1].party = i, i
			n = 2
		}
		if _, err := ps[i].c.MatchmakerAdd(ctx5(t), add); err != nil {
			t.Fatal(err)
		}
		i += n
	}
	matched := func(p *player) *tickwirev1.MatchmakerMatched {
		m := p.rec.find(func(m *tickwirev1.ServerMessage) bool { return m.GetMatchmakerMatched().GetRoomId() != "" })
		return m.GetMatchmakerMatched()
	}
	for i, p := range ps {
		eventually(t, fmt.Sprint("player ", i, " matched"), func() bool { return matched(p) != nil })
	}
	rooms := map[string]int{}
	for i, p := range ps {
		m := matched(p)
		rooms[m.RoomId]++
		if p.party >= 0 {
			if mate := matched(ps[p.party]); mate.RoomId != m.RoomId {
				t.Fatalf("party of player %d split: %s vs %s", i, m.RoomId, mate.RoomId)
			}
		}
		j, err := p.c.JoinWithReservation(ctx5(t), m.Reservation)
		if err != nil {
			t.Fatalf("player %d join with reservation: %v", i, err)
		}
		if j.RoomId != m.RoomId {
			t.Fatalf("joined %s, matched %s", j.RoomId, m.RoomId)
		}
	}
	if len(rooms) != players/4 {
		t.Fatalf("rooms %v, want %d of 4", rooms, players/4)
	}
	for id, n := range rooms {
		if n != 4 {
			t.Fatalf("room %s has %d players", id, n)
		}
	}
	// Cancel: a lone ticket is withdrawn and cannot be cancelled twice.
	lone := ps[0].c
	if _, err := lone.Leave(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	id, err := lone.MatchmakerAdd(ctx5(t), &tickwirev1.MatchmakerAdd{Queue: "sum"})
	if err != nil {
		t.Fatal(err)
	}
	if err := lone.MatchmakerCancel(ctx5(t), id); err != nil {
		t.Fatal(err)
	}
	wantServerError(t, lone.MatchmakerCancel(ctx5(t), id), tickwirev1.ErrorCode_ERROR_CODE_BAD_REQUEST)
	_, err = lone.MatchmakerAdd(ctx5(t), &tickwirev1.MatchmakerAdd{Queue: "nope"})
	wantServerError(t, err, tickwirev1.ErrorCode_ERROR_CODE_BAD_REQUEST)
}

// TestClusterRedisDown: with Redis gone, rooms keep ticking, joins and
// matchmaking answer MATCHMAKING_UNAVAILABLE; after a restart they work.
func TestClusterRedisDown(t *testing.T) {
	rs := redistest.Start(t)
	nodes := startCluster(t, rs.Addr(), 2, room.Config{TickRate: 50, MaxPlayers: 4},
		engine.QueueConfig{Name: "sum", MatchSize: 2, Interval: 50 * time.Millisecond})
	ra := &recorder{}
	a := dial(t, nodes[0], ra)
	if _, err := a.Create(ctx5(t), "sum", client.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	rs.Stop()
	_, tick0, _, _ := ra.states.Latest()
	eventually(t, "room keeps ticking", func() bool { _, tick, _, _ := ra.states.Latest(); return tick > tick0+10 })
	c := dial(t, nodes[1], nil)
	_, err := c.JoinOrCreate(ctx5(t), "sum", client.JoinOptions{})
	wantServerError(t, err, tickwirev1.ErrorCode_ERROR_CODE_MATCHMAKING_UNAVAILABLE)
	_, err = c.MatchmakerAdd(ctx5(t), &tickwirev1.MatchmakerAdd{Queue: "sum"})
	wantServerError(t, err, tickwirev1.ErrorCode_ERROR_CODE_MATCHMAKING_UNAVAILABLE)
	rs.Restart()
	// After the restart the nodes re-register (with their rooms) and
	// matchmaking recovers.
	eventually(t, "join-or-create recovers", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := c.JoinOrCreate(ctx, "sum", client.JoinOptions{})
		return err == nil
	})
	if _, err := a.SendInput(payload("still")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "room still running", func() bool {
		st, _, _, ok := ra.states.Latest()
		return ok && st.Fields["last"].GetStringValue() == "still"
	})
}

// BenchmarkClusterJoinOrCreate measures join-or-create through the engine
// over WebSocket on a 3-node cluster (entry nodes in turn, relayed when the
// room is elsewhere), 16 clients in parallel (4 in the clients=4 cases),
// each op a JoinOrCreate then a Leave. It reports p50/p99 join and leave
// latency and joins/s (each join is one seat reservation, consumed). A
// Leave is read by the room on its next tick (10 Hz here), so the clients
// fall into step with the ticks and join in bursts; see docs/cluster.md.
// Sub-benchmarks put more in the directory first: open=10000 places 10,000
// open rooms (pending, one reservation each, 7 free seats); leak=10000
// leaves 10,000 reservations unused in 2,500 rooms of 4, as players who
// never come back do.
func BenchmarkClusterJoinOrCreate(b *testing.B) {
	for _, bc := range []struct {
		name           string
		open, leakRoom int
		workers        int
	}{
		{"rooms=0", 0, 0, 16}, {"open=10000", 10000, 0, 16}, {"leak=10000", 0, 4, 16},
		{"rooms=0,clients=4", 0, 0, 4}, {"open=10000,clients=4", 10000, 0, 4},
	} {
		b.Run(bc.name, func(b *testing.B) { benchClusterJoin(b, bc.open, bc.leakRoom, bc.workers) })
	}
}

func benchClusterJoin(b *testing.B, open, leakRoom, workers int) {
	rs := redistest.Start(b)
	nodes := make([]*server, 3)
	for i := range nodes {
		nodes[i] = start(b, engine.Config{
			NodeID: fmt.Sprintf("b%d", i+1),
			Cluster: engine.ClusterConfig{RedisAddr: rs.Addr(), Secret: testSecret, HeartbeatInterval: 200 * time.Millisecond,
				ReservationTTL: time.Hour},
		}, room.Config{TickRate: 10, MaxPlayers: 8})
	}
	eventually(b, "nodes registered", func() bool {
		ns, err := nodes[0].e.Backend().Nodes(context.Background())
		return err == nil && len(ns) == 3
	})
	bk := nodes[0].e.Backend()
	for i := range open {
		if _, err := bk.JoinOrCreate(context.Background(), cluster.JoinRequest{RoomType: "sum", UserID: "pre", MaxSeats: 8,
			Filter: map[string]string{"k": fmt.Sprint(i)}}); err != nil {
			b.Fatal(err)
		}
	}
	if leakRoom > 0 {
		for i := range 10000 {
			if _, err := bk.JoinOrCreate(context.Background(), cluster.JoinRequest{RoomType: "sum", UserID: "gone", MaxSeats: leakRoom,
				Filter: map[string]string{"leak": "1"}}); err != nil {
				b.Fatalf("leak %d: %v", i, err)
			}
		}
	}
	clients := make([]*client.Client, workers)
	for i := range clients {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := client.Dial(ctx, nodes[i%3].url, client.Options{})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Close() })
		clients[i] = c
	}
	lat := make([][]time.Duration, workers)
	leaveLat := make([][]time.Duration, workers)
	next := make(chan struct{}, workers)
	var wg sync.WaitGroup
	b.ResetTimer()
	startAt := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := clients[w]
			for range next {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				t0 := time.Now()
				_, err := c.JoinOrCreate(ctx, "sum", client.JoinOptions{})
				lat[w] = append(lat[w], time.Since(t0))
				if err == nil {
					t1 := time.Now()
					_, err = c.Leave(ctx)
					leaveLat[w] = append(leaveLat[w], time.Since(t1))
				}
				cancel()
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	for range b.N {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	elapsed := time.Since(startAt)
	b.StopTimer()
	all, leaves := slices.Concat(lat...), slices.Concat(leaveLat...)
	slices.Sort(all)
	slices.Sort(leaves)
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50_ms")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99_ms")
		b.ReportMetric(float64(len(all))/elapsed.Seconds(), "joins/s")
	}
	if len(leaves) > 0 {
		b.ReportMetric(float64(leaves[len(leaves)/2].Microseconds())/1000, "leave_p50_ms")
		b.ReportMetric(float64(leaves[len(leaves)*99/100].Microseconds())/1000, "leave_p99_ms")
	}
}
