package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/engine"
	"github.com/tickwire/tickwire/engine/internal/redistest"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/room"
)

// TestSentinelFailover: two nodes on a Redis primary with a replica and
// three Sentinels. The primary is killed (SIGKILL) while a bot joins and
// leaves in a loop: no node fails, a running room keeps ticking for its
// player, the room's directory entry survives, and join-or-create and
// matchmaking work again soon after the Sentinels promote the replica.
func TestSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("runs five Redis processes and a failover")
	}
	const master = "tw-test"
	primary := redistest.Start(t)
	replica := redistest.StartReplica(t, primary)
	sentinels := redistest.StartSentinels(t, master, primary, 3, 2, time.Second)
	var addrs []string
	for _, s := range sentinels {
		addrs = append(addrs, s.Addr())
	}
	ctx := context.Background()
	rc := redis.NewClient(&redis.Options{Addr: replica.Addr()})
	defer rc.Close()
	eventually(t, "replica in sync", func() bool {
		info, err := rc.Info(ctx, "replication").Result()
		return err == nil && strings.Contains(info, "master_link_status:up")
	})
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinels[0].Addr()})
	defer sc.Close()
	eventually(t, "sentinels know the replica and each other", func() bool {
		m, err := sc.Master(ctx, master).Result()
		return err == nil && m["num-slaves"] == "1" && m["num-other-sentinels"] == "2"
	})

	nodes := make([]*server, 2)
	for i := range nodes {
		nodes[i] = start(t, engine.Config{
			NodeID: fmt.Sprintf("n%d", i+1),
			Cluster: engine.ClusterConfig{
				RedisSentinelMaster: master, RedisSentinelAddrs: addrs, Secret: testSecret, Capacity: 1000,
				HeartbeatInterval: 200 * time.Millisecond, NodeTTL: 2 * time.Second,
				Queues: []engine.QueueConfig{{Name: "sum", MatchSize: 2, Interval: 50 * time.Millisecond}},
			},
		}, room.Config{TickRate: 20, MaxPlayers: 4})
	}
	eventually(t, "nodes registered", func() bool {
		ns, err := nodes[0].e.Backend().Nodes(ctx)
		return err == nil && len(ns) == 2
	})
	// A player in a room of n1, joined through n2.
	pr := &recorder{}
	player := dial(t, nodes[1], pr)
	j, err := player.Create(ctx5(t), "sum", client.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ticks := func() uint32 {
		_, tick, _, _ := pr.states.Latest()
		return tick
	}
	// Load: a bot joins and leaves through n1 until the test ends.
	bot := dial(t, nodes[0], nil)
	var stop atomic.Bool
	var wg sync.WaitGroup
	var botJoins, botErrs atomic.Int64
	wg.Go(func() {
		for i := 0; i < 100000 && !stop.Load(); i++ {
			c, cancel := context.WithTimeout(ctx, 3*time.Second)
			if _, err := bot.JoinOrCreate(c, "sum", client.JoinOptions{}); err != nil {
				botErrs.Add(1)
				var se *client.ServerError
				if !errors.As(err, &se) {
					cancel()
					return // closed: reported below
				}
				time.Sleep(20 * time.Millisecond) // back off, as a client would
			} else {
				botJoins.Add(1)
				_, _ = bot.Leave(c)
			}
			cancel()
		}
	})
	defer func() { stop.Store(true); wg.Wait() }()
	eventually(t, "bot joining", func() bool { return botJoins.Load() > 10 })

	primary.Stop()
	killed := time.Now()
	eventually(t, "replica promoted", func() bool {
		a, err := sc.GetMasterAddrByName(ctx, master).Result()
		return err == nil && len(a) == 2 && a[1] == fmt.Sprint(replica.Port())
	})
	promoted := time.Now()
	t.Logf("primary killed; promotion seen after %v", promoted.Sub(killed))

	// Joins work again.
	nc := dial(t, nodes[1], nil)
	eventually(t, "join-or-create after the failover", func() bool {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := nc.JoinOrCreate(c, "sum", client.JoinOptions{})
		return err == nil
	})
	joinAt := time.Since(promoted)
	// Matchmaking works again.
	ra, rb := &recorder{}, &recorder{}
	a, b := dial(t, nodes[0], ra), dial(t, nodes[1], rb)
	for _, c := range []*client.Client{a, b} {
		eventually(t, "ticket queued after the failover", func() bool {
			_, err := c.MatchmakerAdd(ctx5(t), &tickwirev1.MatchmakerAdd{Queue: "sum"})
			return err == nil
		})
	}
	eventually(t, "match after the failover", func() bool { return matchedEvent(ra) != nil && matchedEvent(rb) != nil })
	t.Logf("promotion to first successful join %v, to a match %v; bot: %d joins, %d errors",
		joinAt, time.Since(promoted), botJoins.Load(), botErrs.Load())

	// The room kept ticking and its player is still there, seat included.
	before := ticks()
	eventually(t, "room still ticking", func() bool { return ticks() > before+5 })
	if err := player.Err(); err != nil {
		t.Fatalf("player disconnected: %v", err)
	}
	if err := bot.Err(); err != nil {
		t.Fatalf("bot disconnected: %v", err)
	}
	eventually(t, "room in the directory with its seat", func() bool {
		rec, err := nodes[0].e.Backend().LookupRoom(ctx, j.RoomId)
		return err == nil && rec.Seats >= 1
	})
	// A node whose heartbeats failed for NodeTTL during the failover
	// registers again by itself.
	eventually(t, "both nodes registered after the failover", func() bool {
		ns, err := nodes[1].e.Backend().Nodes(ctx)
		return err == nil && len(ns) == 2
	})
}
