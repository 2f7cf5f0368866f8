package cluster

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// Load is a node's current load, supplied by the engine.
type Load struct {
	Rooms, Players int
	Draining       bool
}

// NodeConfig configures [NewNode]. ID is required.
type NodeConfig struct {
	ID, Address string
	// Capacity is the max number of players (0: unlimited).
	Capacity int
	// Interval between heartbeats (default 1s); keep it well under NodeTTL.
	Interval time.Duration
	// MaxBackoff caps the retry delay after failures (default 5s). Retries
	// start at 100ms and double, with jitter.
	MaxBackoff time.Duration
	// Load reports the current load; nil reports zeros. Called on the Run
	// goroutine; must not block.
	Load func() Load
	// Rooms returns the node's rooms (NodeID is overwritten). It is called
	// whenever a heartbeat finds the node not registered (first start,
	// expiry, Redis restart) and every room is re-published with PutRoom.
	Rooms func() []RoomRecord
	// Registered, when set, runs after a heartbeat that (re-)registered the
	// node and re-published its rooms: first start, expiry, or a Redis
	// that lost its data. The engine re-queues its players' matchmaking
	// tickets there. Called on the Run goroutine.
	Registered func(ctx context.Context)
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

// Node keeps one node registered: heartbeats, re-publication of its rooms
// after a loss of registration, reconnect with backoff. Run it on one
// goroutine; Healthy may be called from any.
type Node struct {
	b       Backend
	cfg     NodeConfig
	healthy atomic.Bool
}

// NewNode returns a Node for b.
func NewNode(b Backend, cfg NodeConfig) *Node {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Node{b: b, cfg: cfg}
}

// Healthy reports whether the last heartbeat succeeded.
func (n *Node) Healthy() bool { return n.healthy.Load() }

// Beat sends one heartbeat and, if the node was not registered, re-publishes
// its rooms. It reports whether the node was (re-)registered.
func (n *Node) Beat(ctx context.Context) (bool, error) {
	info := NodeInfo{ID: n.cfg.ID, Address: n.cfg.Address, Capacity: n.cfg.Capacity}
	if n.cfg.Load != nil {
		l := n.cfg.Load()
		info.Rooms, info.Players, info.Draining = l.Rooms, l.Players, l.Draining
	}
	created, err := n.b.Heartbeat(ctx, info)
	if err != nil {
		n.healthy.Store(false)
		return false, err
	}
	if created && n.cfg.Rooms != nil {
		var errs []error
		for _, r := range n.cfg.Rooms() {
			r.NodeID = n.cfg.ID
			if err := n.b.PutRoom(ctx, r); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			// Register again next beat so the rooms are retried.
			_ = n.b.Deregister(ctx, n.cfg.ID)
			n.healthy.Store(false)
			return created, err
		}
	}
	if created && n.cfg.Registered != nil {
		n.cfg.Registered(ctx)
	}
	n.healthy.Store(true)
	return created, nil
}

// Run heartbeats until ctx ends, then returns ctx.Err(). It does not
// deregister (call Backend.Deregister after draining); a node whose Run
// stops disappears after NodeTTL.
func (n *Node) Run(ctx context.Context) error {
	backoff := time.Duration(0)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		created, err := n.Beat(ctx)
		next := n.cfg.Interval
		switch {
		case err != nil:
			backoff = min(max(backoff*2, 100*time.Millisecond), n.cfg.MaxBackoff)
			next = backoff/2 + rand.N(backoff/2+1)
			n.cfg.Logger.Warn("cluster heartbeat failed", "node", n.cfg.ID, "retry_in", next, "err", err)
		case created:
			if backoff > 0 {
				n.cfg.Logger.Info("cluster node re-registered", "node", n.cfg.ID)
			}
			backoff = 0
		default:
			backoff = 0
		}
		t.Reset(next)
	}
}
