package engine

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lxzan/gws"

	"github.com/tickwire/tickwire/internal/roomrt"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

// Count limits (Config.Limits): what one connection, one IP address or
// the node may make the node hold. Each refusal is counted in
// tickwire_limit_refusals_total{limit=...}.

// minuteCount counts events in fixed one-minute windows.
type minuteCount struct {
	start time.Time
	n     int
}

func (c *minuteCount) count(now time.Time) int {
	if now.Sub(c.start) >= time.Minute {
		return 0
	}
	return c.n
}

func (c *minuteCount) add(now time.Time) {
	if now.Sub(c.start) >= time.Minute {
		c.start, c.n = now, 0
	}
	c.n++
}

// defaultTrustedProxies is Limits.TrustedProxies' default.
var defaultTrustedProxies = []string{"127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"}

// parseTrusted parses Limits.TrustedProxies (nil: the default).
func parseTrusted(list []string) ([]netip.Prefix, error) {
	if list == nil {
		list = defaultTrustedProxies
	}
	out := make([]netip.Prefix, 0, len(list))
	for _, v := range list {
		if p, err := netip.ParsePrefix(v); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("engine: Limits.TrustedProxies: %q is neither a CIDR nor an address", v)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// clientIP is the address connections from r count against: the TCP
// peer's, or the client a trusted proxy forwarded; "" for a loopback peer
// that forwarded nothing (not limited).
func (e *Engine) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	peer = peer.Unmap()
	fwd := lastForwarded(r)
	if fwd != "" && slices.ContainsFunc(e.trusted, func(p netip.Prefix) bool { return p.Contains(peer) }) {
		return fwd
	}
	if peer.IsLoopback() {
		return ""
	}
	return peer.String()
}

// lastForwarded is the last address in X-Forwarded-For (the one the
// proxying node appended), "" if none.
func lastForwarded(r *http.Request) string {
	v := r.Header.Values("X-Forwarded-For")
	if len(v) == 0 {
		return ""
	}
	last := v[len(v)-1]
	if i := strings.LastIndexByte(last, ','); i >= 0 {
		last = last[i+1:]
	}
	return strings.TrimSpace(last)
}

// admit applies MaxConnsPerIP and MaxRoomless to a new connection and, if
// it is admitted, counts it against its IP until removeSession. It returns
// the HTTP status to refuse it with, 0 to admit it. Relayed sessions (from
// another node, signed) are not counted against the entry node's IP.
func (e *Engine) admit(s *session, ip string) (status int, reason string) {
	l := &e.cfg.Limits
	e.mu.Lock()
	defer e.mu.Unlock()
	if !s.relayed {
		if ip != "" && over(e.ipConns[ip]+1, l.MaxConnsPerIP) {
			e.metrics.limited("connections_per_ip")
			return http.StatusTooManyRequests, "too many connections from this address"
		}
		// Connections not in a room: the open ones minus the players in
		// local rooms and the sessions relayed to another node's rooms.
		roomless := len(e.sessions) - int(e.metrics.players.Load()) - int(e.metrics.relays.Load())
		if over(roomless+1, l.MaxRoomless) {
			e.metrics.limited("roomless")
			return http.StatusServiceUnavailable, "too many connections outside rooms; try again"
		}
		if ip != "" {
			s.ip = ip
			e.ipConns[ip]++
		}
	}
	return 0, ""
}

// releaseIP undoes admit's count. Call with e.mu held.
func (e *Engine) releaseIPLocked(s *session) {
	if s.ip == "" {
		return
	}
	if n := e.ipConns[s.ip] - 1; n > 0 {
		e.ipConns[s.ip] = n
	} else {
		delete(e.ipConns, s.ip)
	}
	s.ip = ""
}

// filterOK applies MaxFilterEntries and MaxFilterBytes: a join filter
// becomes a created room's metadata, listed by /rooms.
func (e *Engine) filterOK(f map[string]string) bool {
	l := &e.cfg.Limits
	if over(len(f), l.MaxFilterEntries) {
		return false
	}
	n := 0
	for k, v := range f {
		n += len(k) + len(v)
	}
	return !over(n, l.MaxFilterBytes)
}

// joinableExists says whether a public, unlocked room of typ with a free
// seat matches filter (a join-or-create would then join, not create).
func (e *Engine) joinableExists(typ string, filter map[string]string) bool {
	for _, in := range e.rooms.List(false) {
		if in.Type != typ || in.Locked || (in.MaxPlayers > 0 && in.Players+in.Reserved >= in.MaxPlayers) {
			continue
		}
		match := true
		for k, v := range filter {
			if in.Metadata[k] != v {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// joinLimits checks a Join against the filter limits and, when it may
// create a room, against MaxRooms and the creations per connection and per
// IP per minute. An explicit create is counted here; mayCreate reports a
// join-or-create that may create, to count with roomCreated if it did.
func (s *session) joinLimits(j *tickwirev1.Join, now time.Time) (code tickwirev1.ErrorCode, msg string, mayCreate bool, ok bool) {
	e := s.e
	l := &e.cfg.Limits
	if !e.filterOK(j.Filter) {
		e.metrics.limited("filter")
		return tickwirev1.ErrorCode_ERROR_CODE_BAD_REQUEST, "join filter too large", false, false
	}
	if j.RoomType == "" || j.RoomId != "" || j.Reservation != "" {
		return 0, "", false, true
	}
	explicit := j.Create || j.Private
	if !explicit && (e.cl.shared || e.joinableExists(j.RoomType, j.Filter)) {
		// Joins an existing room (in cluster mode the directory places it).
		return 0, "", false, true
	}
	if over(e.rooms.Len()+1, l.MaxRooms) {
		e.metrics.limited("rooms")
		return tickwirev1.ErrorCode_ERROR_CODE_ROOM_BUSY, "node at its room limit; try again later", false, false
	}
	if over(s.roomsMade.count(now)+1, l.RoomsPerConnPerMinute) {
		e.metrics.limited("rooms_per_connection")
		return tickwirev1.ErrorCode_ERROR_CODE_RATE_LIMITED, "too many rooms created; try again in a minute", false, false
	}
	if s.ip != "" {
		e.mu.Lock()
		c := e.ipRooms[s.ip]
		n := 0
		if c != nil {
			n = c.count(now)
		}
		e.mu.Unlock()
		if over(n+1, l.RoomsPerIPPerMinute) {
			e.metrics.limited("rooms_per_ip")
			return tickwirev1.ErrorCode_ERROR_CODE_RATE_LIMITED, "too many rooms created from this address; try again in a minute", false, false
		}
	}
	if explicit {
		s.roomCreated(now)
		return 0, "", false, true
	}
	return 0, "", true, true
}

// roomCreated counts a room this session created.
func (s *session) roomCreated(now time.Time) {
	s.roomsMade.add(now)
	if s.ip == "" {
		return
	}
	e := s.e
	e.mu.Lock()
	c := e.ipRooms[s.ip]
	if c == nil {
		c = &minuteCount{}
		e.ipRooms[s.ip] = c
	}
	c.add(now)
	e.mu.Unlock()
}

// createdSince says whether r was created at or after t (a join-or-create
// that created it).
func createdSince(r *roomrt.Room, t time.Time) bool { return !r.Info().CreatedAt.Before(t) }

// sweepLimits forgets the per-IP room counts of past minutes.
func (e *Engine) sweepLimits(now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for ip, c := range e.ipRooms {
		if c.count(now) == 0 {
			delete(e.ipRooms, ip)
		}
	}
}

// probeInterval is how often a client in a room is sent a probe ping.
const probeInterval = time.Second

// slowProbe finds slow consumers among clients in rooms (the sweep calls
// it). A WebSocket ping sent behind the state frames already queued is
// answered only once the client has read them all: a client whose probe
// stays unanswered for Limits.SlowConsumerTimeout has fallen that far
// behind the room (or stopped reading; small states would otherwise fit
// the kernel's buffers for minutes) and is closed with
// CLOSE_CODE_SLOW_CONSUMER. If the close frame cannot be written either,
// the socket is closed a second later. It reports whether s was closed.
func (s *session) slowProbe(now time.Time) bool {
	e := s.e
	t := now.UnixNano()
	if at := s.slowAt.Load(); at != 0 {
		if t-at > int64(time.Second) {
			s.abort()
		}
		return true
	}
	s.writeLeftover()
	if p := s.probe.Load(); p != 0 {
		if t-p <= int64(e.cfg.Limits.SlowConsumerTimeout) {
			return false
		}
		s.slowAt.Store(t)
		e.metrics.limited("slow_consumer")
		s.closeWith(uint16(tickwirev1.CloseCode_CLOSE_CODE_SLOW_CONSUMER), "slow consumer: no pong")
		return true
	}
	if r, _ := s.current(); r == nil || t-s.probeSent.Load() < int64(probeInterval) {
		return false
	}
	s.probe.Store(t)
	s.probeSent.Store(t)
	s.enqueueForTick(outFrame{op: gws.OpcodePing, data: binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(t))})
	return false
}

// enqueueForTick queues f for the room's next tick to write with the
// player's state (SendState writes what is queued, and under the room's
// Hold, Release does) instead of writing it now: the sweep probes every
// player of the node at once, and a write each made a burst of a thousand
// system calls once a second at 1,000 players, which the rooms ticking at
// that moment waited for. Call it only while s is in a room of this node.
// If the room does not tick before the next sweep, writeLeftover writes it
// then.
func (s *session) enqueueForTick(f outFrame) { s.queueFrame(f, true) }

// writeLeftover starts the writer for frames enqueueForTick queued that
// no tick took (a room stalled, or the player left it): every other way of
// queueing a frame starts the writer or is in a room's Hold.
func (s *session) writeLeftover() {
	s.omu.Lock()
	if s.closing || s.writing || s.held || len(s.queue) == 0 {
		s.omu.Unlock()
		return
	}
	s.writing = true
	s.omu.Unlock()
	go s.flush()
}

// probeAnswered clears the probe a pong answers (other pongs, unsolicited
// or answering keepalive pings, do not).
func (s *session) probeAnswered(payload []byte) {
	if len(payload) == 8 {
		if p := int64(binary.BigEndian.Uint64(payload)); p != 0 {
			s.probe.CompareAndSwap(p, 0)
		}
	}
}

// requestTimeouts counts the connections closed before a whole request
// reached the handler (slowloris clients dropped by ReadHeaderTimeout,
// port scans) as limit "request_timeout": Serve installs its hooks.
type requestTimeouts struct {
	m     *Metrics
	fresh sync.Map // net.Conn -> struct{}: accepted, no request handled yet
}

type connKey struct{}

func (rt *requestTimeouts) connContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

func (rt *requestTimeouts) connState(c net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		rt.fresh.Store(c, struct{}{})
	case http.StateClosed:
		if _, ok := rt.fresh.LoadAndDelete(c); ok {
			rt.m.limited("request_timeout")
		}
	case http.StateHijacked:
		rt.fresh.Delete(c)
	}
}

func (rt *requestTimeouts) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, ok := r.Context().Value(connKey{}).(net.Conn); ok {
			rt.fresh.Delete(c)
		}
		h.ServeHTTP(w, r)
	})
}
