package engine

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/tickwire/tickwire/engine/cluster"
	"github.com/tickwire/tickwire/internal/roomrt"
)

// seatLedger numbers this node's directory seat operations and takes the
// occupancy snapshots its seat syncs send, so that the directory's seat
// counts correct themselves (cluster.Directory.SyncSeats).
//
// Why: a Consume or ReleaseSeat cut off mid-call (a timeout, a connection
// dropped after the command was sent, a failover) may or may not have been
// applied, and neither is idempotent by count, so the node cannot send it
// again. Once a heartbeat interval (the room sync) the node instead sends
// every room's occupancy and the backend sets the room's Seats to it.
//
// The races, and how the sequence numbers resolve them: every Consume and
// ReleaseSeat of the node, and every snapshot, takes the next number of one
// counter (seq), under mu, together with the change it makes to the
// counts below. The backend sets Seats = the snapshot's occupancy + the
// changes of the operations numbered above the snapshot it has applied so
// far, and from then on ignores operations numbered below it. So a player
// consumed between the snapshot and the sync is counted once (by its
// operation, not by the occupancy), one whose Consume was numbered before
// the snapshot once (by the occupancy, even if the Consume lands after the
// sync); the same for releases.
//
// A room's occupancy is the smaller of two counts:
//   - held: Consumes numbered minus releases numbered (and minus Consumes
//     that failed, and seats consumed and then abandoned). It changes
//     atomically with the numbering, so it counts every player exactly
//     once: the occupancy the sequence numbers need.
//   - the room's players (roomrt.Room.Occupancy, reconnection grace
//     included) plus the players in transit (consumed, not in the room yet).
//     This is the real occupancy: it also frees a seat that the sessions'
//     bookkeeping leaked. It may count a player twice for a moment, never
//     zero times: transit is counted before a Consume is numbered and
//     uncounted only after the player is in the room (Join returned) or its
//     release is numbered, and a room counts a leaving player until its
//     Conn's Removed (which numbers the release) has returned.
//
// Neither count is ever below the truth, so the minimum is exact whenever
// one of them is, and a sync never lets a room be overfilled.
//
// Safe for concurrent use.
type seatLedger struct {
	mu    sync.Mutex
	seq   uint64
	rooms map[string]*seatCount
}

type seatCount struct {
	held    int // consumed - released - failed or abandoned
	transit int // consumed, not in the room yet
}

// countLocked returns roomID's counts, created on first use. Caller holds mu.
func (l *seatLedger) countLocked(roomID string) *seatCount {
	c := l.rooms[roomID]
	if c == nil {
		if l.rooms == nil {
			l.rooms = map[string]*seatCount{}
		}
		c = &seatCount{}
		l.rooms[roomID] = c
	}
	return c
}

// tidyLocked forgets roomID's counts once both are back to zero.
func (l *seatLedger) tidyLocked(roomID string, c *seatCount) {
	if c.held <= 0 && c.transit <= 0 {
		delete(l.rooms, roomID)
	}
}

// consume counts a player admitted to roomID, in transit, and numbers its
// Consume.
func (l *seatLedger) consume(roomID string) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.countLocked(roomID)
	c.held++
	c.transit++
	l.seq++
	return l.seq
}

// arrived: a player in transit to roomID is in the room now.
func (l *seatLedger) arrived(roomID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.countLocked(roomID)
	c.transit--
	l.tidyLocked(roomID, c)
}

// failed: a player in transit to roomID will never be in it and no release
// is sent (its Consume failed, or the seat was abandoned). If the Consume
// was applied after all, the next sync takes the seat back.
func (l *seatLedger) failed(roomID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.countLocked(roomID)
	c.held--
	c.transit--
	l.tidyLocked(roomID, c)
}

// release numbers a ReleaseSeat of roomID; fromTransit: the player never
// got into the room.
func (l *seatLedger) release(roomID string, fromTransit bool) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.countLocked(roomID)
	c.held--
	if fromTransit {
		c.transit--
	}
	l.tidyLocked(roomID, c)
	l.seq++
	return l.seq
}

// snapshot numbers a seat sync and reads the occupancy of rooms.
func (l *seatLedger) snapshot(rooms []*roomrt.Room) (uint64, []cluster.RoomSeats) {
	out := make([]cluster.RoomSeats, 0, len(rooms))
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	for _, r := range rooms {
		var c seatCount
		if p := l.rooms[r.ID()]; p != nil {
			c = *p
		}
		n := max(0, min(c.held, r.Occupancy()+c.transit))
		out = append(out, cluster.RoomSeats{ID: r.ID(), Seats: n})
	}
	return l.seq, out
}

// inTransit returns the players counted in transit (tests, metrics).
func (l *seatLedger) inTransit() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.rooms {
		n += c.transit
	}
	return n
}

