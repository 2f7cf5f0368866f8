package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// indexSize returns the number of entries in the join-or-create index of
// type typ and in the recheck schedule.
func indexSize(t *testing.T, b Backend, typ string) (open, recheck int) {
	t.Helper()
	switch x := b.(type) {
	case *Memory:
		x.mu.Lock()
		defer x.mu.Unlock()
		if o := x.open[typeKey(typ)]; o != nil {
			open = o.n
		}
		return open, len(x.recheck)
	case *Redis:
		ctx := context.Background()
		o, err := x.rdb.ZCard(ctx, x.cfg.Prefix+"open:"+typ).Result()
		if err != nil {
			t.Fatal(err)
		}
		r, err := x.rdb.ZCard(ctx, x.cfg.Prefix+"recheck").Result()
		if err != nil {
			t.Fatal(err)
		}
		return int(o), int(r)
	}
	t.Fatalf("unknown backend %T", b)
	return 0, 0
}

// TestPendingRoomsExpire: rooms placed for reservations nobody uses (by
// join-or-create and by the matcher) leave the directory and the open
// index with their reservations, at the first sweep after the TTL; rooms
// that admitted a player stay.
func TestPendingRoomsExpire(t *testing.T) {
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			ctx := context.Background()
			clk := newFakeClock()
			b := im.new(t, Config{Now: clk.Now, ReservationTTL: 10 * time.Second, NodeTTL: time.Hour}, 1)[0]
			beat(t, b, NodeInfo{ID: "n", Capacity: 10000})
			// 40 unused join-or-create reservations in rooms of 4: 10 rooms.
			var kept Reservation
			for i := range 40 {
				r, err := b.JoinOrCreate(ctx, JoinRequest{RoomType: "t", UserID: fmt.Sprint("u", i), MaxSeats: 4})
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					kept = r
				}
			}
			// One reservation is used: its room stays.
			if err := b.Consume(ctx, kept.Claims, 0); err != nil {
				t.Fatal(err)
			}
			// 5 matches of 2 that nobody joins.
			l, err := b.AcquireLease(ctx, "q", "h", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			var plans []MatchPlan
			for i := range 5 {
				var ts []Ticket
				for k := range 2 {
					tk := Ticket{ID: fmt.Sprintf("t%d-%d", i, k), Queue: "q", NodeID: "n", Party: []PartyMember{{UserID: fmt.Sprint("m", i, k)}}}
					if err := b.AddTicket(ctx, tk); err != nil {
						t.Fatal(err)
					}
					ts = append(ts, tk)
				}
				plans = append(plans, MatchPlan{RoomType: "t", MaxSeats: 2, Tickets: ts})
			}
			res, err := b.CommitMatches(ctx, l, plans)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				if r.Err != nil {
					t.Fatal(r.Err)
				}
			}
			rooms, err := b.ListRooms(ctx, "t")
			if err != nil || len(rooms) != 15 {
				t.Fatalf("before expiry: %d rooms, %v; want 15", len(rooms), err)
			}
			if open, _ := indexSize(t, b, "t"); open != 0 {
				t.Fatalf("open index holds %d rooms full of reservations", open)
			}
			// A pending room whose only player left goes at once.
			solo, err := b.JoinOrCreate(ctx, JoinRequest{RoomType: "solo", UserID: "s", MaxSeats: 1})
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Consume(ctx, solo.Claims, 0); err != nil {
				t.Fatal(err)
			}
			if err := b.ReleaseSeat(ctx, solo.RoomID, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := b.LookupRoom(ctx, solo.RoomID); !errors.Is(err, ErrRoomNotFound) {
				t.Fatalf("abandoned pending room: %v", err)
			}

			clk.Advance(11 * time.Second)
			beat(t, b, NodeInfo{ID: "n", Capacity: 10000}) // one sweep
			rooms, err = b.ListRooms(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(rooms) != 1 || rooms[0].ID != kept.RoomID || rooms[0].Seats != 1 || rooms[0].Reserved != 0 {
				t.Fatalf("after expiry: %+v; want only %s with 1 seat", rooms, kept.RoomID)
			}
			open, recheck := indexSize(t, b, "t")
			if open != 1 || recheck != 0 {
				t.Fatalf("after expiry: open index %d (want 1), recheck %d (want 0)", open, recheck)
			}
			ns, _ := b.Nodes(ctx)
			if len(ns) != 1 || ns[0].Reserved != 0 {
				t.Fatalf("node reservations after expiry: %+v", ns)
			}
			// The surviving room is joined first (fullest), again and again.
			for i := range 3 {
				r, err := b.JoinOrCreate(ctx, JoinRequest{RoomType: "t", UserID: fmt.Sprint("v", i), MaxSeats: 4})
				if err != nil || r.RoomID != kept.RoomID {
					t.Fatalf("join %d: %+v, %v; want room %s", i, r.Claims, err, kept.RoomID)
				}
			}
			if open, _ := indexSize(t, b, "t"); open != 0 {
				t.Fatalf("full room still indexed")
			}
		})
	}
}

