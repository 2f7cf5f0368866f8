package engine

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tickwire/tickwire/engine/cluster"
	"github.com/tickwire/tickwire/internal/roomrt"
)

// The monitor: a page for operators (GET /monitor/ on AdminHandler) and
// the JSON API behind it (/monitor/api/...), both off unless
// Config.AdminToken is set. Every API request carries the token
// ("Authorization: Bearer <token>"); the page itself is static (it holds
// no data) and asks for the token once. See docs/operations.md.
//
//	GET  /monitor/api/rooms                      rooms with live stats (?type= ?limit= ?after= as /cluster/rooms)
//	GET  /monitor/api/rooms/{id}                 one room and its players
//	POST /monitor/api/rooms/{id}/lock            join-or-create skips the room
//	POST /monitor/api/rooms/{id}/unlock
//	POST /monitor/api/rooms/{id}/dispose         close the room (players get Left, room closed)
//	POST /monitor/api/rooms/{id}/players/{player}/kick   body {"reason": "..."} optional
//
// In cluster mode a room of another node is served by its owner: the
// request travels over the cluster bus (monitorbus.go).

//go:embed monitor
var monitorFiles embed.FS

const (
	// maxAdminBody bounds a monitor API request body.
	maxAdminBody = 4 << 10
	// maxKickReason bounds a kick's reason (it travels in Left and in the
	// WebSocket close frame, whose reason holds 123 bytes).
	maxKickReason = 100
	// maxRoomIDLen bounds a room id in a monitor request.
	maxRoomIDLen = 128
	// defaultKickReason is what a kicked player is told when the operator
	// gave no reason.
	defaultKickReason = "kicked by an operator"
	// adminWait bounds an admin request to another node, and a room
	// action on this one.
	adminWait = 2 * time.Second
)

// Monitor operations (adminOp.Op).
const (
	opStats   = "stats"
	opRoom    = "room"
	opLock    = "lock"
	opUnlock  = "unlock"
	opDispose = "dispose"
	opKick    = "kick"
)

// adminOp is one monitor request, served by the node that owns the room.
type adminOp struct {
	Op     string   `json:"op"`
	Room   string   `json:"room,omitempty"`
	Rooms  []string `json:"rooms,omitempty"` // opStats
	Player uint32   `json:"player,omitempty"`
	Reason string   `json:"reason,omitempty"`
	// By says who asked, for the audit log: the operator's address and the
	// node the request came in through.
	By string `json:"by,omitempty"`
}

// adminResult is an HTTP status and JSON body, as the owner answered.
type adminResult struct {
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body"`
}

func adminJSON(status int, v any) adminResult {
	b, err := json.Marshal(v)
	if err != nil {
		return adminError(http.StatusInternalServerError, "encode reply: "+err.Error())
	}
	return adminResult{Status: status, Body: b}
}

func adminError(status int, msg string) adminResult {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return adminResult{Status: status, Body: b}
}

// monitorRoom is one room of the monitor's list.
type monitorRoom struct {
	ID         string            `json:"id"`
	Type       string            `json:"type"`
	Node       string            `json:"node"`
	Players    int               `json:"players"`
	Reserved   int               `json:"reserved"`
	MaxPlayers int               `json:"maxPlayers"`
	Locked     bool              `json:"locked"`
	Private    bool              `json:"private"`
	Metadata   map[string]string `json:"metadata,omitempty"`
	// Live: the stats below come from the room's node. False when the
	// node did not answer (only the directory's description is known).
	Live     bool   `json:"live"`
	Tick     uint32 `json:"tick"`
	TickRate int    `json:"tickRate"`
	// Worst tick lateness and duration over the last 5-10 s, ms.
	TickLateMaxMs float64 `json:"tickLateMaxMs"`
	TickDurMaxMs  float64 `json:"tickDurMaxMs"`
	// Payload bytes per second to and from the room's connections on its
	// node, over the last one to two seconds.
	BytesOutPerSec float64 `json:"bytesOutPerSec"`
	BytesInPerSec  float64 `json:"bytesInPerSec"`
}