// syncSeats sends every local room's occupancy to the directory (see
// seatLedger). The backend batches the rooms; at 1,000 rooms a sync costs
// Redis about 4 ms a second (docs/cluster.md).
func (e *Engine) syncSeats(ctx context.Context) {
	if !e.cl.shared {
		return // embedded: rooms are not in the directory
	}
	seq, rooms := e.cl.ledger.snapshot(e.rooms.Rooms())
	if len(rooms) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err := e.cl.b.SyncSeats(cctx, e.cfg.NodeID, seq, rooms)
	cancel()
	if err != nil {
		e.clusterErr("sync seats", err)
		return
	}
	e.metrics.seatSyncs.Add(1)
}

// consumeSeat turns reservation c, for a room of this node, into an
// admitted player of this session, counted in transit until it is in the
// room (joinLocalSeat) or its seat is released.
func (s *session) consumeSeat(ctx context.Context, c cluster.Claims) error {
	e := s.e
	seq := e.cl.ledger.consume(c.RoomID)
	if err := e.cl.b.Consume(ctx, c, seq); err != nil {
		e.cl.ledger.failed(c.RoomID)
		return err
	}
	s.mu.Lock()
	old := s.transitRoom
	s.transitRoom = c.RoomID
	s.mu.Unlock()
	if old != "" {
		// A seat consumed earlier and never used (the client joined
		// elsewhere): the next sync frees it.
		e.cl.ledger.failed(old)
	}
	return nil
}

// takeTransitLocked reports whether the session's player in transit is
// for roomID, and if so stops tracking it. Caller holds s.mu.
func (s *session) takeTransitLocked(roomID string) bool {
	if roomID == "" || s.transitRoom != roomID {
		return false
	}
	s.transitRoom = ""
	return true
}

// releaseSeat records in the directory that a player admitted with a
// reservation left room id (fromTransit: before getting into the room).
// A release that does not reach the backend, or whose reply is lost, is
// not sent again: the next seat sync sets the count right (seatLedger).
func (e *Engine) releaseSeat(id string, fromTransit bool) {
	seq := e.cl.ledger.release(id, fromTransit)
	e.dir(func(ctx context.Context) {
		e.clusterErr("release seat", e.cl.b.ReleaseSeat(ctx, id, seq))
	})
}

// owedRemovals keeps the closed rooms whose directory removal did not
// reach the backend (Redis down, the directory queue full): their records
// would otherwise stay in the directory, seats and all, until the node
// dies. The room sync retries them (retryRemovals); a removal is
// idempotent, so it is retried after any failure. A removal is owed only
// if the node did not re-register since the call was issued (gen): a
// re-registration sweeps the old records. Safe for concurrent use.
type owedRemovals struct {
	mu    sync.Mutex
	gen   uint64              // re-registrations seen (reset)
	rooms map[string]struct{} // closed rooms still in the directory
}

// epoch is the generation to pass to add for a call issued now.
func (o *owedRemovals) epoch() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.gen
}

// add records that roomID closed but its record may still be in the
// directory.
func (o *owedRemovals) add(roomID string, gen uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if gen != o.gen {
		return // re-registered since: the old records were swept
	}
	if o.rooms == nil {
		o.rooms = map[string]struct{}{}
	}
	o.rooms[roomID] = struct{}{}
}

func (o *owedRemovals) done(roomID string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.rooms, roomID)
}

func (o *owedRemovals) list() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Collect(maps.Keys(o.rooms))
}

func (o *owedRemovals) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.rooms)
}

// reset forgets every owed removal: the node's old records were swept and
// its rooms just published afresh (re-registration).
func (o *owedRemovals) reset() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.gen++
	clear(o.rooms)
}

// removeRoom removes a closed room from the directory; a removal that does
// not reach the backend is owed and retried by the room sync.
func (e *Engine) removeRoom(id string) {
	gen := e.cl.removals.epoch()
	queued := e.dir(func(ctx context.Context) {
		err := e.cl.b.RemoveRoom(ctx, id)
		e.clusterErr("remove room", err)
		if err != nil && !errors.Is(err, cluster.ErrRoomNotFound) {
			e.cl.removals.add(id, gen)
		}
	})
	if !queued {
		e.cl.removals.add(id, gen)
	}
}

// retryRemovals sends the owed removals of closed rooms. It stops at the
// first failure: the backend is still away, the next sync tries again.
func (e *Engine) retryRemovals(ctx context.Context) {
	gen := e.cl.removals.epoch()
	for _, id := range e.cl.removals.list() {
		if e.cl.removals.epoch() != gen {
			return // re-registered meanwhile: the old records were swept
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := e.cl.b.RemoveRoom(cctx, id)
		cancel()
		if err != nil {
			e.clusterErr("retry remove room", err)
			return
		}
		e.cl.removals.done(id)
		e.metrics.releasesRetried.Add(1)
	}
}
