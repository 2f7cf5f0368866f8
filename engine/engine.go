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
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"

	"github.com/tickwire/tickwire/engine/cluster"
	"github.com/tickwire/tickwire/internal/roomrt"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/room"
)

// Engine is one Tickwire node: the WebSocket endpoint, sessions, the local
// room registry, the admin HTTP API and metrics. Its methods are safe for
// concurrent use.
//
// Lifecycle: New validates the configuration; register room types; then
// call Run, which keeps the node up until its context ends (or use
// ListenAndServe, which also serves the handlers). Handler refuses
// connections with 503 until Run has started and again once the node
// drains.
type Engine struct {
	cfg      Config
	log      *slog.Logger
	metrics  *Metrics
	rooms    *roomrt.Registry
	upgrader *gws.Upgrader
	cl       *clusterLink
	tokens   resumeTokens
	readBufs readBufs
	mon      *monitor
	lobby    atomic.Pointer[lobbyReader] // reads connections in no room; nil: read goroutines
	state    atomic.Int32                // stateNew, stateRunning, stateStopped
	// drainCloseAt: unix ms by which a draining node's rooms close (0:
	// not draining); set before tellDrain runs.
	drainCloseAt atomic.Int64

	mu       sync.Mutex
	sessions map[*session]struct{}
	byID     map[string]*session
	ipConns  map[string]int          // open connections by IP (Limits.MaxConnsPerIP)
	ipRooms  map[string]*minuteCount // rooms created by IP this minute
	trusted  []netip.Prefix          // Limits.TrustedProxies
	draining bool
}

const (
	stateNew int32 = iota
	stateRunning
	stateStopped
)

// Sentinel errors.
var (
	// ErrInvalidConfig wraps every configuration New refuses.
	ErrInvalidConfig = errors.New("engine: invalid config")
	// ErrDraining is returned once the node has started to shut down.
	ErrDraining = errors.New("engine: draining")
	// ErrAlreadyRun is returned by a second call of Run (or of Serve).
	ErrAlreadyRun = errors.New("engine: Run called twice")
	// ErrRoomNotFound: this node has no room with that id.
	ErrRoomNotFound = errors.New("engine: room not found")
	errBadJoin      = errors.New("engine: bad join request")
)

