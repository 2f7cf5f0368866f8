package engine

import (
	"context"
	"maps"
	"time"

	"github.com/tickwire/tickwire/internal/roomrt"
)

// publishedRoom is what the directory last heard about a room's public
// description (seats are counted by reservations, not here).
type publishedRoom struct {
	locked, private bool
	maxPlayers      int
	meta            map[string]string
}

// syncRooms republishes rooms whose lock, privacy, seat count or metadata
// changed after creation (handlers change them with Context.Lock,
// SetPrivate, SetMaxPlayers, SetMetadata), so join-or-create from any node
// sees what the owner would accept. It checks once per heartbeat interval;
// the owner still refuses a join that raced a change (locked, full) with
// the usual error. Each round first retries the room removals that did
// not reach the backend (retryRemovals) and sends every room's occupancy
// (syncSeats), so seat counts converge within one round after an outage or
// a seat operation cut off mid-call.
func (e *Engine) syncRooms(ctx context.Context) {
	every := e.cfg.Cluster.HeartbeatInterval
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	seen := map[string]publishedRoom{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		e.retryRemovals(ctx)
		e.syncSeats(ctx)
		live := make(map[string]bool, len(seen))
		for _, in := range e.rooms.List(true) {
			live[in.ID] = true
			now := publishedRoom{locked: in.Locked, private: in.Private, maxPlayers: in.MaxPlayers, meta: in.Metadata}
			prev, ok := seen[in.ID]
			seen[in.ID] = now
			if ok && prev.locked == now.locked && prev.private == now.private && prev.maxPlayers == now.maxPlayers && maps.Equal(prev.meta, now.meta) {
				continue
			}
			// Changed, or first seen here (it may have changed between
			// onRoomOpened and now): publish the current description.
			if r, ok := e.rooms.Get(in.ID); ok {
				e.republish(r)
			}
		}
		for id := range seen {
			if !live[id] {
				delete(seen, id)
			}
		}
	}
}

func (e *Engine) republish(r *roomrt.Room) {
	rec := e.recordOf(r)
	e.dir(func(ctx context.Context) { e.clusterErr("update room", e.cl.b.PutRoom(ctx, rec)) })
}
