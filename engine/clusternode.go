package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/tickwire/tickwire/engine/cluster"
	"github.com/tickwire/tickwire/internal/roomrt"
)

// clusterLink is the engine's link to the coordination backend (cluster
// mode: Redis shared by every node; embedded: an in-memory backend used by
// the ticket matchmaker and reservations only).
type clusterLink struct {
	b      cluster.Backend
	own    bool // the engine built b and closes it
	shared bool // cluster mode
	err    error
	node   *cluster.Node
	owners *lru.Cache[string, string] // room id -> owner node id
	secret []byte

	addrMu  sync.Mutex
	addrs   map[string]string // node id -> address
	addrsAt time.Time

	dirq      chan func(context.Context)
	ledger    seatLedger   // numbers seat operations, takes seat sync snapshots
	removals  owedRemovals // closed rooms whose removal did not reach the backend
	matMu     sync.Mutex   // serializes materialization of placed rooms
	advertise atomic.Pointer[string]

	bgMu     sync.Mutex
	bgCancel context.CancelFunc
	bgWG     sync.WaitGroup
	stopped  bool
}

// dirQueue bounds the directory updates waiting for the backend.
const dirQueue = 4096

func newClusterLink(cfg Config) *clusterLink {
	cc := cfg.Cluster
	l := &clusterLink{shared: cc.clustered(), secret: []byte(cc.Secret), addrs: map[string]string{}, dirq: make(chan func(context.Context), dirQueue)}
	l.owners, _ = lru.New[string, string](cc.OwnerCacheSize)
	ccfg := cluster.Config{Secret: []byte(cc.Secret), NodeTTL: cc.NodeTTL, ReservationTTL: cc.ReservationTTL, Logger: cfg.Logger}
	switch {
	case cc.Backend != nil:
		l.b = cc.Backend
	case cc.RedisAddr != "" || cc.RedisSentinelMaster != "":
		// Config.validate refused an address without a secret.
		r, err := cluster.NewRedis(cluster.RedisConfig{Config: ccfg, Addr: cc.RedisAddr, Password: cc.RedisPassword, Prefix: cc.RedisPrefix,
			SentinelMaster: cc.RedisSentinelMaster, SentinelAddrs: cc.RedisSentinelAddrs})
		if err != nil {
			l.err = fmt.Errorf("engine: cluster backend: %w", err)
			return l
		}
		l.b = r
		l.own = true
	default:
		l.b = cluster.NewMemory(ccfg)
		l.own = true
	}
	if cc.AdvertiseAddr != "" {
		a := cc.AdvertiseAddr
		l.advertise.Store(&a)
	}
	return l
}

// Clustered reports whether the engine runs in cluster mode (a shared
// backend such as Redis), as opposed to the embedded single node.
func (e *Engine) Clustered() bool { return e.cl.shared }

// Backend returns the coordination backend (in-memory when embedded).
func (e *Engine) Backend() cluster.Backend { return e.cl.b }

// AdvertiseAddr returns the address other nodes use to reach this node.
func (e *Engine) AdvertiseAddr() string {
	if a := e.cl.advertise.Load(); a != nil {
		return *a
	}
	return "127.0.0.1:8080"
}

// setListenAddr sets the advertised address from the listener unless
// Cluster.AdvertiseAddr was given. An unspecified host becomes 127.0.0.1.
func (e *Engine) setListenAddr(addr net.Addr) {
	if e.cl.advertise.Load() != nil {
		return
	}
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	a := net.JoinHostPort(host, port)
	e.cl.advertise.CompareAndSwap(nil, &a)
}

// dir runs a directory update: inline in embedded mode (in-memory, never
// blocks), else queued for the directory worker. A full queue drops the
// update (counted, and reported false); the heartbeat re-publishes rooms
// after any loss of registration.
func (e *Engine) dir(fn func(context.Context)) bool {
	if !e.cl.shared {
		fn(context.Background())
		return true
	}
	select {
	case e.cl.dirq <- fn:
		return true
	default:
		e.metrics.dirDropped.Add(1)
		return false
	}
}

func (e *Engine) dirWorker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case fn := <-e.cl.dirq:
			octx, cancel := context.WithTimeout(ctx, 2*time.Second)
			fn(octx)
			cancel()
		}
	}
}

func (e *Engine) clusterErr(op string, err error) {
	if err == nil {
		return
	}
	e.metrics.clusterErrors.Add(1)
	e.log.Debug("cluster call failed", "op", op, "err", err)
}

func (e *Engine) onRoomOpened(r *roomrt.Room) {
	if !e.cl.shared {
		return
	}
	rec := e.recordOf(r)
	e.dir(func(ctx context.Context) { e.clusterErr("put room", e.cl.b.PutRoom(ctx, rec)) })
}

func (e *Engine) onRoomClosed(r *roomrt.Room) {
	id := r.ID()
	e.cl.owners.Remove(id)
	e.removeRoom(id)
}