// New validates cfg and returns an Engine. In cluster mode it connects the
// backend (Redis); a configuration that would run a node cut off from its
// cluster (a Redis address without a secret) is an error, never a silent
// fallback. Register room types, then Run it.
func New(cfg Config) (*Engine, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	e := &Engine{
		cfg:      cfg,
		log:      cfg.Logger.With("node", cfg.NodeID),
		metrics:  newMetrics(),
		sessions: map[*session]struct{}{},
		byID:     map[string]*session{},
		ipConns:  map[string]int{},
		ipRooms:  map[string]*minuteCount{},
		mon:      newMonitor(),
	}
	e.metrics.liveIO = e.ioTotals
	trusted, err := parseTrusted(cfg.Limits.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	e.trusted = trusted
	e.cl = newClusterLink(cfg)
	if e.cl.err != nil {
		return nil, e.cl.err
	}
	e.tokens = resumeTokens{secret: []byte(cfg.Cluster.Secret), ttl: cfg.ResumeTokenTTL}
	e.rooms = roomrt.NewRegistry(roomrt.RegistryConfig{
		Clock: cfg.Clock, Observer: e.metrics, Logger: e.log, Tokens: e.tokens,
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
	return e, nil
}

// RegisterRoom adds a room type, made with room.Define. Register every type
// before Run.
func (e *Engine) RegisterRoom(name string, def *room.Definition) error {
	if err := def.Err(); err != nil {
		return fmt.Errorf("engine: room type %q: %w", name, err)
	}
	return e.rooms.Register(name, def)
}

// RoomInfo describes a room, for listings.
type RoomInfo struct {
	ID         string            `json:"id"`
	Type       string            `json:"type"`
	Players    int               `json:"players"`
	Reserved   int               `json:"reserved"`
	MaxPlayers int               `json:"maxPlayers"`
	Locked     bool              `json:"locked"`
	Private    bool              `json:"private"`
	Metadata   map[string]string `json:"metadata,omitempty"`
	Tick       uint32            `json:"tick"`
	TickRate   int               `json:"tickRate"`
	CreatedAt  time.Time         `json:"createdAt"`
}

// Rooms lists this node's rooms (private ones included), oldest first.
func (e *Engine) Rooms() []RoomInfo {
	list := e.rooms.List(true)
	out := make([]RoomInfo, len(list))
	for i, in := range list {
		out[i] = RoomInfo(in)
	}
	return out
}

// Room describes one of this node's rooms.
func (e *Engine) Room(id string) (RoomInfo, bool) {
	r, ok := e.rooms.Get(id)
	if !ok {
		return RoomInfo{}, false
	}
	return RoomInfo(r.Info()), true
}

// CloseRoom closes one of this node's rooms: its players are removed
// (Left with reason room closed), the handler's Terminate runs. It returns
// when the room has closed, ErrRoomNotFound when the node has no such room.
func (e *Engine) CloseRoom(ctx context.Context, id string) error {
	r, ok := e.rooms.Get(id)
	if !ok {
		return fmt.Errorf("%w: %q", ErrRoomNotFound, id)
	}
	return r.Close(ctx, roomrt.CloseRequested)
}

// Metrics returns the node's metrics.
func (e *Engine) Metrics() *Metrics { return e.metrics }

// NodeID returns the node's id.
func (e *Engine) NodeID() string { return e.cfg.NodeID }

// Handler returns the game's endpoint: the WebSocket upgrade at Config.Path
// and nothing else (404 for any other path). Mount it on the public port.
// Until Run has started, and once the node drains, it answers 503.
func (e *Engine) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != e.cfg.Path {
			http.NotFound(w, r)
			return
		}
		e.serveWS(w, r)
	})
}

// AdminHandler returns the operator's endpoints: /healthz (liveness: 200
// while the node runs, draining included; 503 before Run and after it
// stopped), /readyz
// (readiness: can the node place new rooms), /metrics (Prometheus text),
// /rooms (JSON list of this node's rooms; ?type= filters), /cluster/rooms
// (every room in the directory, paginated), /debug/pprof/ and the monitor
// (/monitor/: a page and its JSON API, listing rooms and players and
// kicking, locking and disposing; off unless Config.AdminToken is set,
// and every API request needs that token; docs/operations.md). Serve it
// on a private address (Config.AdminAddr), never on the public game port:
// /rooms lists private rooms and pprof exposes the process. /healthz,
// /readyz, /metrics, /rooms and /cluster/rooms need no token.
func (e *Engine) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", e.serveHealth)
	mux.HandleFunc("GET /metrics", e.serveMetrics)
	mux.HandleFunc("GET /rooms", e.serveRooms)
	mux.HandleFunc("GET /readyz", e.serveReady)               // admin_cluster.go
	mux.HandleFunc("GET /cluster/rooms", e.serveClusterRooms) // admin_cluster.go
	mux.Handle("/monitor/", e.monitorHandler())               // monitor.go
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

