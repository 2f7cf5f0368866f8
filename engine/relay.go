package engine

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/tickwire/tickwire/internal/wsframe"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

// Header names of node-to-node requests.
const (
	// relayHeader carries the identity of a relayed session, signed with
	// the cluster secret: "ts.sid.user.name.mac", each base64url.
	relayHeader = "X-Tickwire-Relay"
	// proxiedHeader marks an upgrade reverse-proxied by another node, so
	// the owner never proxies it again; signed like relayHeader, so that
	// the owner counts the connection against the forwarded client address
	// (X-Forwarded-For) instead of the proxying node's.
	proxiedHeader = "X-Tickwire-Proxied"
	// relaySkew is how far a relay header's timestamp may be from now.
	relaySkew = time.Minute
)

var b64 = base64.RawURLEncoding

func relayMAC(secret []byte, ts, sid, user, name string) []byte {
	m := hmac.New(sha256.New, secret)
	for _, f := range [...]string{"tickwire-relay-v1", ts, sid, user, name} {
		m.Write([]byte(f))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

// signRelay returns the relay header value for a session.
func signRelay(secret []byte, now time.Time, sid string, id Identity) string {
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	return strings.Join([]string{
		b64.EncodeToString([]byte(ts)), b64.EncodeToString([]byte(sid)),
		b64.EncodeToString([]byte(id.UserID)), b64.EncodeToString([]byte(id.Name)),
		b64.EncodeToString(relayMAC(secret, ts, sid, id.UserID, id.Name)),
	}, ".")
}

// errRelayAuth: a relay header that does not verify.
var errRelayAuth = errors.New("engine: relay header invalid")

// verifyRelay checks a relay header and returns the session id and identity.
func verifyRelay(secret []byte, now time.Time, v string) (string, Identity, error) {
	if len(v) > 1024 {
		return "", Identity{}, errRelayAuth
	}
	parts := strings.Split(v, ".")
	if len(parts) != 5 {
		return "", Identity{}, errRelayAuth
	}
	var f [5][]byte
	for i, p := range parts {
		b, err := b64.DecodeString(p)
		if err != nil {
			return "", Identity{}, errRelayAuth
		}
		f[i] = b
	}
	ts, sid, user, name := string(f[0]), string(f[1]), string(f[2]), string(f[3])
	if !hmac.Equal(f[4], relayMAC(secret, ts, sid, user, name)) {
		return "", Identity{}, errRelayAuth
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "", Identity{}, errRelayAuth
	}
	if d := now.Sub(time.UnixMilli(ms)); d > relaySkew || d < -relaySkew {
		return "", Identity{}, errRelayAuth
	}
	if sid == "" || user == "" {
		return "", Identity{}, errRelayAuth
	}
	return sid, Identity{UserID: user, Name: name}, nil
}

// Relay phases.
const (
	phaseHandshake int32 = iota
	phaseRelay
	phaseClosed
)

// upstream is a relayed session's connection to the room's owner node.
// During the handshake its read goroutine decodes replies; once the owner
// sent Joined it forwards every frame to the client's outbound queue raw.
type upstream struct {
	s     *session
	addr  string // the owner node's host:port
	ws    wsConn
	reqID uint32
	phase atomic.Int32
	// detached: the owner sent Left and the relay ended on purpose; a
	// client frame that still raced to this upstream is dropped, not
	// treated as a broken link.
	detached atomic.Bool
	replies  chan *tickwirev1.ServerMessage
	done     chan struct{}
	code     atomic.Uint32 // close code from the owner, 0 if the link broke
}

// relayConn is the owner connection as the session's wsConn.
type relayConn struct{ *wsframe.Conn }

func (c relayConn) WriteMessage(op gws.Opcode, p []byte) error {
	return c.Conn.WriteMessage(wsframe.Opcode(op), p)
}

func (c relayConn) WriteClose(code uint16, reason []byte) error {
	return c.Conn.WriteClose(code, string(reason))
}

// alive pushes the upstream's read deadline out: an owner that goes silent
// (no frame and no ping for IdleTimeout; owners ping quiet connections every
// PingInterval) ends the relay with CLOSE_CODE_UPSTREAM_UNAVAILABLE instead
// of hanging the client.
func (u *upstream) alive(c *wsframe.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(u.s.e.cfg.IdleTimeout))
}

// readLoop reads the owner's frames until the connection ends. The owner is
// a peer node, and no byte sequence from it may crash this one: a frame
// that breaks the protocol closes the upstream with 1002 (or 1007/1009),
// is counted in tickwire_relay_protocol_errors_total, and the client is
// closed with CLOSE_CODE_UPSTREAM_UNAVAILABLE.
func (u *upstream) readLoop(c *wsframe.Conn) {
	c.OnControl(func(wsframe.Opcode) { u.alive(c) })
	for {
		op, data, err := c.ReadMessage()
		if err != nil {
			u.ended(err)
			return
		}
		u.alive(c)
		if op == wsframe.OpBinary {
			u.onMessage(data)
		}
		if u.phase.Load() == phaseClosed {
			// Detached (the owner sent Left): nothing more to read.
			u.ended(wsframe.ErrClosed)
			return
		}
	}
}

// ended runs once the owner connection has ended.
func (u *upstream) ended(err error) {
	var pc *wsframe.PeerCloseError
	var ce *wsframe.CloseError
	switch {
	case errors.As(err, &pc):
		if pc.Code >= 1000 && pc.Code < 5000 && pc.Code != 1005 && pc.Code != 1006 {
			u.code.Store(uint32(pc.Code))
		}
	case errors.As(err, &ce):
		// A node that breaks the protocol is not a link to resume over.
		u.code.Store(uint32(tickwirev1.CloseCode_CLOSE_CODE_UPSTREAM_UNAVAILABLE))
		u.s.e.metrics.relayProtocolErrors.Add(1)
		u.s.e.log.Warn("owner node broke the WebSocket protocol; relay closed", "session", u.s.id, "err", err)
	}
	_ = u.ws.NetConn().Close()
	prev := u.phase.Swap(phaseClosed)
	close(u.done)
	u.s.up.CompareAndSwap(u, nil)
	if prev == phaseRelay {
		u.s.e.metrics.relays.Add(-1)
		code := uint16(u.code.Load())
		reason := "upstream closed"
		if code == 0 {
			// The room's node went away without a close frame: it died
			// (the room is lost: join again) or the link broke (resume).
			code = upstreamLostCode(u.addr)
			reason = "room's node unreachable"
			if code == uint16(tickwirev1.CloseCode_CLOSE_CODE_ROOM_LOST) {
				reason = "room lost with its node"
			}
		}
		u.s.closeWith(code, reason)
	}
}

// onMessage handles one binary frame from the owner (data is valid until
// the next read).
func (u *upstream) onMessage(data []byte) {
	if u.phase.Load() == phaseRelay {
		u.s.e.metrics.relayFrames[1].Add(1)
		u.s.e.metrics.relayBytes[1].Add(uint64(len(data)))
		if isLeft(data) {
			// Detach before the client can see Left: a client that joins
			// again as soon as it reads Left must find the session local,
			// not still pointing at this (closing) upstream, or its Join
			// goes to the old owner and its reply is lost.
			u.detach()
		}
		u.s.enqueue(outFrame{op: gws.OpcodeBinary, data: bytes.Clone(data)})
		return
	}
	var sm tickwirev1.ServerMessage
	if proto.Unmarshal(data, &sm) != nil || sm.RequestId != u.reqID || u.reqID == 0 {
		return // Welcome (request 0) and anything before the join reply
	}
	switch {
	case sm.GetJoined() != nil:
		// Forward Joined first, then switch: later frames are relayed in order.
		u.s.enqueue(outFrame{op: gws.OpcodeBinary, data: bytes.Clone(data)})
		u.phase.Store(phaseRelay)
		u.s.e.metrics.relays.Add(1)
	case sm.GetError() != nil:
	default:
		return
	}
	select {
	case u.replies <- &sm:
	default:
	}
}

// leftTag is the tag byte of ServerMessage.left (field 8, length-delimited).
const leftTag = 8<<3 | 2

// isLeft tells a Left frame from every other frame without decoding it:
// the frame starts with the Left tag, or with request_id (field 15, varint)
// and then the Left tag (protobuf-go writes request_id first).
func isLeft(b []byte) bool {
	if len(b) > 0 && b[0] == 15<<3 {
		_, n := protowire.ConsumeVarint(b[1:])
		if n < 0 {
			return false
		}
		b = b[1+n:]
	}
	return len(b) > 0 && b[0] == leftTag
}

// detach ends the relay after the owner sent Left: the session is local
// again (its next Join is routed afresh) and the upstream is closed.
func (u *upstream) detach() {
	if !u.phase.CompareAndSwap(phaseRelay, phaseClosed) {
		return
	}
	u.detached.Store(true)
	u.s.e.metrics.relays.Add(-1)
	u.s.up.CompareAndSwap(u, nil)
	u.close()
}

// forward sends a client frame to the owner unchanged.
func (u *upstream) forward(data []byte) {
	u.s.e.metrics.relayFrames[0].Add(1)
	u.s.e.metrics.relayBytes[0].Add(uint64(len(data)))
	_ = u.ws.NetConn().SetWriteDeadline(time.Now().Add(u.s.e.cfg.IdleTimeout))
	if err := u.ws.WriteMessage(gws.OpcodeBinary, data); err != nil && !u.detached.Load() {
		u.s.closeWith(uint16(tickwirev1.CloseCode_CLOSE_CODE_UPSTREAM_UNAVAILABLE), "upstream write failed")
	}
}

func (u *upstream) close() {
	_ = u.ws.WriteClose(1000, nil)
	_ = u.ws.NetConn().Close()
}

// relayOutcome is how a relay attempt ended.
type relayOutcome int

const (
	relayJoined   relayOutcome = iota // the session now relays
	relayNotFound                     // the owner answered room-not-found (not forwarded)
	relayDone                         // answered or closed; nothing more to do
	// relayUnreachable: the owner could not be dialled, or the link broke
	// before it answered; nothing was sent to the client, and the caller
	// answers (the owner is likely dead: see Engine.ownerUnreachable).
	relayUnreachable
)

// relay opens an upstream connection to the owner node at addr, sends
// Hello and join (with the client's request id) and, once the owner
// answers Joined, turns the session into a relay. With retryNotFound a
// room-not-found answer is returned to the caller instead of forwarded.
// It runs on the session's read goroutine.
func (s *session) relay(ctx context.Context, reqID uint32, addr string, j *tickwirev1.Join, retryNotFound bool) relayOutcome {
	e := s.e
	if s.relayed {
		// A relayed session never relays again: no chains of nodes.
		s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_ROOM_NOT_FOUND, "room not on this node", false)
		return relayDone
	}
	u := &upstream{s: s, addr: addr, reqID: reqID, replies: make(chan *tickwirev1.ServerMessage, 1), done: make(chan struct{})}
	if reqID == 0 {
		u.reqID = 1 << 31 // the owner must echo something non-zero
	}
	h := http.Header{}
	h.Set(relayHeader, signRelay(e.cl.secret, time.Now(), s.id, s.identity))
	timeout := e.cfg.JoinTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	dctx, dcancel := context.WithTimeout(ctx, timeout)
	ws, err := wsframe.Dial(dctx, "ws://"+addr+e.cfg.Path, wsframe.DialOptions{Header: h, MaxMessage: 4 << 20})
	dcancel()
	if err != nil {
		e.log.Info("relay dial failed", "addr", addr, "err", err)
		return relayUnreachable
	}
	u.ws = relayConn{ws}
	u.alive(ws)
	go u.readLoop(ws) // not gws's ReadLoop: a peer node's bytes must not crash this one
	hello, _ := proto.Marshal(&tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Hello{Hello: &tickwirev1.Hello{ProtocolVersion: tickwirev1.ProtocolVersion_PROTOCOL_VERSION_1, Name: s.identity.Name, Client: "tickwire-relay"}}})
	join, _ := proto.Marshal(&tickwirev1.ClientMessage{RequestId: u.reqID, Kind: &tickwirev1.ClientMessage_Join{Join: j}})
	if ws.WriteMessage(wsframe.OpBinary, hello) != nil || ws.WriteMessage(wsframe.OpBinary, join) != nil {
		u.close()
		return relayUnreachable
	}
	select {
	case rep := <-u.replies:
		if rep.GetJoined() != nil {
			s.up.Store(u)
			if u.phase.Load() == phaseClosed { // the owner already sent Left or closed
				s.up.CompareAndSwap(u, nil)
			}
			if s.closingNow() { // the client left while we joined
				u.close()
			}
			return relayJoined
		}
		u.close()
		er := rep.GetError()
		if retryNotFound && er.GetCode() == tickwirev1.ErrorCode_ERROR_CODE_ROOM_NOT_FOUND {
			return relayNotFound
		}
		s.fail(reqID, er.GetCode(), er.GetMessage(), false)
		return relayDone
	case <-u.done:
		code := uint16(u.code.Load())
		if code == 0 {
			return relayUnreachable // the link broke before the owner answered
		}
		if code == 1000 {
			code = uint16(tickwirev1.CloseCode_CLOSE_CODE_UPSTREAM_UNAVAILABLE)
		}
		s.closeWith(code, "owner node closed the connection")
		return relayDone
	case <-ctx.Done():
		u.close()
		s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_ROOM_BUSY, "join timed out", false)
		return relayDone
	}
}

