package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func beat(t *testing.T, b Backend, n NodeInfo) {
	t.Helper()
	if _, err := b.Heartbeat(context.Background(), n); err != nil {
		t.Fatalf("heartbeat %s: %v", n.ID, err)
	}
}

func TestNodeExpiry(t *testing.T) {
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			ctx := context.Background()
			clk := newFakeClock()
			bs := im.new(t, Config{Now: clk.Now, NodeTTL: 5 * time.Second}, 3)
			ids := []string{"a", "b", "c"}
			for i, id := range ids {
				created, err := bs[i].Heartbeat(ctx, NodeInfo{ID: id, Address: id + ":1", Capacity: 100})
				if err != nil || !created {
					t.Fatalf("first heartbeat %s: created=%v err=%v", id, created, err)
				}
			}
			if created, _ := bs[0].Heartbeat(ctx, NodeInfo{ID: "a", Address: "a:1", Capacity: 100}); created {
				t.Fatal("second heartbeat reported created")
			}
			for i, id := range ids {
				if err := bs[i].PutRoom(ctx, RoomRecord{ID: "room-" + id, Type: "arena", NodeID: id, MaxSeats: 4,
					Metadata: map[string]string{"mode": "ffa"}}); err != nil {
					t.Fatal(err)
				}
			}
			res, err := bs[0].Reserve(ctx, "room-b", "u1")
			if err != nil {
				t.Fatal(err)
			}
			nodes, err := bs[2].Nodes(ctx)
			if err != nil || len(nodes) != 3 || nodes[1].Reserved != 1 {
				t.Fatalf("nodes = %+v, %v", nodes, err)
			}
			rec, err := bs[0].LookupRoom(ctx, "room-b")
			if err != nil || rec.NodeID != "b" || rec.NodeAddress != "b:1" || rec.Reserved != 1 || rec.Metadata["mode"] != "ffa" || rec.State != RoomRunning {
				t.Fatalf("lookup = %+v, %v", rec, err)
			}
			// b stops heartbeating; a and c keep going past b's TTL.
			for range 6 {
				clk.Advance(time.Second)
				beat(t, bs[0], NodeInfo{ID: "a", Address: "a:1", Capacity: 100})
				beat(t, bs[2], NodeInfo{ID: "c", Address: "c:1", Capacity: 100})
			}
			if _, err := bs[0].LookupRoom(ctx, "room-b"); !errors.Is(err, ErrRoomNotFound) {
				t.Fatalf("lookup of dead node's room: %v", err)
			}
			nodes, _ = bs[1].Nodes(ctx)
			if len(nodes) != 2 || nodes[0].ID != "a" || nodes[1].ID != "c" {
				t.Fatalf("nodes after expiry = %+v", nodes)
			}
			rooms, _ := bs[1].ListRooms(ctx, "")
			if len(rooms) != 2 || rooms[0].ID != "room-a" || rooms[1].ID != "room-c" {
				t.Fatalf("rooms after expiry = %+v", rooms)
			}
			if err := bs[1].Consume(ctx, res.Claims, 0); !errors.Is(err, ErrRoomNotFound) {
				t.Fatalf("consume on dead node: %v", err)
			}
			// b comes back: it is new again and must re-publish.
			if created, _ := bs[1].Heartbeat(ctx, NodeInfo{ID: "b", Address: "b:1"}); !created {
				t.Fatal("returning node not reported as created")
			}
			if err := bs[1].Deregister(ctx, "a"); err != nil {
				t.Fatal(err)
			}
			if _, err := bs[1].LookupRoom(ctx, "room-a"); !errors.Is(err, ErrRoomNotFound) {
				t.Fatalf("deregistered node's room: %v", err)
			}
		})
	}
}

