package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// addTickets queues n tickets with ratings, parties of 1..3 and two modes.
func addTickets(t testing.TB, b Backend, clk *fakeClock, queue string, n int, seed uint64) map[string]Ticket {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	out := map[string]Ticket{}
	players := 0
	for i := 0; players < n; i++ {
		size := 1 + rng.IntN(3)
		if players+size > n {
			size = n - players
		}
		tk := Ticket{ID: fmt.Sprintf("t%05d", i), Queue: queue, NodeID: fmt.Sprintf("n%d", i%3),
			StringProps:  map[string]string{"mode": []string{"ffa", "duo"}[i%2]},
			NumericProps: map[string]float64{"rating": float64(rng.IntN(3000))},
			CreatedAt:    clk.Now().Add(-time.Duration(rng.IntN(20)) * time.Second)}
		for p := range size {
			tk.Party = append(tk.Party, PartyMember{UserID: fmt.Sprintf("%s-u%d", tk.ID, p)})
		}
		if err := b.AddTicket(context.Background(), tk); err != nil {
			t.Fatal(err)
		}
		out[tk.ID] = tk
		players += size
	}
	return out
}

func checkMatch(t *testing.T, m *Matcher, mt Match, now time.Time, size int) {
	t.Helper()
	lo, hi := 1e18, -1e18
	w := 1e18
	seats := 0
	for _, tk := range mt.Tickets {
		r := tk.NumericProps["rating"]
		lo, hi, w = min(lo, r), max(hi, r), min(w, m.Window(now.Sub(tk.CreatedAt)))
		seats += len(tk.Party)
		if tk.StringProps["mode"] != mt.Tickets[0].StringProps["mode"] {
			t.Errorf("mixed modes in match %s", mt.RoomID)
		}
	}
	if hi-lo > w+1e-9 {
		t.Errorf("match %s spread %.0f exceeds window %.0f", mt.RoomID, hi-lo, w)
	}
	if seats != size || len(mt.Reservations) != size {
		t.Errorf("match %s has %d seats, %d reservations; want %d", mt.RoomID, seats, len(mt.Reservations), size)
	}
	n := 0
	for _, tk := range mt.Tickets { // parties whole, in one room
		for _, p := range tk.Party {
			rv := mt.Reservations[n]
			n++
			if rv.UserID != p.UserID || rv.RoomID != mt.RoomID {
				t.Errorf("reservation %+v does not match member %s of room %s", rv.Claims, p.UserID, mt.RoomID)
			}
		}
	}
}

// TestMatcher1000: 1,000 players in parties; matcher A leads, crashes, B
// takes over after the lease TTL; no ticket is matched twice.
func TestMatcher1000(t *testing.T) {
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			ctx := context.Background()
			clk := newFakeClock()
			bs := im.new(t, Config{Now: clk.Now, NodeTTL: time.Hour, ReservationTTL: time.Hour}, 2)
			for i := range 3 {
				beat(t, bs[0], NodeInfo{ID: fmt.Sprintf("n%d", i), Address: fmt.Sprint("addr", i), Capacity: 2000})
			}
			subCtx, cancel := context.WithCancel(ctx)
			defer cancel()
			sub, err := bs[1].Subscribe(subCtx, "n0")
			if err != nil {
				t.Fatal(err)
			}
			tickets := addTickets(t, bs[0], clk, "ranked", 1000, 1)
			cfg := MatcherConfig{Queue: "ranked", MatchSize: 6, BaseWindow: 50, WidenPerSecond: 10, MaxWindow: 400,
				LeaseTTL: 3 * time.Second, Now: clk.Now}
			cfgA, cfgB := cfg, cfg
			cfgA.Holder, cfgB.Holder = "A", "B"
			a, b := NewMatcher(bs[0], cfgA), NewMatcher(bs[1], cfgB)
			matched := map[string]string{}
			record := func(rd Round) {
				for _, mt := range rd.Matches {
					checkMatch(t, a, mt, clk.Now(), 6)
					for _, tk := range mt.Tickets {
						if prev, dup := matched[tk.ID]; dup {
							t.Fatalf("ticket %s matched twice (%s, %s)", tk.ID, prev, mt.RoomID)
						}
						matched[tk.ID] = mt.RoomID
						// The notices are kept for a node that misses them on the bus.
						kept, err := bs[1].TicketNotices(ctx, []string{tk.ID})
						if err != nil || len(kept) != len(tk.Party) || kept[0].RoomID != mt.RoomID || kept[0].Node != tk.memberNode(0) {
							t.Fatalf("kept notices of %s: %+v %v", tk.ID, kept, err)
						}
					}
				}
			}
			for round := range 40 {
				clk.Advance(time.Second)
				switch {
				case round < 3: // A leads
					rd, err := a.RunOnce(ctx)
					if err != nil || !rd.Leader {
						t.Fatalf("A round %d: %v", round, err)
					}
					record(rd)
					if _, err := b.RunOnce(ctx); !errors.Is(err, ErrLeaseLost) {
						t.Fatalf("B while A leads: %v", err)
					}
				case round < 5: // A crashed: B waits for the lease to lapse
					_, err := b.RunOnce(ctx)
					if round == 3 && !errors.Is(err, ErrLeaseLost) {
						t.Fatalf("B took over before the TTL: %v", err)
					}
				default:
					rd, err := b.RunOnce(ctx)
					if err != nil {
						t.Fatalf("B round %d: %v", round, err)
					}
					record(rd)
				}
			}
			if _, err := a.RunOnce(ctx); !errors.Is(err, ErrLeaseLost) {
				t.Fatalf("A after takeover: %v", err)
			}
			left, _ := bs[0].Tickets(ctx, "ranked")
			if len(matched)+len(left) != len(tickets) {
				t.Fatalf("matched %d + left %d != %d", len(matched), len(left), len(tickets))
			}
			if len(matched) < len(tickets)*8/10 {
				t.Fatalf("only %d of %d tickets matched", len(matched), len(tickets))
			}
			// Node n0 got notices for its players.
			ns, err := DecodeNotices(<-sub)
			if err != nil || len(ns) == 0 || ns[0].Kind != NoticeMatched {
				t.Fatalf("notice: %+v %v", ns, err)
			}
			if c, err := bs[0].Verify(ns[0].Token); err != nil || c.RoomID != ns[0].RoomID || c.UserID != ns[0].UserID {
				t.Fatalf("notice token: %+v %v", c, err)
			}
		})
	}
}