// proxyUpgrade reverse-proxies a WebSocket upgrade to the owner node at addr
// (httputil.ReverseProxy switches protocols and then copies bytes both ways:
// no frame is decoded here).
func (e *Engine) proxyUpgrade(w http.ResponseWriter, r *http.Request, addr string) {
	e.metrics.proxied.Add(1)
	target := &url.URL{Scheme: "http", Host: addr}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.URL.Path, pr.Out.URL.RawPath = pr.In.URL.Path, pr.In.URL.RawPath
			pr.SetXForwarded()
			pr.Out.Host = pr.In.Host
			pr.Out.Header.Set(proxiedHeader, signRelay(e.cl.secret, time.Now(), "proxied-by-"+e.cfg.NodeID, Identity{UserID: "proxy"}))
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			e.log.Info("upgrade proxy failed", "addr", addr, "err", err)
			// Answer in WebSocket terms, as a relay does: accept the upgrade
			// here and close with CLOSE_CODE_UPSTREAM_UNAVAILABLE (browsers
			// only see "1006" for a failed HTTP upgrade).
			if ws, uerr := e.upgrader.Upgrade(w, r); uerr == nil {
				e.metrics.closed(uint16(tickwirev1.CloseCode_CLOSE_CODE_UPSTREAM_UNAVAILABLE))
				if lingerClose(ws.NetConn(), uint16(tickwirev1.CloseCode_CLOSE_CODE_UPSTREAM_UNAVAILABLE), "owner node unreachable", e.cfg.CloseTimeout) {
					e.metrics.closesCut.Add(1)
				}
				return
			}
			http.Error(w, "owner node unreachable", http.StatusBadGateway)
		},
	}
	rp.ServeHTTP(w, r)
}
