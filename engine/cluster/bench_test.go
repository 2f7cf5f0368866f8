package cluster

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tickwire/tickwire/engine/internal/redistest"
)

func benchImpls(b *testing.B) []impl {
	return []impl{memoryImpl(), redisImplOn(redistest.Start(b))}
}

// BenchmarkJoinOrCreate: parallel seat reservations (join-or-create +
// consume, rooms of 10) through 3 coordinators on one Redis. Reports
// reservations/s and the join-or-create latency p50/p99.
func BenchmarkJoinOrCreate(b *testing.B) {
	for _, im := range benchImpls(b) {
		b.Run(im.name, func(b *testing.B) {
			ctx := context.Background()
			bs := im.new(b, Config{NodeTTL: time.Hour}, 3)
			for i, x := range bs {
				if _, err := x.Heartbeat(ctx, NodeInfo{ID: fmt.Sprint("n", i)}); err != nil {
					b.Fatal(err)
				}
			}
			var mu sync.Mutex
			var lat []time.Duration
			var seq atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(4)
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					i := seq.Add(1)
					c := bs[i%3]
					t0 := time.Now()
					res, err := c.JoinOrCreate(ctx, JoinRequest{RoomType: "arena", UserID: fmt.Sprint("u", i), MaxSeats: 10})
					mine = append(mine, time.Since(t0))
					if err != nil {
						b.Error(err)
						return
					}
					if err := bs[(i+1)%3].Consume(ctx, res.Claims, 0); err != nil {
						b.Error(err)
						return
					}
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			el := time.Since(start)
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(len(lat))/el.Seconds(), "reservations/s")
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			}
		})
	}
}

// BenchmarkMatch10k: one matcher round over 10,000 queued single-player
// tickets (matches of 10): read, form, commit (placement + reservations),
// notify.
func BenchmarkMatch10k(b *testing.B) {
	for _, im := range benchImpls(b) {
		b.Run(im.name, func(b *testing.B) {
			ctx := context.Background()
			clk := newFakeClock()
			bk := im.new(b, Config{Now: clk.Now, NodeTTL: time.Hour, ReservationTTL: time.Hour}, 1)[0]
			for i := range 3 {
				if _, err := bk.Heartbeat(ctx, NodeInfo{ID: fmt.Sprint("n", i)}); err != nil {
					b.Fatal(err)
				}
			}
			m := NewMatcher(bk, MatcherConfig{Queue: "q", Holder: "h", MatchSize: 10, Now: clk.Now, LeaseTTL: time.Hour})
			rng := rand.New(rand.NewPCG(1, 2))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				if r, ok := bk.(*Redis); ok {
					pipe := r.rdb.Pipeline()
					for k := range 10000 {
						t := Ticket{ID: fmt.Sprintf("%d-%d", i, k), Queue: "q", NodeID: fmt.Sprint("n", k%3), CreatedAt: clk.Now(),
							Party: []PartyMember{{UserID: fmt.Sprint("u", k)}}, NumericProps: map[string]float64{"rating": float64(rng.IntN(3000))}}
						js, _ := jsonTicket(t)
						pipe.HSet(ctx, r.ticketsKey("q"), t.ID, js)
					}
					if _, err := pipe.Exec(ctx); err != nil {
						b.Fatal(err)
					}
				} else {
					for k := range 10000 {
						if err := bk.AddTicket(ctx, Ticket{ID: fmt.Sprintf("%d-%d", i, k), Queue: "q", NodeID: fmt.Sprint("n", k%3),
							Party: []PartyMember{{UserID: fmt.Sprint("u", k)}}, NumericProps: map[string]float64{"rating": float64(rng.IntN(3000))}}); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.StartTimer()
				rd, err := m.RunOnce(ctx)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				b.ReportMetric(float64(len(rd.Matches)*10), "matched-players")
				// Clear leftovers so every round starts with exactly 10,000.
				left, _ := bk.Tickets(ctx, "q")
				for _, t := range left {
					_ = bk.CancelTicket(ctx, "q", t.ID)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkSyncSeats: one node's seat sync (SyncSeats of every room it
// owns) at 100 and 1,000 rooms of 8 seats with players in them and a few
// sequenced operations since the last sync. Reports the Redis time per
// sync (redis-us/op: what the sync costs every other caller of Redis,
// once per heartbeat interval per node).
func BenchmarkSyncSeats(b *testing.B) {
	srv := redistest.Start(b)
	for _, im := range []impl{memoryImpl(), redisImplOn(srv)} {
		for _, n := range []int{100, 1000} {
			b.Run(fmt.Sprintf("%s/rooms=%d", im.name, n), func(b *testing.B) {
				ctx := context.Background()
				bk := im.new(b, Config{NodeTTL: time.Hour}, 1)[0]
				if _, err := bk.Heartbeat(ctx, NodeInfo{ID: "n"}); err != nil {
					b.Fatal(err)
				}
				rooms := make([]RoomSeats, n)
				for i := range rooms {
					rooms[i] = RoomSeats{ID: fmt.Sprint("r", i), Seats: 1 + i%7}
					if err := bk.PutRoom(ctx, RoomRecord{ID: rooms[i].ID, Type: "t", NodeID: "n", MaxSeats: 8, Seats: rooms[i].Seats}); err != nil {
						b.Fatal(err)
					}
				}
				var seq uint64
				_, isRedis := bk.(*Redis)
				redisUs := 0.0
				for i := 0; b.Loop(); i++ {
					// A release in one room in ten since the last sync.
					b.StopTimer()
					for k := i % 10; k < n; k += 10 {
						seq++
						if err := bk.ReleaseSeat(ctx, rooms[k].ID, seq); err != nil {
							b.Fatal(err)
						}
					}
					us0 := 0.0
					if isRedis {
						us0 = scriptMicros(b, bk)
					}
					b.StartTimer()
					seq++
					if err := bk.SyncSeats(ctx, "n", seq, rooms); err != nil {
						b.Fatal(err)
					}
					if isRedis {
						b.StopTimer()
						redisUs += scriptMicros(b, bk) - us0
						b.StartTimer()
					}
				}
				if isRedis && b.N > 0 {
					b.ReportMetric(redisUs/float64(b.N), "redis-us/op")
				}
			})
		}
	}
}