func (e *Engine) serveHealth(w http.ResponseWriter, _ *http.Request) {
	e.mu.Lock()
	draining := e.draining
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	// Liveness: up while the node serves its players, draining included
	// (restarting a draining node would cut its players off); /readyz is
	// what says whether to send it new ones.
	switch {
	case e.state.Load() != stateRunning:
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"not running"}` + "\n"))
	case draining:
		_, _ = w.Write([]byte(`{"status":"draining"}` + "\n"))
	default:
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	}
}

func (e *Engine) serveMetrics(w http.ResponseWriter, r *http.Request) {
	e.metrics.Handler().ServeHTTP(w, r)
}

func (e *Engine) serveRooms(w http.ResponseWriter, r *http.Request) {
	list := e.Rooms()
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

// serveWS upgrades a request to a Tickwire WebSocket session.
func (e *Engine) serveWS(w http.ResponseWriter, r *http.Request) {
	if e.state.Load() != stateRunning {
		http.Error(w, "node not running", http.StatusServiceUnavailable)
		return
	}
	if !e.originAllowed(r) {
		e.metrics.limited("origin")
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
	ip := e.clientIP(r)
	if v := r.Header.Get(proxiedHeader); v != "" {
		// Reverse-proxied by another node (signed): the client is the
		// address that node forwarded, not the node.
		if _, _, err := verifyRelay(e.cl.secret, s.created, v); err == nil {
			if fwd := lastForwarded(r); fwd != "" {
				ip = fwd
			}
		}
	}
	if status, msg := e.admit(s, ip); status != 0 {
		http.Error(w, msg, status)
		return
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
			e.mu.Lock()
			e.releaseIPLocked(s) // the owner node counts it
			e.mu.Unlock()
			e.proxyUpgrade(w, r, addr)
			return
		default:
			if err := s.consumeSeat(ctx, c); err != nil {
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
		e.mu.Lock()
		e.releaseIPLocked(s)
		e.mu.Unlock()
		if s.seatRoom != "" { // consumed above: nobody will join with it
			e.releaseSeat(s.seatRoom, s.takeTransitLocked(s.seatRoom))
		}
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

// originAllowed applies Config.CheckOrigin, or the same-origin default:
// no Origin header (not a browser), an Origin whose host is the request's
// Host, or one listed in Config.AllowedOrigins. See AllowedOrigins for why.
func (e *Engine) originAllowed(r *http.Request) bool {
	if e.cfg.CheckOrigin != nil {
		return e.cfg.CheckOrigin(r)
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if u, err := url.Parse(origin); err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, a := range e.cfg.AllowedOrigins {
		if a == "*" || strings.EqualFold(strings.TrimSuffix(a, "/"), origin) {
			return true
		}
	}
	return false
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
		e.releaseIPLocked(s)
	}
	e.mu.Unlock()
	if ok {
		e.metrics.connections.Add(-1)
	}
}

// join places a session in a room: by id, by type (join-or-create), or a
// new room (create).
func (e *Engine) join(ctx context.Context, j *tickwirev1.Join, req roomrt.JoinRequest) (*roomrt.Room, roomrt.JoinResult, error) {
	e.mu.Lock()
	draining := e.draining
	e.mu.Unlock()
	switch {
	case j.RoomId != "" && j.RoomType != "":
		return nil, roomrt.JoinResult{}, fmt.Errorf("%w: give a room id or a room type, not both", errBadJoin)
	case j.RoomId != "":
		r, ok := e.rooms.Get(j.RoomId)
		if !ok {
			return nil, roomrt.JoinResult{}, roomrt.ErrNotFound
		}
		res, err := r.Join(ctx, req)
		return r, res, err
	case j.RoomType == "":
		return nil, roomrt.JoinResult{}, fmt.Errorf("%w: no room id or room type", errBadJoin)
	case draining:
		return nil, roomrt.JoinResult{}, roomrt.ErrDraining
	case j.Create || j.Private:
		r, err := e.rooms.Create(ctx, j.RoomType, roomrt.CreateOptions{Private: j.Private, Metadata: j.Filter, Options: j.Options})
		if err != nil {
			return nil, roomrt.JoinResult{}, err
		}
		res, err := r.Join(ctx, req)
		return r, res, err
	default:
		return e.rooms.JoinOrCreate(ctx, j.RoomType, j.Filter, req)
	}
}

// Run keeps the node up until ctx ends: keepalive and timeouts, and in
// cluster mode heartbeats, the room directory and the matchmakers. While
// it runs, Handler accepts connections. When ctx ends it drains (see
// shutdown) and returns; its error is what failed to start or to drain.
// Run may be called once.
func (e *Engine) Run(ctx context.Context) error {
	if err := e.start(); err != nil {
		return err
	}
	return e.loop(ctx)
}

// start moves the node to running: from then on Handler accepts.
func (e *Engine) start() error {
	if !e.state.CompareAndSwap(stateNew, stateRunning) {
		return ErrAlreadyRun
	}
	if err := e.startCluster(); err != nil {
		e.state.Store(stateStopped)
		return err
	}
	if l, err := newLobbyReader(e); err != nil {
		e.log.Warn("no lobby reader; connections in no room get read goroutines", "err", err)
	} else if l != nil {
		e.lobby.Store(l)
	}
	e.log.Info("tickwire node running", "clustered", e.cl.shared)
	return nil
}

// loop is the running node's background work until ctx ends, then drains.
func (e *Engine) loop(ctx context.Context) error {
	// At least every second: slow consumers are probed every second.
	tick := time.NewTicker(min(e.cfg.PingInterval/2, e.cfg.HandshakeTimeout/2, e.cfg.CloseTimeout/2, probeInterval))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), e.cfg.DrainTimeout+5*time.Second)
			defer cancel()
			return e.shutdown(sctx)
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
	e.sweepLimits(now)
	list := e.sessionList()
	for _, s := range list {
		if s.closeExpired(now, e.cfg.CloseTimeout) || s.slowProbe(now) {
			continue
		}
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

// ListenAndServe listens on addr and calls Serve.
func (e *Engine) ListenAndServe(ctx context.Context, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("engine: listen %s: %w", addr, err)
	}
	return e.Serve(ctx, ln, h)
}

// Serve runs the node (Run) and serves h on ln (Handler when h is nil),
// and AdminHandler on Config.AdminAddr when it is set, until ctx ends; then
// it drains the node and stops the servers. It returns the errors of all of
// them.
func (e *Engine) Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	if h == nil {
		h = e.Handler()
	}
	e.setListenAddr(ln.Addr())
	var aln net.Listener
	if e.cfg.AdminAddr != "" {
		// Bound before the node starts: a node that cannot serve its admin
		// port never joins the cluster (it would register, then leave).
		var err error
		if aln, err = net.Listen("tcp", e.cfg.AdminAddr); err != nil {
			_ = ln.Close()
			return fmt.Errorf("engine: listen admin %s: %w", e.cfg.AdminAddr, err)
		}
	}
	// Running before the listener serves: no early client sees a 503.
	if err := e.start(); err != nil {
		_ = ln.Close()
		if aln != nil {
			_ = aln.Close()
		}
		return err
	}
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	rt := &requestTimeouts{m: e.metrics}
	servers := []*http.Server{{Handler: rt.wrap(h), ReadHeaderTimeout: 10 * time.Second, ConnState: rt.connState, ConnContext: rt.connContext}}
	listeners := []net.Listener{ln}
	if aln != nil {
		servers = append(servers, &http.Server{Handler: e.AdminHandler(), ReadHeaderTimeout: 10 * time.Second})
		listeners = append(listeners, aln)
		e.log.Info("tickwire admin listening", "addr", aln.Addr().String())
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
		stopRun()
	}
	for i, srv := range servers {
		wg.Go(func() {
			serve := srv.Serve
			if i == 0 && (e.cfg.TLSCertFile != "" || e.cfg.TLSKeyFile != "") {
				serve = func(ln net.Listener) error { return srv.ServeTLS(ln, e.cfg.TLSCertFile, e.cfg.TLSKeyFile) }
			}
			if err := serve(listeners[i]); err != nil && !errors.Is(err, http.ErrServerClosed) {
				fail(fmt.Errorf("engine: serve %s: %w", listeners[i].Addr(), err))
			}
		})
	}
	e.log.Info("tickwire node listening", "addr", ln.Addr().String())
	if err := e.loop(runCtx); err != nil {
		fail(err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		if err := srv.Shutdown(sctx); err != nil {
			fail(fmt.Errorf("engine: stop server: %w", err))
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}

// shutdown drains the node: new connections and joins are refused, running
// rooms may finish until DrainTimeout (or ctx) ends, then they are closed
// and every connection is closed with 1001 (going away).
func (e *Engine) shutdown(ctx context.Context) error {
	e.mu.Lock()
	e.draining = true
	conns := len(e.sessions)
	e.mu.Unlock()
	started := time.Now()
	rooms := e.rooms.Len()
	e.log.Info("tickwire node draining", "rooms", rooms, "players", e.players(), "connections", conns, "timeout", e.cfg.DrainTimeout)
	// Tell the cluster at once: no more placements here.
	bctx, bcancel := context.WithTimeout(ctx, time.Second)
	e.beatNow(bctx)
	bcancel()
	e.rooms.Drain()
	e.tellDrain(started.Add(e.cfg.DrainTimeout))
	dctx, cancel := context.WithTimeout(ctx, e.cfg.DrainTimeout)
	defer cancel()
	err := e.rooms.Shutdown(dctx)
	list := e.sessionList()
	for _, s := range list {
		s.closeWith(1001, "server shutting down")
	}
	// Wait for the clients to answer the close frames (CloseTimeout),
	// then close what is left.
	for deadline := time.Now().Add(e.cfg.CloseTimeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		e.mu.Lock()
		n := len(e.sessions)
		e.mu.Unlock()
		if n == 0 {
			break
		}
	}
	for _, s := range e.sessionList() {
		s.cutClose() // its client never answered
	}
	if l := e.lobby.Swap(nil); l != nil {
		l.stop() // what is left gets read goroutines, which see the closed sockets
	}
	e.stopCluster(ctx)
	e.state.Store(stateStopped)
	attrs := []any{"rooms", rooms, "connections_closed", len(list), "took", time.Since(started).Round(time.Millisecond)}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	e.log.Info("tickwire node stopped", attrs...)
	return err
}

// tellDrain tells every session what the drain means for it: one relaying
// its player to a room on another node is closed with CLOSE_CODE_RECONNECT
// (the SDKs reconnect through another node at once and resume the seat);
// one in a room of this node hears RoomClosing with the time its room
// closes at the latest. A player whose join or resume is recorded after
// this looked hears it from there (see session.drainNewsLocked).
func (e *Engine) tellDrain(closeAt time.Time) {
	e.drainCloseAt.Store(closeAt.UnixMilli())
	for _, s := range e.sessionList() {
		if s.up.Load() != nil {
			s.closeWith(uint16(tickwirev1.CloseCode_CLOSE_CODE_RECONNECT), "node shutting down; reconnect and resume")
			continue
		}
		s.mu.Lock()
		closing := s.drainNewsLocked()
		s.mu.Unlock()
		s.sendRoomClosing(closing)
	}
}

// drainNewsLocked returns the RoomClosing this session's player is yet to
// hear, if the node is draining and the player is in one of its rooms,
// and marks it told; nil otherwise. Call with s.mu held: tellDrain and a
// join or resume recording the room race, and exactly one of them sends.
func (s *session) drainNewsLocked() *tickwirev1.RoomClosing {
	at := s.e.drainCloseAt.Load()
	if at == 0 || s.room == nil || s.drainTold {
		return nil
	}
	s.drainTold = true
	return &tickwirev1.RoomClosing{RoomId: s.room.ID(), CloseAtMs: float64(at), Reason: "server shutting down"}
}

// sendRoomClosing sends rc unless it is nil.
func (s *session) sendRoomClosing(rc *tickwirev1.RoomClosing) {
	if rc != nil {
		s.send(&tickwirev1.ServerMessage{Kind: &tickwirev1.ServerMessage_RoomClosing{RoomClosing: rc}})
	}
}

// players counts the players in this node's rooms.
func (e *Engine) players() int {
	n := 0
	for _, in := range e.rooms.List(true) {
		n += in.Players
	}
	return n
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
