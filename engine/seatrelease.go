package engine

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/tickwire/tickwire/engine/cluster"
)

// owedReleases counts, per local room, the directory seat releases that
// did not reach the backend (Redis down, the directory queue full). Without
// them a room's directory seat count stays too high for good: join-or-create
// and the matcher would see it fuller than it is. It also keeps the closed
// rooms whose removal did not reach the backend (their record would stay in
// the directory, seats and all, until the node dies). The room sync retries
// both (retryReleases). Safe for concurrent use.
//
// A release is not idempotent (Seats-1), so only a release that provably
// never reached the backend (cluster.NotApplied: the connection could not
// be dialled; or the directory queue was full) is owed: one that failed
// mid-call (a timeout, a primary killed during a failover) may have been
// applied, and freeing the seat twice would let the room be overfilled in
// the directory's eyes. Such a release is lost as before (the count stays
// one too high). A failure is owed only if the node did not re-register
// since the call was issued (gen): a re-registration publishes the rooms
// with their real counts, which already leave the player out. Removals are
// idempotent and retried after any failure.
type owedReleases struct {
	mu       sync.Mutex
	gen      uint64              // re-registrations seen (reset)
	owed     map[string]int      // room id -> releases owed
	removals map[string]struct{} // closed rooms still in the directory
}

// epoch is the generation to pass to add and removal for a call issued now.
func (o *owedReleases) epoch() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.gen
}

// removal records that roomID closed but its record may still be in the
// directory; its owed releases go with the record.
func (o *owedReleases) removal(roomID string, gen uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if gen != o.gen {
		return // re-registered since: the old records were swept
	}
	if o.removals == nil {
		o.removals = map[string]struct{}{}
	}
	o.removals[roomID] = struct{}{}
	delete(o.owed, roomID)
}

func (o *owedReleases) removed(roomID string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.removals, roomID)
}

func (o *owedReleases) owedRemovals() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]string, 0, len(o.removals))
	for id := range o.removals {
		out = append(out, id)
	}
	return out
}

func (o *owedReleases) add(roomID string, n int, gen uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if gen != o.gen {
		return // re-registered since: the room was published with its real count
	}
	if o.owed == nil {
		o.owed = map[string]int{}
	}
	o.owed[roomID] += n
}

// settle records that n owed releases of roomID reached the backend, or
// (n < 0) forgets the room.
func (o *owedReleases) settle(roomID string, n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if left := o.owed[roomID] - n; n >= 0 && left > 0 {
		o.owed[roomID] = left
		return
	}
	delete(o.owed, roomID)
}

func (o *owedReleases) snapshot() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make(map[string]int, len(o.owed))
	for id, n := range o.owed {
		out[id] = n
	}
	return out
}

// counts returns the releases and the removals owed.
func (o *owedReleases) counts() (releases, removals int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, k := range o.owed {
		releases += k
	}
	return releases, len(o.removals)
}

// reset forgets every owed release and removal: the node's old records
// were swept and its rooms just published afresh with their real seat
// counts (re-registration).
func (o *owedReleases) reset() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.gen++
	clear(o.owed)
	clear(o.removals)
}

// releaseSeat records in the directory that a player admitted with a
// reservation left room id. A release that does not reach the backend is
// owed and retried by the room sync.
func (e *Engine) releaseSeat(id string) {
	gen := e.cl.releases.epoch()
	queued := e.dir(func(ctx context.Context) {
		err := e.cl.b.ReleaseSeat(ctx, id)
		e.clusterErr("release seat", err)
		if cluster.NotApplied(err) {
			e.cl.releases.add(id, 1, gen)
		}
	})
	if !queued {
		e.cl.releases.add(id, 1, gen)
	}
}

// removeRoom removes a closed room from the directory; a removal that does
// not reach the backend is owed and retried by the room sync.
func (e *Engine) removeRoom(id string) {
	gen := e.cl.releases.epoch()
	queued := e.dir(func(ctx context.Context) {
		err := e.cl.b.RemoveRoom(ctx, id)
		e.clusterErr("remove room", err)
		if err != nil && !errors.Is(err, cluster.ErrRoomNotFound) {
			e.cl.releases.removal(id, gen) // idempotent: retried after any failure
		}
	})
	if !queued {
		e.cl.releases.removal(id, gen)
	}
}

// retryReleases sends the owed removals of closed rooms and the owed seat
// releases of rooms this node still runs (those of closed rooms go with
// their directory record). It stops at the first failure: the backend is
// still away, the next sync tries again.
func (e *Engine) retryReleases(ctx context.Context) {
	gen := e.cl.releases.epoch()
	// A re-registration meanwhile published the rooms afresh: stop.
	stale := func() bool { return e.cl.releases.epoch() != gen }
	for _, id := range e.cl.releases.owedRemovals() {
		if stale() {
			return
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := e.cl.b.RemoveRoom(cctx, id)
		cancel()
		if err != nil {
			e.clusterErr("retry remove room", err)
			return
		}
		e.cl.releases.removed(id)
		e.metrics.releasesRetried.Add(1)
	}
	for id, n := range e.cl.releases.snapshot() {
		if _, ok := e.rooms.Get(id); !ok {
			e.cl.releases.settle(id, -1)
			continue
		}
		for ; n > 0; n-- {
			if stale() {
				return
			}
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := e.cl.b.ReleaseSeat(cctx, id)
			cancel()
			if errors.Is(err, cluster.ErrRoomNotFound) {
				e.cl.releases.settle(id, -1)
				break
			}
			if err != nil {
				e.clusterErr("retry release seat", err)
				return
			}
			e.cl.releases.settle(id, 1)
			e.metrics.releasesRetried.Add(1)
		}
	}
}