func TestPlacementLeastLoaded(t *testing.T) {
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			ctx := context.Background()
			b := im.new(t, Config{}, 1)[0]
			beat(t, b, NodeInfo{ID: "a", Capacity: 100, Players: 50, Rooms: 1})   // 50%
			beat(t, b, NodeInfo{ID: "b", Capacity: 10, Players: 1, Rooms: 9})     // 10%, most rooms
			beat(t, b, NodeInfo{ID: "c", Capacity: 1000, Players: 200, Rooms: 0}) // 20%
			beat(t, b, NodeInfo{ID: "d", Capacity: 1000, Draining: true})         // draining
			r, err := b.JoinOrCreate(ctx, JoinRequest{RoomType: "x", UserID: "u", MaxSeats: 1})
			if err != nil || r.NodeID != "b" || !r.Created {
				t.Fatalf("placed %+v, %v; want node b", r, err)
			}
			// b now 2/10 = 20% (reservation counts), c 20%: tie broken by id -> b.
			r, err = b.JoinOrCreate(ctx, JoinRequest{RoomType: "x", UserID: "u2", MaxSeats: 1})
			if err != nil || r.NodeID != "b" {
				t.Fatalf("second placement %+v, %v; want b", r, err)
			}
			// b 30% > c 20%.
			r, err = b.JoinOrCreate(ctx, JoinRequest{RoomType: "x", UserID: "u3", MaxSeats: 1})
			if err != nil || r.NodeID != "c" {
				t.Fatalf("third placement %+v, %v; want c", r, err)
			}
			// Only draining or full nodes: no capacity.
			b2 := im.new(t, Config{}, 1)[0]
			beat(t, b2, NodeInfo{ID: "full", Capacity: 2, Players: 2})
			beat(t, b2, NodeInfo{ID: "drain", Capacity: 100, Draining: true})
			if _, err := b2.JoinOrCreate(ctx, JoinRequest{RoomType: "x", UserID: "u", MaxSeats: 4}); !errors.Is(err, ErrNoCapacity) {
				t.Fatalf("want ErrNoCapacity, got %v", err)
			}
		})
	}
}

func TestJoinFilterLockedPrivate(t *testing.T) {
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			ctx := context.Background()
			b := im.new(t, Config{}, 1)[0]
			beat(t, b, NodeInfo{ID: "n"})
			put := func(id string, locked, private bool, mode string) {
				t.Helper()
				if err := b.PutRoom(ctx, RoomRecord{ID: id, Type: "t", NodeID: "n", MaxSeats: 4, Locked: locked,
					Private: private, Metadata: map[string]string{"mode": mode}}); err != nil {
					t.Fatal(err)
				}
			}
			put("locked", true, false, "ctf")
			put("private", false, true, "ctf")
			put("ffa", false, false, "ffa")
			put("ctf", false, false, "ctf")
			r, err := b.JoinOrCreate(ctx, JoinRequest{RoomType: "t", UserID: "u", MaxSeats: 4, Filter: map[string]string{"mode": "ctf"}})
			if err != nil || r.RoomID != "ctf" || r.Created {
				t.Fatalf("got %+v, %v; want room ctf", r, err)
			}
			r, err = b.JoinOrCreate(ctx, JoinRequest{RoomType: "t", UserID: "u", MaxSeats: 4, Filter: map[string]string{"mode": "dm"}})
			if err != nil || !r.Created {
				t.Fatalf("got %+v, %v; want a new room", r, err)
			}
			rec, err := b.LookupRoom(ctx, r.RoomID)
			if err != nil || rec.Metadata["mode"] != "dm" || rec.State != RoomPending || rec.Reserved != 1 {
				t.Fatalf("new room %+v, %v", rec, err)
			}
			if _, err := b.Reserve(ctx, "locked", "u"); !errors.Is(err, ErrRoomFull) {
				t.Fatalf("reserve locked: %v", err)
			}
			if _, err := b.Reserve(ctx, "private", "u"); err != nil {
				t.Fatalf("reserve private by id: %v", err)
			}
			if _, err := b.Reserve(ctx, "nope", "u"); !errors.Is(err, ErrRoomNotFound) {
				t.Fatalf("reserve missing: %v", err)
			}
			if _, err := b.JoinOrCreate(ctx, JoinRequest{RoomType: "t"}); !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("bad request: %v", err)
			}
		})
	}
}

