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
// and the matcher would see it fuller than it is. The room sync retries them
// (retryReleases). Safe for concurrent use.
//
// A release whose call failed after the backend applied it (a timeout on a
// reply lost in flight) is retried too and counted twice; seat counts never
// go below zero, and the owner still refuses a join its room cannot take.
type owedReleases struct {
	mu   sync.Mutex
	owed map[string]int // room id -> releases owed
}

func (o *owedReleases) add(roomID string, n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
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

func (o *owedReleases) total() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, k := range o.owed {
		n += k
	}
	return n
}

// reset forgets every owed release: the node's rooms were just published
// afresh with their real seat counts (re-registration).
func (o *owedReleases) reset() {
	o.mu.Lock()
	defer o.mu.Unlock()
	clear(o.owed)
}

// releaseSeat records in the directory that a player admitted with a
// reservation left room id. A release that does not reach the backend is
// owed and retried by the room sync.
func (e *Engine) releaseSeat(id string) {
	queued := e.dir(func(ctx context.Context) {
		err := e.cl.b.ReleaseSeat(ctx, id)
		e.clusterErr("release seat", err)
		if err != nil && !errors.Is(err, cluster.ErrRoomNotFound) {
			e.cl.releases.add(id, 1)
		}
	})
	if !queued {
		e.cl.releases.add(id, 1)
	}
}

// retryReleases sends the owed seat releases of rooms this node still runs
// (those of closed rooms went with their directory record). It stops at
// the first failure: the backend is still away, the next sync tries again.
func (e *Engine) retryReleases(ctx context.Context) {
	for id, n := range e.cl.releases.snapshot() {
		if _, ok := e.rooms.Get(id); !ok {
			e.cl.releases.settle(id, -1)
			continue
		}
		for ; n > 0; n-- {
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