// TestJoinIndexFilters: the per-pair index finds rooms by filter, keeps up
// with metadata changes, and never offers rooms of a suspect node.
func TestJoinIndexFilters(t *testing.T) {
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			ctx := context.Background()
			b := im.new(t, Config{NodeTTL: time.Hour}, 1)[0]
			beat(t, b, NodeInfo{ID: "a"})
			beat(t, b, NodeInfo{ID: "b"})
			put := func(id, node, mode string, seats int) {
				t.Helper()
				if err := b.PutRoom(ctx, RoomRecord{ID: id, Type: "t", NodeID: node, MaxSeats: 8, Seats: seats,
					Metadata: map[string]string{"mode": mode, "map": "x"}}); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 100 {
				put(fmt.Sprintf("ffa%03d", i), "a", "ffa", 1)
			}
			put("ctf1", "a", "ctf", 2)
			put("ctf2", "b", "ctf", 3)
			join := func(filter map[string]string) Reservation {
				t.Helper()
				r, err := b.JoinOrCreate(ctx, JoinRequest{RoomType: "t", UserID: "u", MaxSeats: 8, Filter: filter})
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			if r := join(map[string]string{"mode": "ctf", "map": "x"}); r.RoomID != "ctf2" {
				t.Fatalf("fullest ctf room: got %s", r.RoomID)
			}
			if err := b.SuspectNode(ctx, "b", time.Minute); err != nil {
				t.Fatal(err)
			}
			if r := join(map[string]string{"mode": "ctf"}); r.RoomID != "ctf1" {
				t.Fatalf("suspect node's room offered: got %s", r.RoomID)
			}
			// Metadata change: ctf1 becomes dm; a ctf join now creates a
			// room, and never on the suspect node.
			put("ctf1", "a", "dm", 0)
			r := join(map[string]string{"mode": "ctf"})
			if !r.Created || r.NodeID != "a" {
				t.Fatalf("want a new room on a, got %+v", r.Claims)
			}
			if r := join(map[string]string{"mode": "dm"}); r.RoomID != "ctf1" {
				t.Fatalf("renamed room not found by its new metadata: %s", r.RoomID)
			}
			if err := b.SuspectNode(ctx, "a", time.Minute); err != nil {
				t.Fatal(err)
			}
			if _, err := b.JoinOrCreate(ctx, JoinRequest{RoomType: "t", UserID: "u", MaxSeats: 8, Filter: map[string]string{"mode": "new"}}); !errors.Is(err, ErrNoCapacity) {
				t.Fatalf("every node suspect: %v", err)
			}
			_ = b.RemoveRoom(ctx, "ctf1")
			if open, _ := indexSize(t, b, "t"); open != 102 {
				t.Fatalf("open index %d, want 102 (100 ffa, ctf2, the new ctf room)", open)
			}
		})
	}
}

// TestJoinWithoutNodes: with no live node (e.g. right after a Redis
// restart, before the first heartbeat) join-or-create is unavailable, not
// "no capacity".
func TestJoinWithoutNodes(t *testing.T) {
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			b := im.new(t, Config{}, 1)[0]
			_, err := b.JoinOrCreate(context.Background(), JoinRequest{RoomType: "t", UserID: "u", MaxSeats: 2})
			if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNoCapacity) {
				t.Fatalf("got %v, want ErrUnavailable", err)
			}
		})
	}
}

// scriptMicros is the time Redis spent in scripts so far (INFO
// commandstats, EVALSHA and EVAL), in microseconds; -1 for Memory.
func scriptMicros(b *testing.B, bk Backend) float64 {
	r, ok := bk.(*Redis)
	if !ok {
		return -1
	}
	info, err := r.rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	total := 0.0
	for line := range strings.Lines(info) {
		if !strings.HasPrefix(line, "cmdstat_evalsha:") && !strings.HasPrefix(line, "cmdstat_eval:") {
			continue
		}
		for f := range strings.SplitSeq(strings.TrimSpace(line[strings.IndexByte(line, ':')+1:]), ",") {
			if v, ok := strings.CutPrefix(f, "usec="); ok {
				n, _ := strconv.ParseFloat(v, 64)
				total += n
			}
		}
	}
	return total
}

// BenchmarkJoinOrCreateOpenRooms: join-or-create (+ consume) with 10,
// 1,000 and 10,000 open rooms in the directory; the cost must not depend
// on their number.
func BenchmarkJoinOrCreateOpenRooms(b *testing.B) {
	for _, im := range benchImpls(b) {
		for _, open := range []int{10, 1000, 10000} {
			b.Run(fmt.Sprintf("%s/open=%d", im.name, open), func(b *testing.B) {
				ctx := context.Background()
				bk := im.new(b, Config{NodeTTL: time.Hour}, 1)[0]
				for i := range 3 {
					if _, err := bk.Heartbeat(ctx, NodeInfo{ID: fmt.Sprint("n", i)}); err != nil {
						b.Fatal(err)
					}
				}
				for i := range open {
					if err := bk.PutRoom(ctx, RoomRecord{ID: fmt.Sprintf("r%05d", i), Type: "arena", NodeID: fmt.Sprint("n", i%3),
						MaxSeats: 1 << 30, Seats: i % 7, Metadata: map[string]string{"mode": fmt.Sprint(i % 2)}}); err != nil {
						b.Fatal(err)
					}
				}
				lat := make([]time.Duration, 0, 1024)
				b.ReportAllocs()
				us0 := scriptMicros(b, bk)
				i := 0
				for b.Loop() {
					t0 := time.Now()
					res, err := bk.JoinOrCreate(ctx, JoinRequest{RoomType: "arena", UserID: fmt.Sprint("u", i), MaxSeats: 10,
						Filter: map[string]string{"mode": "1"}})
					lat = append(lat, time.Since(t0))
					if err != nil {
						b.Fatal(err)
					}
					if err := bk.Consume(ctx, res.Claims, 0); err != nil {
						b.Fatal(err)
					}
					i++
				}
				if us0 >= 0 {
					// Redis's own time in the scripts (join + consume), free of
					// the client's scheduling noise on a shared machine.
					b.ReportMetric((scriptMicros(b, bk)-us0)/float64(i), "redis-us/op")
				}
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			})
		}
	}
}