func TestSeatAccounting(t *testing.T) {
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			ctx := context.Background()
			clk := newFakeClock()
			b := im.new(t, Config{Now: clk.Now, ReservationTTL: 10 * time.Second, NodeTTL: time.Hour}, 1)[0]
			beat(t, b, NodeInfo{ID: "n", Capacity: 100})
			if err := b.PutRoom(ctx, RoomRecord{ID: "r", Type: "t", NodeID: "n", MaxSeats: 2, Seats: 1}); err != nil {
				t.Fatal(err)
			}
			r1, err := b.Reserve(ctx, "r", "u1")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.Reserve(ctx, "r", "u2"); !errors.Is(err, ErrRoomFull) {
				t.Fatalf("want full, got %v", err)
			}
			// Unused reservation expires and frees its seat.
			clk.Advance(11 * time.Second)
			if _, err := b.Verify(r1.Token); !errors.Is(err, ErrTokenExpired) {
				t.Fatalf("verify expired: %v", err)
			}
			if err := b.Consume(ctx, r1.Claims, 0); !errors.Is(err, ErrTokenExpired) {
				t.Fatalf("consume expired: %v", err)
			}
			r2, err := b.Reserve(ctx, "r", "u2")
			if err != nil {
				t.Fatalf("seat not freed: %v", err)
			}
			if err := b.Consume(ctx, r2.Claims, 0); err != nil {
				t.Fatal(err)
			}
			rec, _ := b.LookupRoom(ctx, "r")
			if rec.Seats != 2 || rec.Reserved != 0 || rec.Free() != 0 {
				t.Fatalf("after consume %+v", rec)
			}
			// PutRoom of an existing room keeps the seat count.
			if err := b.PutRoom(ctx, RoomRecord{ID: "r", Type: "t", NodeID: "n", MaxSeats: 2, Seats: 0, Metadata: map[string]string{"k": "v"}}); err != nil {
				t.Fatal(err)
			}
			rec, _ = b.LookupRoom(ctx, "r")
			if rec.Seats != 2 || rec.Metadata["k"] != "v" {
				t.Fatalf("after put %+v", rec)
			}
			if err := b.ReleaseSeat(ctx, "r", 0); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Reserve(ctx, "r", "u3"); err != nil {
				t.Fatalf("seat not released: %v", err)
			}
			if err := b.RemoveRoom(ctx, "r"); err != nil {
				t.Fatal(err)
			}
			if err := b.ReleaseSeat(ctx, "r", 0); !errors.Is(err, ErrRoomNotFound) {
				t.Fatalf("release on removed: %v", err)
			}
			if err := b.PutRoom(ctx, RoomRecord{ID: "r", Type: "t", NodeID: "ghost", MaxSeats: 2}); !errors.Is(err, ErrNodeNotFound) {
				t.Fatalf("put on unknown node: %v", err)
			}
		})
	}
}

