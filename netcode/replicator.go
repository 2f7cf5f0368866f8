package netcode

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"
)

// ErrNoState is returned by Replicator.Encode before the first Commit.
var ErrNoState = errors.New("netcode: no state committed")

// ErrUnknownBaseline is returned by ClientStates.Apply when a patch's
// baseline tick is not among the states it keeps. The client should ask for
// a full state (tickwire.v1.Ack with tick 0).
var ErrUnknownBaseline = errors.New("netcode: unknown baseline tick")

// ReplicatorConfig configures a Replicator. The zero value is usable.
type ReplicatorConfig struct {
	// History is the number of ticks of snapshots kept as possible
	// baselines (default 64: 3.2 s at 20 Hz). A client whose baseline is
	// older gets a full state.
	History int
	// ReuseBuffers lets Encode reuse the memory of the payloads it
	// returned before the latest Commit: a payload is then valid only until
	// the next Commit, and a room that encodes every tick allocates no
	// payload. Without it every payload stays valid for good.
	ReuseBuffers bool
	// Layouts, when set, is where the Replicator reads the layouts of its
	// state's Go types, shared with other owners; nil: it keeps its own.
	Layouts *Layouts
}

// ReplicatorStats are cumulative counters.
type ReplicatorStats struct {
	Encodes     uint64 // payloads actually encoded (FullEncodes + Patches)
	FullEncodes uint64 // full protobuf encodings
	Patches     uint64 // patches encoded
	CacheHits   uint64 // Encode calls answered from the per-tick cache
}

type snapshot struct {
	tick  uint32
	state proto.Message
}

// Replicator keeps a ring of recent state snapshots of one room and encodes
// the latest one against any baseline, once per distinct baseline per tick.
//
// Baselines: over an ordered transport (WebSocket/TCP) a connection's
// baseline is the last state frame actually written to its socket when the
// room encodes. Frames already queued but not yet written are newer than
// that baseline, so a client can receive a patch against a state that is
// older than the newest one it has applied: clients keep a ring of received
// states (ClientStates), not just the last one. An acknowledged baseline (for
// an unreliable transport) works the same way.
//
// A Replicator is not safe for concurrent use: it belongs to the room
// goroutine. Payloads it returns are shared by every client with the same
// baseline and must be treated as immutable.
type Replicator struct {
	ring   []snapshot
	latest uint32
	has    bool
	cache  map[uint32]cached
	differ Differ
	stats  ReplicatorStats
	size   int // last full size, to size buffers
	// spare is the snapshot evicted by the previous Commit, recycled by
	// the next one once it is more than len(ring) ticks old.
	spare  snapshot
	copier copier
	reuse  bool
	free   [][]byte // payload memory for Encode to reuse (reuse)
}

// Bounds of the payload memory a ReuseBuffers Replicator keeps: a few
// baselines per tick is usual, and a buffer grown for a rare big full
// state is let go.
const (
	maxFreePayloads  = 8
	maxKeptPayloadSz = 64 << 10
)

type cached struct {
	payload []byte
	used    uint32
}

// NewReplicator returns a Replicator with cfg's defaults applied.
func NewReplicator(cfg ReplicatorConfig) *Replicator {
	if cfg.History <= 0 {
		cfg.History = 64
	}
	r := &Replicator{ring: make([]snapshot, cfg.History), cache: make(map[uint32]cached), reuse: cfg.ReuseBuffers}
	r.differ.types.shared, r.copier.types.shared = cfg.Layouts, cfg.Layouts
	return r
}

// Commit stores a snapshot (a deep copy) of state for tick and makes it the
// latest. Ticks should increase; committing a tick again replaces it. The
// caller keeps ownership of state and may mutate it afterwards.
//
// Snapshots are recycled: the one evicted from the ring is kept as a spare,
// and a later Commit copies the new state into it (reusing its
// sub-messages and map entries) instead of allocating a clone, once the
// spare's tick is more than History ticks older than the tick committed.
// So a snapshot returned by Latest stays unchanged until a tick more than
// History ticks newer is committed (see Latest).
func (r *Replicator) Commit(tick uint32, state proto.Message) {
	slot := int(tick % uint32(len(r.ring)))
	old := r.ring[slot]
	var snap proto.Message
	if sp := r.spare; sp.state != nil && int64(tick)-int64(sp.tick) > int64(len(r.ring)) && r.copier.copyInto(sp.state, state) {
		snap = sp.state
		r.spare = snapshot{}
	} else {
		snap = proto.Clone(state)
	}
	if old.state != nil {
		r.spare = old
	}
	r.ring[slot] = snapshot{tick: tick, state: snap}
	r.latest, r.has = tick, true
	if r.reuse {
		for _, c := range r.cache {
			if len(r.free) < maxFreePayloads && cap(c.payload) <= maxKeptPayloadSz {
				r.free = append(r.free, c.payload[:0])
			}
		}
	}
	clear(r.cache)
}

// buffer returns memory for a payload of about n bytes: reused with
// ReuseBuffers, else new.
func (r *Replicator) buffer(n int) []byte {
	if k := len(r.free); k > 0 {
		b := r.free[k-1]
		r.free[k-1] = nil
		r.free = r.free[:k-1]
		return b
	}
	return make([]byte, 0, n)
}

