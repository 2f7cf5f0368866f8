package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestSyncSeats runs sequences of seat operations and syncs, with the
// orders the races between them produce, against both backends: a sync
// sets Seats to the owner's count plus the operations newer than it, an
// operation older than the last sync leaves Seats alone, and both are
// idempotent. Live reservations are never touched.
func TestSyncSeats(t *testing.T) {
	type step struct {
		op    string // "consume" (next reservation), "release", "sync", "sync-other"
		seq   uint64
		count int // sync: the owner's count
		seats int // Seats after the step
	}
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			for _, tc := range []struct {
				name  string
				steps []step
			}{
				{"lost release repaired", []step{
					{"consume", 1, 0, 1}, {"consume", 2, 0, 2},
					// release 3 never arrives
					{"sync", 4, 1, 1},
				}},
				{"release applied twice counts once", []step{
					{"consume", 1, 0, 1}, {"consume", 2, 0, 2},
					{"release", 3, 0, 1}, {"release", 3, 0, 1},
					{"sync", 4, 1, 1}, {"release", 3, 0, 1},
				}},
				{"consume between snapshot and sync counts once", []step{
					{"consume", 1, 0, 1},
					// snapshot 2 counts 1; consume 3 lands before the sync
					{"consume", 3, 0, 2}, {"sync", 2, 1, 2},
				}},
				{"consume in the snapshot landing after the sync counts once", []step{
					{"consume", 1, 0, 1},
					// consume 2 issued (in transit: counted), snapshot 3, sync, then consume 2 lands
					{"sync", 3, 2, 2}, {"consume", 2, 0, 2},
				}},
				{"release between snapshot and sync", []step{
					{"consume", 1, 0, 1}, {"consume", 2, 0, 2},
					{"release", 4, 0, 1}, {"sync", 3, 2, 1},
				}},
				{"release in the snapshot landing after the sync", []step{
					{"consume", 1, 0, 1}, {"consume", 2, 0, 2},
					{"sync", 4, 1, 1}, {"release", 3, 0, 1},
				}},
				{"old and repeated syncs are ignored", []step{
					{"consume", 1, 0, 1},
					{"sync", 5, 1, 1}, {"sync", 4, 3, 1}, {"sync", 5, 3, 1},
				}},
				{"another node's sync is ignored", []step{
					{"consume", 1, 0, 1}, {"sync-other", 2, 3, 1},
				}},
				{"a sync never goes below zero", []step{
					{"consume", 1, 0, 1}, {"release", 3, 0, 0}, {"sync", 2, 0, 0},
				}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					ctx := context.Background()
					b := im.new(t, Config{}, 1)[0]
					for _, n := range []string{"n", "m"} {
						beat(t, b, NodeInfo{ID: n, Address: n + ":1"})
					}
					if err := b.PutRoom(ctx, RoomRecord{ID: "r", Type: "t", NodeID: "n", MaxSeats: 8}); err != nil {
						t.Fatal(err)
					}
					// One live reservation throughout: Seats never counts it.
					if _, err := b.Reserve(ctx, "r", "waiting"); err != nil {
						t.Fatal(err)
					}
					var pending []Claims
					for range 4 {
						res, err := b.Reserve(ctx, "r", "u")
						if err != nil {
							t.Fatal(err)
						}
						pending = append(pending, res.Claims)
					}
					consumed := map[uint64]Claims{}
					for i, st := range tc.steps {
						var err error
						switch st.op {
						case "consume":
							c, ok := consumed[st.seq]
							if !ok {
								c, pending = pending[0], pending[1:]
								consumed[st.seq] = c
							}
							err = b.Consume(ctx, c, st.seq)
						case "release":
							err = b.ReleaseSeat(ctx, "r", st.seq)
						case "sync":
							err = b.SyncSeats(ctx, "n", st.seq, []RoomSeats{{ID: "r", Seats: st.count}, {ID: "absent", Seats: 1}})
						case "sync-other":
							err = b.SyncSeats(ctx, "m", st.seq, []RoomSeats{{ID: "r", Seats: st.count}})
						}
						if err != nil {
							t.Fatalf("step %d %+v: %v", i, st, err)
						}
						rec, err := b.LookupRoom(ctx, "r")
						if err != nil {
							t.Fatal(err)
						}
						if rec.Seats != st.seats {
							t.Fatalf("step %d %+v: seats = %d, want %d", i, st, rec.Seats, st.seats)
						}
						if want := 1 + len(pending); rec.Reserved != want {
							t.Fatalf("step %d %+v: reserved = %d, want %d", i, st, rec.Reserved, want)
						}
					}
				})
			}
		})
	}
}