func TestTokens(t *testing.T) {
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			ctx := context.Background()
			bs := im.new(t, Config{}, 3)
			beat(t, bs[0], NodeInfo{ID: "n"})
			r, err := bs[0].JoinOrCreate(ctx, JoinRequest{RoomType: "t", UserID: "alice", MaxSeats: 4})
			if err != nil {
				t.Fatal(err)
			}
			c, err := bs[1].Verify(r.Token)
			if err != nil || c != r.Claims {
				t.Fatalf("verify: %+v %v; want %+v", c, err, r.Claims)
			}
			payload, sig, _ := strings.Cut(r.Token, ".")
			forged := NewSigner([]byte("wrong secret"), nil).Sign(Claims{RoomID: c.RoomID, UserID: "mallory", ExpiresAt: c.ExpiresAt})
			flip := []byte(payload)
			flip[3] ^= 1
			for name, tok := range map[string]string{
				"empty": "", "garbage": "x.y.z", "no sig": payload, "other secret": forged,
				"flipped payload": string(flip) + "." + sig, "bad base64": "!!." + sig,
				"swapped": sig + "." + payload, "long": strings.Repeat("a", 5000),
			} {
				if _, err := bs[2].Verify(tok); !errors.Is(err, ErrTokenInvalid) {
					t.Errorf("%s: want ErrTokenInvalid, got %v", name, err)
				}
			}
			// Exactly one of many concurrent consumes succeeds.
			var wg sync.WaitGroup
			errs := make([]error, 9)
			for i := range errs {
				wg.Go(func() { errs[i] = bs[i%3].Consume(ctx, c, 0) })
			}
			wg.Wait()
			ok, used := 0, 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case errors.Is(err, ErrTokenUsed):
					used++
				default:
					t.Errorf("consume: %v", err)
				}
			}
			if ok != 1 || used != 8 {
				t.Fatalf("consumes ok=%d used=%d", ok, used)
			}
		})
	}
}

// TestConcurrentJoinOrCreate: 300 players through 3 coordinators, rooms of 10.
func TestConcurrentJoinOrCreate(t *testing.T) {
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			ctx := context.Background()
			bs := im.new(t, Config{}, 3)
			for i, b := range bs {
				beat(t, b, NodeInfo{ID: fmt.Sprintf("node%d", i), Address: fmt.Sprintf("127.0.0.1:%d", 9000+i), Capacity: 120})
			}
			const players, seats = 300, 10
			res := make([]Reservation, players)
			errs := make([]error, players)
			var wg sync.WaitGroup
			for w := range 30 { // 30 workers, 10 players each
				wg.Go(func() {
					for p := w; p < players; p += 30 {
						res[p], errs[p] = bs[p%3].JoinOrCreate(ctx, JoinRequest{RoomType: "arena", UserID: fmt.Sprint("p", p), MaxSeats: seats})
					}
				})
			}
			wg.Wait()
			ids := map[string]bool{}
			for p := range players {
				if errs[p] != nil {
					t.Fatalf("player %d: %v", p, errs[p])
				}
				if ids[res[p].ReservationID] {
					t.Fatalf("duplicate reservation id")
				}
				ids[res[p].ReservationID] = true
			}
			// Consume every token on a node other than the one that reserved it.
			for w := range 30 {
				wg.Go(func() {
					for p := w; p < players; p += 30 {
						c, err := bs[(p+1)%3].Verify(res[p].Token)
						if err == nil {
							err = bs[(p+2)%3].Consume(ctx, c, 0)
						}
						errs[p] = err
					}
				})
			}
			wg.Wait()
			for p := range players {
				if errs[p] != nil {
					t.Fatalf("consume %d: %v", p, errs[p])
				}
				if err := bs[p%3].Consume(ctx, res[p].Claims, 0); !errors.Is(err, ErrTokenUsed) {
					t.Fatalf("second consume %d: %v", p, err)
				}
			}
			rooms, err := bs[0].ListRooms(ctx, "arena")
			if err != nil {
				t.Fatal(err)
			}
			total := 0
			perNode := map[string]int{}
			for _, r := range rooms {
				if r.Seats > r.MaxSeats || r.Reserved != 0 {
					t.Errorf("room %s: seats %d/%d reserved %d", r.ID, r.Seats, r.MaxSeats, r.Reserved)
				}
				total += r.Seats
				perNode[r.NodeID] += r.Seats
			}
			if total != players || len(rooms) != players/seats {
				t.Fatalf("total seats %d in %d rooms; want %d in %d", total, len(rooms), players, players/seats)
			}
			for n, c := range perNode {
				if c > 120 {
					t.Errorf("node %s over capacity: %d", n, c)
				}
			}
		})
	}
}