// monitorPlayer is one player of a room's details.
type monitorPlayer struct {
	ID        uint32 `json:"id"`
	UserID    string `json:"userId"`
	Name      string `json:"name"`
	Connected bool   `json:"connected"`
	// GraceLeftMs: while disconnected, how long the seat is still kept.
	GraceLeftMs int64   `json:"graceLeftMs,omitempty"`
	RTTMs       float64 `json:"rttMs"`
	JoinedTick  uint32  `json:"joinedTick"`
	BytesOut    uint64  `json:"bytesOut"`
	BytesIn     uint64  `json:"bytesIn"`
	// Relayed: the player is connected to another node, which relays.
	Relayed bool `json:"relayed,omitempty"`
}

type monitorRoomDetail struct {
	monitorRoom
	PlayerList []monitorPlayer `json:"playerList"`
}

// monitor is the engine's monitor state: pending bus requests and the
// byte counts of the rooms' last samples.
type monitor struct {
	mu      sync.Mutex
	pending map[string]chan adminResult // bus request id -> reply
	samples map[string]*ioSamples       // room id -> byte counts seen
	serving chan struct{}               // bounds the bus requests served at once
}

// ioSamples are the two last byte counts of a room, at least a second
// apart, to turn totals into rates, and the last rates computed.
type ioSamples struct {
	prev, last      ioSample
	rateOut, rateIn float64
}

type ioSample struct {
	at      time.Time
	out, in uint64
}

func newMonitor() *monitor {
	return &monitor{pending: map[string]chan adminResult{}, samples: map[string]*ioSamples{}, serving: make(chan struct{}, 16)}
}

// rates returns a room's bytes per second out and in, given its totals
// now, against a sample one to two seconds old (or, while the room is
// new to the monitor, the newest one).
func (m *monitor) rates(id string, now time.Time, out, in uint64) (float64, float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := ioSample{at: now, out: out, in: in}
	s := m.samples[id]
	if s == nil {
		m.samples[id] = &ioSamples{last: cur}
		return 0, 0
	}
	if out < s.last.out || in < s.last.in {
		// A player left and took its bytes out of the sum: start over
		// from here, showing the last rates meanwhile.
		s.prev, s.last = ioSample{}, cur
		return s.rateOut, s.rateIn
	}
	base := s.prev
	if base.at.IsZero() {
		base = s.last
	}
	if now.Sub(s.last.at) >= time.Second {
		s.prev, s.last = s.last, cur
	}
	if dt := now.Sub(base.at).Seconds(); dt >= 0.2 {
		s.rateOut, s.rateIn = float64(out-base.out)/dt, float64(in-base.in)/dt
	}
	return s.rateOut, s.rateIn
}

// prune forgets the samples of rooms not seen for a minute.
func (m *monitor) prune(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, s := range m.samples {
		if now.Sub(s.last.at) > time.Minute {
			delete(m.samples, id)
		}
	}
}

// monitorHandler serves /monitor/: the page and the API, behind the token.
func (e *Engine) monitorHandler() http.Handler {
	api := http.NewServeMux()
	api.HandleFunc("GET /monitor/api/rooms", e.serveMonitorRooms)
	api.HandleFunc("GET /monitor/api/rooms/{id}", e.serveMonitorRoomOp(opRoom))
	api.HandleFunc("POST /monitor/api/rooms/{id}/lock", e.serveMonitorRoomOp(opLock))
	api.HandleFunc("POST /monitor/api/rooms/{id}/unlock", e.serveMonitorRoomOp(opUnlock))
	api.HandleFunc("POST /monitor/api/rooms/{id}/dispose", e.serveMonitorRoomOp(opDispose))
	api.HandleFunc("POST /monitor/api/rooms/{id}/players/{player}/kick", e.serveMonitorRoomOp(opKick))
	api.HandleFunc("/monitor/api/", func(w http.ResponseWriter, r *http.Request) {
		writeAdmin(w, adminError(http.StatusNotFound, "no such monitor API endpoint: "+r.Method+" "+r.URL.Path))
	})
	static, _ := fs.Sub(monitorFiles, "monitor")
	files := http.StripPrefix("/monitor/", http.FileServerFS(static))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		isAPI := strings.HasPrefix(r.URL.Path, "/monitor/api/")
		if e.cfg.AdminToken == "" {
			msg := "the monitor is off: no admin token is configured. Set engine.Config.AdminToken " +
				"(the arena example: -admin-token or TICKWIRE_ADMIN_TOKEN) and open /monitor/#token=<token>."
			if isAPI {
				writeAdmin(w, adminError(http.StatusForbidden, msg))
			} else {
				http.Error(w, msg, http.StatusForbidden)
			}
			return
		}
		if !isAPI {
			// The page and its script: static, no data in them.
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
				return
			}
			w.Header().Set("Cache-Control", "no-cache")
			w.Header().Set("X-Frame-Options", "DENY")
			w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; frame-ancestors 'none'")
			files.ServeHTTP(w, r)
			return
		}
		if !e.adminTokenOK(r) {
			e.metrics.adminAuthFailures.Add(1)
			w.Header().Set("WWW-Authenticate", `Bearer realm="tickwire monitor"`)
			writeAdmin(w, adminError(http.StatusUnauthorized, "missing or wrong admin token (Authorization: Bearer <token>)"))
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		api.ServeHTTP(w, r)
	})
}