func (e *Engine) recordOf(r *roomrt.Room) cluster.RoomRecord {
	in := r.Info()
	return cluster.RoomRecord{
		ID: in.ID, Type: in.Type, NodeID: e.cfg.NodeID,
		Seats: in.Players, MaxSeats: in.MaxPlayers,
		Locked: in.Locked, Private: in.Private, State: cluster.RoomRunning,
		Metadata: in.Metadata,
	}
}

func (e *Engine) isDraining() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.draining
}

func (e *Engine) load() cluster.Load {
	return cluster.Load{Rooms: e.rooms.Len(), Players: int(e.metrics.players.Load()), Draining: e.isDraining()}
}

func (e *Engine) localRecords() []cluster.RoomRecord {
	if !e.cl.shared {
		return nil
	}
	// Published afresh: no removal is owed.
	e.cl.removals.reset()
	list := e.rooms.List(true)
	out := make([]cluster.RoomRecord, 0, len(list))
	for _, in := range list {
		if r, ok := e.rooms.Get(in.ID); ok {
			out = append(out, e.recordOf(r))
		}
	}
	return out
}

// startCluster starts the heartbeat, the directory worker, the bus
// subscriber and one matcher per queue. Idempotent.
func (e *Engine) startCluster() error {
	l := e.cl
	if l.err != nil {
		return l.err
	}
	l.bgMu.Lock()
	defer l.bgMu.Unlock()
	if l.bgCancel != nil || l.stopped {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.bgCancel = cancel
	l.node = cluster.NewNode(l.b, cluster.NodeConfig{
		ID: e.cfg.NodeID, Address: e.AdvertiseAddr(), Capacity: e.cfg.Cluster.Capacity,
		Interval: e.cfg.Cluster.HeartbeatInterval,
		Load:     e.load, Rooms: e.localRecords, Registered: e.requeueTickets, Logger: e.log,
	})
	// One synchronous beat so the node can take placements at once.
	bctx, bcancel := context.WithTimeout(ctx, time.Second)
	if _, err := l.node.Beat(bctx); err != nil {
		e.log.Warn("first cluster heartbeat failed; retrying in the background", "err", err)
	}
	bcancel()
	run := func(f func(context.Context)) {
		l.bgWG.Add(1)
		go func() { defer l.bgWG.Done(); f(ctx) }()
	}
	run(func(ctx context.Context) { _ = l.node.Run(ctx) })
	run(e.dirWorker)
	run(e.syncRooms)
	run(e.subscribeLoop)
	if len(e.cfg.Cluster.Queues) > 0 {
		run(e.expireTickets)
	}
	for _, q := range e.cfg.Cluster.Queues {
		m := cluster.NewMatcher(l.b, cluster.MatcherConfig{
			Queue: q.Name, Holder: e.cfg.NodeID, MatchSize: q.MatchSize, RoomType: q.RoomType,
			RatingKey: q.RatingKey, BaseWindow: q.BaseWindow, WidenPerSecond: q.WidenPerSecond,
			MaxWindow: q.MaxWindow, TicketTimeout: q.TicketTimeout, Interval: q.Interval,
			StatusInterval: q.StatusInterval, Logger: e.log,
		})
		run(func(ctx context.Context) { _ = m.Run(ctx) })
	}
	return nil
}

// beatNow sends one heartbeat at once (used when draining starts).
func (e *Engine) beatNow(ctx context.Context) {
	e.cl.bgMu.Lock()
	n := e.cl.node
	e.cl.bgMu.Unlock()
	if n == nil {
		return
	}
	_, err := n.Beat(ctx)
	e.clusterErr("heartbeat", err)
}

// stopCluster stops the background loops, deregisters the node and closes
// a backend the engine built.
func (e *Engine) stopCluster(ctx context.Context) {
	l := e.cl
	l.bgMu.Lock()
	if l.stopped {
		l.bgMu.Unlock()
		return
	}
	l.stopped = true
	cancel, started := l.bgCancel, l.node != nil
	l.bgMu.Unlock()
	if cancel != nil {
		cancel()
	}
	l.bgWG.Wait()
	if started {
		dctx, dcancel := context.WithTimeout(ctx, 2*time.Second)
		e.clusterErr("deregister", l.b.Deregister(dctx, e.cfg.NodeID))
		dcancel()
	}
	if l.own {
		_ = l.b.Close()
	}
}

// subscribeLoop receives bus messages for this node (matchmaker notices)
// and resubscribes with backoff after a backend outage.
func (e *Engine) subscribeLoop(ctx context.Context) {
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		ch, err := e.cl.b.Subscribe(ctx, e.cfg.NodeID)
		if err == nil {
			backoff = 0
			for p := range ch {
				e.onBus(ctx, p)
			}
		} else {
			e.clusterErr("subscribe", err)
		}
		backoff = min(max(backoff*2, 100*time.Millisecond), 5*time.Second)
		t := time.NewTimer(backoff/2 + rand.N(backoff/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// onBus handles one bus message: matchmaker notices for this node's
// sessions, or a monitor request or reply (monitorbus.go). ctx is the
// subscriber's.
func (e *Engine) onBus(ctx context.Context, p []byte) {
	if bytes.HasPrefix(p, adminBusMagic) {
		e.onAdminBus(ctx, p)
		return
	}
	if !cluster.IsNotices(p) {
		return
	}
	ns, err := cluster.DecodeNotices(p)
	if err != nil {
		e.clusterErr("decode notices", err)
		return
	}
	for i := range ns {
		if s := e.sessionByID(ns[i].UserID); s != nil {
			s.onNotice(&ns[i])
		}
	}
}

func (e *Engine) sessionByID(id string) *session {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.byID[id]
}

// nodeOfSession returns the node id encoded in a session id
// ("<random>@<node id>"), or "" when it has none.
func nodeOfSession(sid string) string {
	_, node, ok := strings.Cut(sid, "@")
	if !ok {
		return ""
	}
	return node
}

// ownerOf returns the owner node of a room, from the LRU cache or the
// directory. fresh skips the cache (after a stale entry).
func (e *Engine) ownerOf(ctx context.Context, roomID string, fresh bool) (string, error) {
	if !fresh {
		if n, ok := e.cl.owners.Get(roomID); ok {
			e.metrics.ownerHits.Add(1)
			return n, nil
		}
	}
	e.metrics.ownerMisses.Add(1)
	rec, err := e.cl.b.LookupRoom(ctx, roomID)
	if err != nil {
		return "", err
	}
	e.cl.owners.Add(roomID, rec.NodeID)
	e.rememberNode(rec.NodeID, rec.NodeAddress)
	return rec.NodeID, nil
}

func (e *Engine) rememberNode(id, addr string) {
	if id == "" || addr == "" {
		return
	}
	e.cl.addrMu.Lock()
	e.cl.addrs[id] = addr
	e.cl.addrMu.Unlock()
}

func (e *Engine) forgetNode(id string) {
	e.cl.addrMu.Lock()
	delete(e.cl.addrs, id)
	e.cl.addrMu.Unlock()
}

// ownerUnreachable handles an owner node that could not be reached for
// room roomID: the room leaves the owner cache at once, the node's address
// is forgotten, and the node is marked suspect in the directory for one
// NodeTTL so no node places players on it meanwhile (if it is dead, its
// heartbeats stop and it is swept within that time).
func (e *Engine) ownerUnreachable(ctx context.Context, roomID, nodeID string) {
	e.metrics.ownerStale.Add(1)
	e.cl.owners.Remove(roomID)
	e.forgetNode(nodeID)
	if nodeID == "" || nodeID == e.cfg.NodeID {
		return
	}
	e.clusterErr("suspect node", e.cl.b.SuspectNode(ctx, nodeID, e.cfg.Cluster.NodeTTL))
}

// nodeAddr returns a node's address, refreshing the node list on a miss
// (at most every 100 ms).
func (e *Engine) nodeAddr(ctx context.Context, id string) (string, error) {
	l := e.cl
	l.addrMu.Lock()
	a, ok := l.addrs[id]
	recent := time.Since(l.addrsAt) < 100*time.Millisecond
	l.addrMu.Unlock()
	if ok {
		return a, nil
	}
	if recent {
		return "", cluster.ErrNodeNotFound
	}
	nodes, err := l.b.Nodes(ctx)
	if err != nil {
		return "", err
	}
	l.addrMu.Lock()
	l.addrsAt = time.Now()
	for _, n := range nodes {
		l.addrs[n.ID] = n.Address
	}
	a, ok = l.addrs[id]
	l.addrMu.Unlock()
	if !ok || a == "" {
		return "", cluster.ErrNodeNotFound
	}
	return a, nil
}

// materialize returns the local room a reservation names, creating it
// with the reserved id when the directory placed it here and it does not
// run yet (its metadata and privacy come from the directory record; opts
// go to the handler's Init).
func (e *Engine) materialize(ctx context.Context, c cluster.Claims, opts []byte) (*roomrt.Room, error) {
	if r, ok := e.rooms.Get(c.RoomID); ok {
		return r, nil
	}
	e.cl.matMu.Lock()
	defer e.cl.matMu.Unlock()
	if r, ok := e.rooms.Get(c.RoomID); ok {
		return r, nil
	}
	var co roomrt.CreateOptions
	if rec, err := e.cl.b.LookupRoom(ctx, c.RoomID); err == nil {
		co.Private, co.Metadata = rec.Private, rec.Metadata
	} else if errors.Is(err, cluster.ErrRoomNotFound) {
		return nil, roomrt.ErrNotFound
	}
	co.ID, co.Options = c.RoomID, opts
	if over(e.rooms.Len()+1, e.cfg.Limits.MaxRooms) {
		e.metrics.limited("rooms")
		return nil, roomrt.ErrFull
	}
	return e.rooms.Create(ctx, c.RoomType, co)
}
