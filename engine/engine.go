package engine

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/lxzan/gws"

	"github.com/tickwire/tickwire/engine/cluster"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/room"
)

// Engine is one Tickwire node: the WebSocket endpoint, sessions, the local
// room registry, the HTTP API and metrics. Its methods are safe for
// concurrent use.
type Engine struct {
	cfg      Config
	log      *slog.Logger
	metrics  *Metrics
	rooms    *room.Registry
	upgrader *gws.Upgrader
	cl       *clusterLink
	readBufs readBufs

	mu       sync.Mutex
	sessions map[*session]struct{}
	byID     map[string]*session
	draining bool
	stop     chan struct{}
	stopOnce sync.Once
}

// Sentinel errors.
var (
	// ErrDraining is returned once Shutdown has started.
	ErrDraining = errors.New("engine: draining")
	errBadJoin  = errors.New("engine: bad join request")
)

// New returns an Engine. Register room types, then mount Handler or call
// ListenAndServe.
func New(cfg Config) *Engine {
	cfg = cfg.withDefaults()
	e := &Engine{
		cfg:      cfg,
		log:      cfg.Logger.With("node", cfg.NodeID),
		metrics:  newMetrics(),
		sessions: map[*session]struct{}{},
		byID:     map[string]*session{},
		stop:     make(chan struct{}),
	}
	e.metrics.liveIO = e.ioTotals
	e.cl = newClusterLink(cfg)
	if e.cl.err != nil {
		e.log.Error("cluster configuration", "err", e.cl.err)
	}
	e.rooms = room.NewRegistry(room.RegistryConfig{
		Clock: cfg.Clock, Observer: e.metrics, Logger: e.log,
		OnRoomOpened: e.onRoomOpened, OnRoomClosed: e.onRoomClosed,
	})
	e.upgrader = gws.NewUpgrader(&upgradeHandler{}, &gws.ServerOption{
		ReadMaxPayloadSize: cfg.MaxMessageSize,
		// The session reads client frames itself (sessionread.go); gws's
		// read buffer is never used, so keep it at bufio's minimum.
		ReadBufferSize:   16,
		CheckUtf8Enabled: false,
		HandshakeTimeout: cfg.HandshakeTimeout,
		Recovery:         gws.Recovery,
		NewSession:       func() gws.SessionStorage { return &slotStorage{} },
	})
	return e
}

// RegisterRoom adds a room type, made with room.Define.
func (e *Engine) RegisterRoom(name string, def *room.Definition) error {
	return e.rooms.Register(name, def)
}

// Rooms returns the node's room registry.
func (e *Engine) Rooms() *room.Registry { return e.rooms }

// Metrics returns the node's metrics.
func (e *Engine) Metrics() *Metrics { return e.metrics }

// NodeID returns the node's id.
func (e *Engine) NodeID() string { return e.cfg.NodeID }

// Handler returns the node's HTTP API: the WebSocket endpoint (Config.Path),
// /healthz, /metrics (Prometheus text), /rooms (JSON list of public rooms)
// and, with Config.EnablePprof, /debug/pprof/. Mount it in an existing mux,
// or mount ServeWS alone.
func (e *Engine) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(e.cfg.Path, e.ServeWS)
	mux.HandleFunc("GET /healthz", e.serveHealth)
	mux.HandleFunc("GET /metrics", e.serveMetrics)
	mux.HandleFunc("GET /rooms", e.serveRooms)
	if e.cfg.EnablePprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