// adminTokenOK checks the request's bearer token against Config.AdminToken
// in constant time (both are hashed first, so not even the length leaks).
func (e *Engine) adminTokenOK(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || got == "" {
		return false
	}
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(e.cfg.AdminToken))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

func writeAdmin(w http.ResponseWriter, res adminResult) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(res.Status)
	_, _ = w.Write(res.Body)
	_, _ = w.Write([]byte("\n"))
}

// serveMonitorRooms lists a page of rooms (the directory in cluster mode)
// with each room's live stats, asked from its node.
func (e *Engine) serveMonitorRooms(w http.ResponseWriter, r *http.Request) {
	pg, status, msg := e.roomPage(r.Context(), r.URL.Query())
	if status != http.StatusOK {
		writeAdmin(w, adminError(status, msg))
		return
	}
	rooms := make([]monitorRoom, len(pg.recs))
	byNode := map[string][]string{}
	for i, rec := range pg.recs {
		rooms[i] = monitorRoom{ID: rec.ID, Type: rec.Type, Node: rec.NodeID, Players: rec.Seats, Reserved: rec.Reserved,
			MaxPlayers: rec.MaxSeats, Locked: rec.Locked, Private: rec.Private, Metadata: rec.Metadata}
		byNode[rec.NodeID] = append(byNode[rec.NodeID], rec.ID)
	}
	// Ask every node of the page for its rooms' stats at once.
	live := map[string]monitorRoom{}
	var unreachable []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	for node, ids := range byNode {
		if node == e.cfg.NodeID || !e.cl.shared {
			for _, st := range e.localStats(ids) {
				live[st.ID] = st
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := e.adminRemote(r.Context(), node, adminOp{Op: opStats, Rooms: ids})
			var sts []monitorRoom
			if res.Status != http.StatusOK || json.Unmarshal(res.Body, &sts) != nil {
				mu.Lock()
				unreachable = append(unreachable, node)
				mu.Unlock()
				return
			}
			mu.Lock()
			for _, st := range sts {
				live[st.ID] = st
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	for i := range rooms {
		if st, ok := live[rooms[i].ID]; ok {
			st.Node = rooms[i].Node
			rooms[i] = st
		}
	}
	body := map[string]any{"node": e.cfg.NodeID, "clustered": e.cl.shared, "rooms": rooms, "total": pg.total}
	if pg.next != "" {
		body["next"] = pg.next
	}
	if len(unreachable) > 0 {
		body["unreachable"] = unreachable
	}
	e.mon.prune(time.Now())
	writeAdmin(w, adminJSON(http.StatusOK, body))
}

// serveMonitorRoomOp serves one room's details or an action on it, here
// or through the room's owner.
func (e *Engine) serveMonitorRoomOp(op string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		o := adminOp{Op: op, Room: r.PathValue("id"), By: r.RemoteAddr + " via " + e.cfg.NodeID}
		if o.Room == "" || len(o.Room) > maxRoomIDLen {
			writeAdmin(w, adminError(http.StatusBadRequest, "bad room id"))
			return
		}
		if op == opKick {
			pid, err := strconv.ParseUint(r.PathValue("player"), 10, 32)
			if err != nil || pid == 0 {
				writeAdmin(w, adminError(http.StatusBadRequest, "bad player id: want a positive integer"))
				return
			}
			o.Player = uint32(pid)
		}
		if r.Method == http.MethodPost {
			reason, res, ok := readKickBody(w, r)
			if !ok {
				writeAdmin(w, res)
				return
			}
			o.Reason = reason
		}
		res := e.adminRoute(r.Context(), o)
		if res.Status >= 500 && op != opRoom {
			e.log.Warn("admin action failed", "action", op, "room", o.Room, "player", o.Player, "by", o.By, "status", res.Status, "reply", string(res.Body))
		}
		writeAdmin(w, res)
	}
}

// readKickBody reads an action's optional JSON body ({"reason": "..."}),
// bounded: ok false with the error to answer.
func readKickBody(w http.ResponseWriter, r *http.Request) (string, adminResult, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return "", adminError(http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", maxAdminBody)), false
		}
		return "", adminError(http.StatusBadRequest, "read body: "+err.Error()), false
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return "", adminResult{}, true
	}
	var body struct {
		Reason string `json:"reason"`
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return "", adminError(http.StatusBadRequest, "bad JSON body (want {\"reason\": \"...\"}): "+err.Error()), false
	}
	if len(body.Reason) > maxKickReason || !utf8.ValidString(body.Reason) {
		return "", adminError(http.StatusBadRequest, fmt.Sprintf("reason: want valid UTF-8 of at most %d bytes", maxKickReason)), false
	}
	return body.Reason, adminResult{}, true
}

// adminRoute serves o here when this node has the room (or runs alone),
// else through the room's owner.
func (e *Engine) adminRoute(ctx context.Context, o adminOp) adminResult {
	if _, ok := e.rooms.Get(o.Room); ok || !e.cl.shared {
		return e.adminLocal(ctx, o)
	}
	lctx, cancel := context.WithTimeout(ctx, adminWait)
	owner, err := e.ownerOf(lctx, o.Room, true)
	cancel()
	switch {
	case errors.Is(err, cluster.ErrRoomNotFound):
		return adminError(http.StatusNotFound, fmt.Sprintf("no room %q", o.Room))
	case err != nil:
		e.clusterErr("lookup room", err)
		return adminError(http.StatusServiceUnavailable, "coordination backend unavailable")
	case owner == e.cfg.NodeID:
		return e.adminLocal(ctx, o)
	}
	return e.adminRemote(ctx, owner, o)
}

// adminLocal serves o on this node.
func (e *Engine) adminLocal(ctx context.Context, o adminOp) adminResult {
	if o.Op == opStats {
		return adminJSON(http.StatusOK, e.localStats(o.Rooms))
	}
	rm, ok := e.rooms.Get(o.Room)
	if !ok {
		return adminError(http.StatusNotFound, fmt.Sprintf("no room %q", o.Room))
	}
	ctx, cancel := context.WithTimeout(ctx, adminWait)
	defer cancel()
	var err error
	switch o.Op {
	case opRoom:
		return e.roomDetail(ctx, rm)
	case opLock, opUnlock:
		err = rm.Call(ctx, func() {
			if o.Op == opLock {
				rm.Lock()
			} else {
				rm.Unlock()
			}
		})
		if err == nil && e.cl.shared {
			e.republish(rm) // join-or-create on every node sees it now
		}
	case opDispose:
		err = rm.Close(ctx, roomrt.CloseRequested)
	case opKick:
		reason := o.Reason
		if reason == "" {
			reason = defaultKickReason
		}
		err = rm.KickPlayer(ctx, o.Player, reason)
	default:
		return adminError(http.StatusBadRequest, fmt.Sprintf("unknown operation %q", o.Op))
	}
	res := adminJSON(http.StatusOK, map[string]any{"ok": true, "action": o.Op, "room": o.Room, "node": e.cfg.NodeID})
	switch {
	case errors.Is(err, roomrt.ErrNotInRoom):
		res = adminError(http.StatusNotFound, fmt.Sprintf("no player %d in room %q", o.Player, o.Room))
	case errors.Is(err, roomrt.ErrClosed):
		res = adminError(http.StatusNotFound, fmt.Sprintf("room %q closed", o.Room))
	case err != nil:
		res = adminError(http.StatusGatewayTimeout, fmt.Sprintf("room %q did not answer in time: %v", o.Room, err))
	default:
		e.metrics.labeled(e.metrics.adminActions, o.Op).Add(1)
	}
	attrs := []any{"action", o.Op, "room", o.Room, "type", rm.Type(), "by", o.By, "status", res.Status}
	if o.Op == opKick {
		attrs = append(attrs, "player", o.Player, "reason", o.Reason)
	}
	e.log.Info("admin action", attrs...)
	return res
}

// localStats describes this node's rooms among ids, with live stats.
func (e *Engine) localStats(ids []string) []monitorRoom {
	tot := e.roomIO()
	now := time.Now()
	out := make([]monitorRoom, 0, len(ids))
	for _, id := range ids {
		rm, ok := e.rooms.Get(id)
		if !ok {
			continue
		}
		out = append(out, e.statsOf(rm, tot[id], now))
	}
	return out
}

func (e *Engine) statsOf(rm *roomrt.Room, t ioTotals, now time.Time) monitorRoom {
	in := rm.Info()
	late, dur := rm.TickStats()
	bout, bin := e.mon.rates(in.ID, now, t.bytesOut, t.bytesIn)
	return monitorRoom{
		ID: in.ID, Type: in.Type, Node: e.cfg.NodeID, Players: in.Players, Reserved: in.Reserved,
		MaxPlayers: in.MaxPlayers, Locked: in.Locked, Private: in.Private, Metadata: in.Metadata,
		Live: true, Tick: in.Tick, TickRate: in.TickRate,
		TickLateMaxMs: ms(late), TickDurMaxMs: ms(dur), BytesOutPerSec: bout, BytesInPerSec: bin,
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// roomIO sums the byte counts of this node's connections by the room
// they are in.
func (e *Engine) roomIO() map[string]ioTotals {
	e.mu.Lock()
	ss := make([]*session, 0, len(e.sessions))
	for s := range e.sessions {
		ss = append(ss, s)
	}
	e.mu.Unlock()
	out := map[string]ioTotals{}
	for _, s := range ss {
		s.mu.Lock()
		rm := s.room
		s.mu.Unlock()
		if rm == nil {
			continue
		}
		t := out[rm.ID()]
		s.io.addTo(&t)
		out[rm.ID()] = t
	}
	return out
}

// roomDetail describes rm and its players (read on the room goroutine).
func (e *Engine) roomDetail(ctx context.Context, rm *roomrt.Room) adminResult {
	var grace time.Duration
	if def, ok := e.rooms.Definition(rm.Type()); ok {
		grace = def.Config().ReconnectGrace
	}
	var players []monitorPlayer
	err := rm.Call(ctx, func() {
		now := rm.Now()
		for _, p := range rm.Players() {
			mp := monitorPlayer{ID: p.ID, UserID: p.UserID, Name: p.Name, Connected: !p.Disconnected,
				RTTMs: ms(p.RTT), JoinedTick: p.JoinedTick}
			if p.Disconnected {
				mp.GraceLeftMs = max(0, (grace - now.Sub(p.DisconnectedAt)).Milliseconds())
			}
			if s, ok := p.Conn().(*session); ok {
				mp.BytesOut, mp.BytesIn, mp.Relayed = s.io.bytesOut.Load(), s.io.bytesIn.Load(), s.relayed
			}
			players = append(players, mp)
		}
	})
	if err != nil {
		if errors.Is(err, roomrt.ErrClosed) {
			return adminError(http.StatusNotFound, fmt.Sprintf("room %q closed", rm.ID()))
		}
		return adminError(http.StatusGatewayTimeout, fmt.Sprintf("room %q did not answer in time: %v", rm.ID(), err))
	}
	if players == nil {
		players = []monitorPlayer{}
	}
	tot := e.roomIO()
	return adminJSON(http.StatusOK, monitorRoomDetail{monitorRoom: e.statsOf(rm, tot[rm.ID()], time.Now()), PlayerList: players})
}