func TestBus(t *testing.T) {
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			bs := im.new(t, Config{}, 2)
			ctx, cancel := context.WithCancel(context.Background())
			ch, err := bs[0].Subscribe(ctx, "a")
			if err != nil {
				t.Fatal(err)
			}
			other, err := bs[0].Subscribe(ctx, "b")
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if err := bs[1].Publish(context.Background(), "a", []byte{byte(i)}); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 3 {
				if m := <-ch; len(m) != 1 || m[0] != byte(i) {
					t.Fatalf("message %d = %v", i, m)
				}
			}
			select {
			case m := <-other:
				t.Fatalf("node b got %v", m)
			default:
			}
			cancel()
			for range ch { // drains until closed
			}
			for range other {
			}
		})
	}
}

func TestQueueLease(t *testing.T) {
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			ctx := context.Background()
			clk := newFakeClock()
			bs := im.new(t, Config{Now: clk.Now, NodeTTL: time.Hour}, 2)
			beat(t, bs[0], NodeInfo{ID: "n"})
			tk := Ticket{ID: "t1", Queue: "q", NodeID: "n", Party: []PartyMember{{UserID: "u1"}}}
			if err := bs[0].AddTicket(ctx, tk); err != nil {
				t.Fatal(err)
			}
			if err := bs[1].AddTicket(ctx, tk); !errors.Is(err, ErrDuplicateTicket) {
				t.Fatalf("dup: %v", err)
			}
			if err := bs[1].AddTicket(ctx, Ticket{Queue: "q"}); !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("invalid: %v", err)
			}
			l1, err := bs[0].AcquireLease(ctx, "q", "A", 3*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := bs[1].AcquireLease(ctx, "q", "B", 3*time.Second); !errors.Is(err, ErrLeaseLost) {
				t.Fatalf("second holder: %v", err)
			}
			if l, err := bs[0].AcquireLease(ctx, "q", "A", 3*time.Second); err != nil || l.Fence != l1.Fence {
				t.Fatalf("renew: %+v %v", l, err)
			}
			clk.Advance(4 * time.Second) // A crashed
			l2, err := bs[1].AcquireLease(ctx, "q", "B", 3*time.Second)
			if err != nil || l2.Fence <= l1.Fence {
				t.Fatalf("takeover: %+v %v (old fence %d)", l2, err, l1.Fence)
			}
			plan := MatchPlan{RoomType: "q", MaxSeats: 1, Tickets: []Ticket{tk}}
			if _, err := bs[0].CommitMatches(ctx, l1, []MatchPlan{plan}); !errors.Is(err, ErrLeaseLost) {
				t.Fatalf("stale fence commit: %v", err)
			}
			if err := bs[0].RemoveTickets(ctx, l1, []string{"t1"}); !errors.Is(err, ErrLeaseLost) {
				t.Fatalf("stale fence remove: %v", err)
			}
			res, err := bs[1].CommitMatches(ctx, l2, []MatchPlan{plan, plan})
			if err != nil || res[0].Err != nil || len(res[0].Reservations) != 1 || !errors.Is(res[1].Err, ErrTicketNotFound) {
				t.Fatalf("commit: %+v %v", res, err)
			}
			if c, err := bs[0].Verify(res[0].Reservations[0].Token); err != nil || c.NodeID != "n" || c.UserID != "u1" {
				t.Fatalf("match token: %+v %v", c, err)
			}
			if err := bs[0].CancelTicket(ctx, "q", "t1"); !errors.Is(err, ErrTicketNotFound) {
				t.Fatalf("cancel matched: %v", err)
			}
			if err := bs[1].ReleaseLease(ctx, l2); err != nil {
				t.Fatal(err)
			}
			if _, err := bs[0].AcquireLease(ctx, "q", "A", time.Second); err != nil {
				t.Fatalf("acquire after release: %v", err)
			}
		})
	}
}