func (e *Engine) serveHealth(w http.ResponseWriter, _ *http.Request) {
	e.mu.Lock()
	draining := e.draining
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if draining {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"draining"}` + "\n"))
		return
	}
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}

func (e *Engine) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	e.metrics.WritePrometheus(w)
}

func (e *Engine) serveRooms(w http.ResponseWriter, r *http.Request) {
	list := e.rooms.List(false)
	if t := r.URL.Query().Get("type"); t != "" {
		filtered := list[:0]
		for _, in := range list {
			if in.Type == t {
				filtered = append(filtered, in)
			}
		}
		list = filtered
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"node": e.cfg.NodeID, "rooms": list})
}

// ServeWS upgrades a request to a Tickwire WebSocket session.
func (e *Engine) ServeWS(w http.ResponseWriter, r *http.Request) {
	if e.cfg.CheckOrigin != nil && !e.cfg.CheckOrigin(r) {
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	e.mu.Lock()
	draining := e.draining
	e.mu.Unlock()
	if draining {
		http.Error(w, "node is draining", http.StatusServiceUnavailable)
		return
	}
	s := &session{e: e, id: randomToken(10) + "@" + e.cfg.NodeID, req: r, created: time.Now()}
	if v := r.Header.Get(relayHeader); v != "" {
		sid, id, err := verifyRelay(e.cl.secret, s.created, v)
		if err != nil {
			http.Error(w, "relay not authorized", http.StatusForbidden)
			return
		}
		s.id, s.identity, s.relayed = sid, id, true
	}
	// A reservation in the URL is verified and consumed at connect. For a
	// room owned by another node the upgrade itself is reverse-proxied
	// there. Refusals upgrade and close with the documented code.
	var closeCode uint16
	var closeReason string
	if tok := r.URL.Query().Get("reservation"); tok != "" {
		ctx, cancel := context.WithTimeout(r.Context(), e.cfg.JoinTimeout)
		c, err := e.cl.b.Verify(tok)
		switch {
		case err != nil:
			closeCode, closeReason = reservationCloseCode(err)
		case c.NodeID != e.cfg.NodeID:
			if r.Header.Get(proxiedHeader) != "" {
				closeCode, closeReason = reservationCloseCode(cluster.ErrRoomNotFound)
				break
			}
			addr, err := e.nodeAddr(ctx, c.NodeID)
			if err != nil {
				closeCode, closeReason = reservationCloseCode(err)
				break
			}
			cancel()
			e.proxyUpgrade(w, r, addr)
			return
		default:
			if err := e.cl.b.Consume(ctx, c); err != nil {
				closeCode, closeReason = reservationCloseCode(err)
				break
			}
			s.pendingRes = &c
			s.seatRoom = c.RoomID
		}
		cancel()
	}
	s.lastSeen.Store(s.created.UnixNano())
	// gws calls the handler given to the upgrader; route events to s.
	ws, err := e.upgrader.Upgrade(w, r)
	if err != nil {
		e.log.Debug("websocket upgrade failed", "err", err)
		return
	}
	s.ws = ws
	s.raw = newRawWriter(ws.NetConn())
	s.rr = newRawReader(ws.NetConn())
	s.parser.maxMsg = e.cfg.MaxMessageSize
	e.mu.Lock()
	e.sessions[s] = struct{}{}
	if old := e.byID[s.id]; old != nil && old != s {
		// A relayed session reconnecting with the same id replaces the old one.
		defer old.closeWith(uint16(tickwirev1.CloseCode_CLOSE_CODE_KICKED), "replaced by a new connection")
	}
	e.byID[s.id] = s
	e.mu.Unlock()
	e.metrics.connections.Add(1)
	e.metrics.sessionsOpen.Add(1)
	if closeCode != 0 {
		s.closeWith(closeCode, closeReason)
	}
	go s.readLoop() // not gws's ReadLoop: see sessionread.go
}

// ioTotals adds up the I/O counters of the open sessions and the closed
// ones, under e.mu so that a session retiring is counted exactly once.
func (e *Engine) ioTotals(t *ioTotals) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.metrics.closedIO.addTo(t)
	for s := range e.sessions {
		s.io.addTo(t)
	}
}

func (e *Engine) removeSession(s *session) {
	e.mu.Lock()
	_, ok := e.sessions[s]
	delete(e.sessions, s)
	if e.byID[s.id] == s {
		delete(e.byID, s.id)
	}
	if ok {
		e.metrics.retire(&s.io) // under e.mu: a scrape counts s once
	}
	e.mu.Unlock()
	if ok {
		e.metrics.connections.Add(-1)
	}
}

// join places a session in a room: by id, by type (join-or-create), or a
// new room (create).
func (e *Engine) join(ctx context.Context, j *tickwirev1.Join, req room.JoinRequest) (*room.Room, room.JoinResult, error) {
	e.mu.Lock()
	draining := e.draining
	e.mu.Unlock()
	switch {
	case j.RoomId != "" && j.RoomType != "":
		return nil, room.JoinResult{}, fmt.Errorf("%w: give a room id or a room type, not both", errBadJoin)
	case j.RoomId != "":
		r, ok := e.rooms.Get(j.RoomId)
		if !ok {
			return nil, room.JoinResult{}, room.ErrNotFound
		}
		res, err := r.Join(ctx, req)
		return r, res, err
	case j.RoomType == "":
		return nil, room.JoinResult{}, fmt.Errorf("%w: no room id or room type", errBadJoin)
	case draining:
		return nil, room.JoinResult{}, room.ErrDraining
	case j.Create || j.Private:
		r, err := e.rooms.Create(ctx, j.RoomType, room.CreateOptions{Private: j.Private, Metadata: j.Filter, Options: j.Options})
		if err != nil {
			return nil, room.JoinResult{}, err
		}
		res, err := r.Join(ctx, req)
		return r, res, err
	default:
		return e.rooms.JoinOrCreate(ctx, j.RoomType, j.Filter, req)
	}
}

// Run runs the node's background work (keepalive and timeouts) until ctx
// ends, then shuts down with Config.DrainTimeout.
func (e *Engine) Run(ctx context.Context) error {
	if err := e.startCluster(); err != nil {
		return err
	}
	tick := time.NewTicker(min(e.cfg.PingInterval, e.cfg.HandshakeTimeout) / 2)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), e.cfg.DrainTimeout+5*time.Second)
			defer cancel()
			return e.Shutdown(sctx)
		case <-e.stop:
			return nil
		case now := <-tick.C:
			e.sweep(now)
		}
	}
}

// sessionList returns the open sessions.
func (e *Engine) sessionList() []*session {
	e.mu.Lock()
	defer e.mu.Unlock()
	list := make([]*session, 0, len(e.sessions))
	for s := range e.sessions {
		list = append(list, s)
	}
	return list
}

// sweep pings quiet connections and closes idle and handshake-less ones.
func (e *Engine) sweep(now time.Time) {
	list := e.sessionList()
	for _, s := range list {
		quiet := now.Sub(time.Unix(0, s.lastSeen.Load()))
		switch {
		case !s.helloDone() && now.Sub(s.created) > e.cfg.HandshakeTimeout:
			s.closeWith(uint16(tickwirev1.CloseCode_CLOSE_CODE_HANDSHAKE_TIMEOUT), "no Hello in time")
		case quiet > e.cfg.IdleTimeout:
			s.closeWith(uint16(tickwirev1.CloseCode_CLOSE_CODE_IDLE_TIMEOUT), "idle timeout")
		case quiet > e.cfg.PingInterval:
			s.enqueue(outFrame{op: gws.OpcodePing})
		}
	}
}

// ListenAndServe serves Handler on addr until ctx ends, then shuts down
// gracefully: no new rooms, rooms finish or time out (DrainTimeout),
// connections close with 1001.
func (e *Engine) ListenAndServe(ctx context.Context, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("engine: listen %s: %w", addr, err)
	}
	return e.Serve(ctx, ln, h)
}

// Serve is ListenAndServe on an existing listener.
func (e *Engine) Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	if h == nil {
		h = e.Handler()
	}
	e.setListenAddr(ln.Addr())
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	e.log.Info("tickwire node listening", "addr", ln.Addr().String())
	runCtx, cancelRun := context.WithCancel(context.Background())
	defer cancelRun()
	go func() { _ = e.Run(runCtx) }()
	select {
	case err := <-errc:
		return fmt.Errorf("engine: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), e.cfg.DrainTimeout+5*time.Second)
	defer cancel()
	err := e.Shutdown(sctx)
	_ = srv.Shutdown(sctx)
	return err
}

// Shutdown drains the node: new connections and joins are refused, running
// rooms may finish until DrainTimeout (or ctx) ends, then they are closed
// and every connection is closed with 1001 (going away).
func (e *Engine) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	e.draining = true
	e.mu.Unlock()
	// Tell the cluster at once: no more placements here.
	bctx, bcancel := context.WithTimeout(ctx, time.Second)
	e.beatNow(bctx)
	bcancel()
	e.rooms.Drain()
	dctx, cancel := context.WithTimeout(ctx, e.cfg.DrainTimeout)
	defer cancel()
	err := e.rooms.Shutdown(dctx)
	list := e.sessionList()
	for _, s := range list {
		s.closeWith(1001, "server shutting down")
	}
	// Wait briefly for close frames to go out.
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		e.mu.Lock()
		n := len(e.sessions)
		e.mu.Unlock()
		if n == 0 {
			break
		}
	}
	e.stopCluster(ctx)
	e.stopOnce.Do(func() { close(e.stop) })
	return err
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	const alpha = "abcdefghijklmnopqrstuvwxyz0123456789"
	for i := range b {
		b[i] = alpha[int(b[i])%len(alpha)]
	}
	return string(b)
}

// upgradeHandler is the gws event handler of server connections. gws only
// does their upgrade and writes; the session reads (sessionread.go), so no
// event ever fires.
type upgradeHandler struct{ gws.BuiltinEventHandler }

// slotStorage is a one-slot gws.SessionStorage holding the *session
// (cheaper than gws's default map per connection).
type slotStorage struct{ v any }

func (n *slotStorage) Len() int                       { return 1 }
func (n *slotStorage) Load(string) (any, bool)        { return n.v, n.v != nil }
func (n *slotStorage) Delete(string)                  { n.v = nil }
func (n *slotStorage) Store(_ string, v any)          { n.v = v }
func (n *slotStorage) Range(f func(string, any) bool) { f("s", n.v) }
