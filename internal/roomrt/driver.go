package roomrt

import (
	"io"
	"log/slog"
	"time"
)

// Driver runs one room's ticks on the caller's goroutine, without the
// room's loop, timers or pacing: a whole tick (the mailbox, the handler,
// replication, the state frames handed to each player's Conn) as the loop
// runs it. It exists for benchmarks of whole ticks, in this package and in
// game packages; a node never uses it.
//
// Not safe for concurrent use: the caller is the room goroutine. Inputs
// may be posted from any goroutine (Room.PostInput), as with a running room.
type Driver struct {
	r *Room
}

// NewDriver returns a room of def, id "driver", on a manual clock, its
// handler initialised with opts. Measurements go to obs (nil:
// NopObserver).
func NewDriver(def *Definition, opts []byte, obs Observer) (*Driver, error) {
	if def.err != nil {
		return nil, def.err
	}
	if obs == nil {
		obs = NopObserver{}
	}
	r := newRoom("driver", "driver", def, NewManualClock(time.Unix(0, 0)), obs, slog.New(slog.NewTextHandler(io.Discard, nil)), false, nil)
	if err := r.protect(func() error { return r.rt.Init(opts) }); err != nil {
		return nil, err
	}
	return &Driver{r: r}, nil
}

// Room returns the driven room: post inputs to it.
func (d *Driver) Room() *Room { return d.r }

// Join seats a player on conn, as Room.Join does (the handler's
// JoinAttempt and Join run now, on the caller's goroutine).
func (d *Driver) Join(req JoinRequest) (JoinResult, error) {
	if err := d.r.reserveSeat(); err != nil {
		return JoinResult{}, err
	}
	return d.r.handleJoin(&req)
}

// SetHelpers gives the room n helpers for its socket calls, as a
// Registry's (RegistryConfig.Helpers; used from Config.ParallelIOPlayers
// connected players on), in place of those it had; n < 1 leaves it none.
// Close stops them.
func (d *Driver) SetHelpers(n int) {
	d.r.helpers.stop()
	d.r.helpers = newHelperPool(n)
}

// Close stops the room's helpers (SetHelpers) and waits for them.
func (d *Driver) Close() {
	d.r.helpers.stop()
	d.r.helpers = nil
}

// Tick runs the room's next tick.
func (d *Driver) Tick() { d.r.runTick(0, 0, 1) }