// TestSyncSeatsNeverOverfills: players join-or-create and leave rooms of 4
// while the owner syncs their occupancy as often as it can, and a quarter
// of the releases are lost. The owner, modelled here as the engine does
// it (seatLedger), never finds more players in a room than it holds, and
// after a last sync every room's Seats is its occupancy.
func TestSyncSeatsNeverOverfills(t *testing.T) {
	const (
		maxSeats = 4
		workers  = 8
		rounds   = 150
	)
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			b := im.new(t, Config{}, 1)[0]
			beat(t, b, NodeInfo{ID: "n", Address: "n:1"})
			var (
				mu  sync.Mutex
				seq uint64
				occ = map[string]int{} // room -> players admitted, not released
			)
			snapshot := func() (uint64, []RoomSeats) {
				mu.Lock()
				defer mu.Unlock()
				seq++
				out := make([]RoomSeats, 0, len(occ))
				for id, n := range occ {
					out = append(out, RoomSeats{ID: id, Seats: n})
				}
				return seq, out
			}
			errc := make(chan error, workers+1)
			var wg sync.WaitGroup
			stop := make(chan struct{})
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					s, rooms := snapshot()
					if err := b.SyncSeats(ctx, "n", s, rooms); err != nil {
						errc <- fmt.Errorf("sync: %w", err)
						return
					}
				}
			})
			var workersWG sync.WaitGroup
			for w := range workers {
				workersWG.Go(func() {
					for i := range rounds {
						res, err := b.JoinOrCreate(ctx, JoinRequest{RoomType: "t", UserID: "u", MaxSeats: maxSeats})
						if err != nil {
							errc <- fmt.Errorf("join: %w", err)
							return
						}
						mu.Lock()
						seq++
						s := seq
						occ[res.RoomID]++
						over := occ[res.RoomID] > maxSeats
						mu.Unlock()
						if over {
							errc <- fmt.Errorf("room %s overfilled: the directory reserved a seat it did not have", res.RoomID)
							return
						}
						if err := b.Consume(ctx, res.Claims, s); err != nil {
							errc <- fmt.Errorf("consume: %w", err)
							return
						}
						mu.Lock()
						seq++
						s = seq
						occ[res.RoomID]--
						mu.Unlock()
						if (w+i)%4 == 0 {
							continue // the release is lost
						}
						if err := b.ReleaseSeat(ctx, res.RoomID, s); err != nil && !errors.Is(err, ErrRoomNotFound) {
							errc <- fmt.Errorf("release: %w", err)
							return
						}
					}
				})
			}
			workersWG.Wait()
			close(stop)
			wg.Wait()
			close(errc)
			for err := range errc {
				t.Fatal(err)
			}
			s, rooms := snapshot()
			if err := b.SyncSeats(ctx, "n", s, rooms); err != nil {
				t.Fatal(err)
			}
			for _, rs := range rooms {
				rec, err := b.LookupRoom(ctx, rs.ID)
				if errors.Is(err, ErrRoomNotFound) {
					continue // a pending room dropped when it emptied
				}
				if err != nil {
					t.Fatal(err)
				}
				if rec.Seats != rs.Seats {
					t.Fatalf("room %s: seats %d after the last sync, occupancy %d", rs.ID, rec.Seats, rs.Seats)
				}
			}
		})
	}
}