// Latest returns the latest committed tick and its snapshot (nil before the
// first Commit). The snapshot is immutable: never modify it. It stays
// valid until a tick more than History ticks newer than it is committed;
// after that Commit may reuse its memory for a newer snapshot, so do not
// keep it (or views sharing its values, ViewFilter.View) longer. Interest
// management builds per-client views from it (ViewFilter).
func (r *Replicator) Latest() (uint32, proto.Message) {
	if !r.has {
		return 0, nil
	}
	return r.latest, r.get(r.latest)
}

// Has reports whether the snapshot of tick is still in the ring.
func (r *Replicator) Has(tick uint32) bool { return tick != 0 && r.get(tick) != nil }

func (r *Replicator) get(tick uint32) proto.Message {
	s := r.ring[int(tick%uint32(len(r.ring)))]
	if s.state == nil || s.tick != tick {
		return nil
	}
	return s.state
}

// Encode returns the payload of the latest committed tick against baseline:
// a patch (proto/DELTA.md) with used == baseline when baseline is in the
// ring, else the full protobuf encoding with used == 0 (baseline 0 always
// means full). Results are cached until the next Commit, so clients sharing
// a baseline share one []byte: treat it as immutable (and, with
// ReplicatorConfig.ReuseBuffers, do not keep it past the next Commit).
func (r *Replicator) Encode(baseline uint32) (payload []byte, used uint32, err error) {
	if !r.has {
		return nil, 0, ErrNoState
	}
	base := r.get(baseline)
	if baseline == 0 || base == nil {
		baseline = 0
	}
	if c, ok := r.cache[baseline]; ok {
		r.stats.CacheHits++
		return c.payload, c.used, nil
	}
	cur := r.get(r.latest)
	if base == nil {
		payload, err = proto.MarshalOptions{Deterministic: true}.MarshalAppend(r.buffer(r.size), cur)
		if err != nil {
			return nil, 0, fmt.Errorf("netcode: encode full state: %w", err)
		}
		r.size = len(payload)
		r.stats.FullEncodes++
	} else {
		payload, err = r.differ.AppendDiff(r.buffer(64+r.size/4), base, cur)
		if err != nil {
			return nil, 0, err
		}
		r.stats.Patches++
	}
	r.stats.Encodes++
	r.cache[baseline] = cached{payload: payload, used: baseline}
	return payload, baseline, nil
}

// Stats returns the cumulative counters.
func (r *Replicator) Stats() ReplicatorStats { return r.stats }

// ClientStates keeps a client's recently received states by tick and applies
// State frames (tickwire.v1.State: tick, baseline_tick, payload) to them.
// It is the client half of Replicator. Not safe for concurrent use.
type ClientStates[T proto.Message] struct {
	applier Applier
	newT    func() T
	ring    []clientState[T]
	latest  uint32
}

type clientState[T proto.Message] struct {
	tick  uint32
	state T
	ok    bool
}

// NewClientStates returns a ClientStates keeping the last keep states
// (default 32 when keep <= 0). newT returns a new empty state message.
func NewClientStates[T proto.Message](newT func() T, keep int) *ClientStates[T] {
	if keep <= 0 {
		keep = 32
	}
	return &ClientStates[T]{newT: newT, ring: make([]clientState[T], keep)}
}

// Apply decodes the State frame for tick: a full state when baseline is 0,
// else a patch applied to a copy of the kept state of tick baseline. The new
// state is kept and returned; it is owned by ClientStates (a future
// baseline), so treat it as read-only and clone it before modifying.
// Errors: ErrUnknownBaseline, or ErrMalformedPatch (also for a full state
// that does not decode); the kept states are unchanged on error.
func (c *ClientStates[T]) Apply(tick, baseline uint32, payload []byte) (T, error) {
	var zero T
	var s T
	if baseline == 0 {
		s = c.newT()
		if err := proto.Unmarshal(payload, s); err != nil {
			return zero, fmt.Errorf("full state for tick %d: %w: %w", tick, ErrMalformedPatch, err)
		}
	} else {
		base, ok := c.Get(baseline)
		if !ok {
			return zero, fmt.Errorf("tick %d baseline %d: %w", tick, baseline, ErrUnknownBaseline)
		}
		s = proto.Clone(base).(T)
		if err := c.applier.Apply(s, payload); err != nil {
			return zero, fmt.Errorf("tick %d baseline %d: %w", tick, baseline, err)
		}
	}
	c.ring[int(tick%uint32(len(c.ring)))] = clientState[T]{tick: tick, state: s, ok: true}
	if tick > c.latest {
		c.latest = tick
	}
	return s, nil
}

// Get returns the kept state of tick.
func (c *ClientStates[T]) Get(tick uint32) (T, bool) {
	e := c.ring[int(tick%uint32(len(c.ring)))]
	if !e.ok || e.tick != tick {
		var zero T
		return zero, false
	}
	return e.state, true
}

// Latest returns the newest tick applied (0 if none).
func (c *ClientStates[T]) Latest() uint32 { return c.latest }

// Reset forgets every kept state (after a reconnect).
func (c *ClientStates[T]) Reset() {
	clear(c.ring)
	c.latest = 0
}