func TestMatcherTimeoutAndCancel(t *testing.T) {
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			ctx := context.Background()
			clk := newFakeClock()
			b := im.new(t, Config{Now: clk.Now, NodeTTL: time.Hour}, 1)[0]
			beat(t, b, NodeInfo{ID: "n"})
			sub, err := b.Subscribe(ctx, "n")
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range []float64{0, 5000, 10} {
				if err := b.AddTicket(ctx, Ticket{ID: fmt.Sprint("t", i), Queue: "q", NodeID: "n",
					Party: []PartyMember{{UserID: fmt.Sprint("u", i)}}, NumericProps: map[string]float64{"rating": r}}); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.CancelTicket(ctx, "q", "t2"); err != nil {
				t.Fatal(err)
			}
			m := NewMatcher(b, MatcherConfig{Queue: "q", Holder: "h", MatchSize: 2, TicketTimeout: 10 * time.Second, Now: clk.Now})
			rd, err := m.RunOnce(ctx)
			if err != nil || len(rd.Matches) != 0 || rd.Queued != 2 {
				t.Fatalf("round: %+v %v", rd, err)
			}
			clk.Advance(11 * time.Second)
			rd, err = m.RunOnce(ctx)
			if err != nil || len(rd.TimedOut) != 2 {
				t.Fatalf("timeout round: %+v %v", rd, err)
			}
			ns, err := DecodeNotices(<-sub)
			if err != nil || len(ns) != 2 || ns[0].Kind != NoticeTimeout {
				t.Fatalf("timeout notices %+v %v", ns, err)
			}
			if ts, _ := b.Tickets(ctx, "q"); len(ts) != 0 {
				t.Fatalf("left %d tickets", len(ts))
			}
		})
	}
}

// TestMatcherTakeoverRun runs two matchers for real; A is cancelled mid-run
// and B finishes the queue. Every ticket is matched once (seen on the bus).
func TestMatcherTakeoverRun(t *testing.T) {
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			bs := im.new(t, Config{NodeTTL: time.Hour}, 2)
			beat(t, bs[0], NodeInfo{ID: "n0", Capacity: 0})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			sub, err := bs[0].Subscribe(ctx, "n0")
			if err != nil {
				t.Fatal(err)
			}
			cfg := MatcherConfig{Queue: "q", MatchSize: 2, Interval: 5 * time.Millisecond, LeaseTTL: time.Second, MaxWindow: 1e9, BaseWindow: 1e9}
			cfgA, cfgB := cfg, cfg
			cfgA.Holder, cfgB.Holder = "A", "B"
			actx, acancel := context.WithCancel(ctx)
			var wg sync.WaitGroup
			wg.Go(func() { _ = NewMatcher(bs[0], cfgA).Run(actx) })
			time.Sleep(20 * time.Millisecond) // let A take the lease first (not required for correctness)
			wg.Go(func() { _ = NewMatcher(bs[1], cfgB).Run(ctx) })
			const n = 400
			seen := map[string]int{}
			for i := range n {
				if err := bs[i%2].AddTicket(ctx, Ticket{ID: fmt.Sprint("t", i), Queue: "q", NodeID: "n0",
					Party: []PartyMember{{UserID: fmt.Sprint("u", i)}}}); err != nil {
					t.Fatal(err)
				}
				if i == n/2 {
					acancel() // A stops mid-run; it releases the lease
				}
			}
			deadline := time.After(30 * time.Second) // a hang guard, not a performance assertion
			for len(seen) < n {
				select {
				case msg := <-sub:
					ns, err := DecodeNotices(msg)
					if err != nil {
						t.Fatal(err)
					}
					for _, x := range ns {
						seen[x.TicketID]++
						if seen[x.TicketID] > 1 {
							t.Fatalf("ticket %s notified twice", x.TicketID)
						}
					}
				case <-deadline:
					t.Fatalf("only %d of %d tickets matched", len(seen), n)
				}
			}
			cancel()
			acancel()
			wg.Wait()
		})
	}
}

func FuzzDecodeNotices(f *testing.F) {
	f.Add(EncodeNotices([]Notice{{Kind: NoticeMatched, TicketID: "t", Token: "x.y"}}))
	f.Add([]byte("twmm1[{}]"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ns, err := DecodeNotices(b)
		if err != nil {
			if !errors.Is(err, ErrBadNotice) {
				t.Fatalf("error %v is not ErrBadNotice", err)
			}
			return
		}
		if _, err := DecodeNotices(EncodeNotices(ns)); err != nil {
			t.Fatalf("re-encode: %v", err)
		}
	})
}
