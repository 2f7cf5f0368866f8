package wsframe

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Sentinel errors.
var (
	// ErrClosed: the connection was closed by this side.
	ErrClosed = errors.New("wsframe: connection closed")
	// ErrHandshake: the server did not accept the WebSocket upgrade.
	ErrHandshake = errors.New("wsframe: handshake refused")
)

// PeerCloseError is the close frame the peer ended the connection with.
type PeerCloseError struct {
	Code   uint16
	Reason string
}

func (e *PeerCloseError) Error() string {
	return fmt.Sprintf("websocket: closed by peer: %d %s", e.Code, e.Reason)
}

// DialOptions configure Dial.
type DialOptions struct {
	// Header is added to the upgrade request.
	Header http.Header
	// TLSConfig is used for wss:// URLs (nil: the system roots).
	TLSConfig *tls.Config
	// MaxMessage bounds a message from the server; bigger ones close the
	// connection with 1009. Default 1 MiB.
	MaxMessage int
}

// Conn is the client side of a WebSocket connection: one goroutine reads
// (ReadMessage), any number write.
type Conn struct {
	c  net.Conn
	br *bufio.Reader
	p  Parser
	// read state (the reader only)
	buf       []byte
	r, w      int
	readErr   error
	onControl func(op Opcode)
	// readWindow is the span of the last read deadline set (0: none); any
	// goroutine may set it (SetReadDeadline).
	readWindow atomic.Int64

	wmu     sync.Mutex
	wbuf    []byte
	closing bool // a close frame was sent
	rng     *mrand.ChaCha8
}

// Dial opens a WebSocket connection to rawURL (ws:// or wss://). ctx bounds
// the connection and the handshake.
func Dial(ctx context.Context, rawURL string, o DialOptions) (*Conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("wsframe: %w", err)
	}
	var secure bool
	switch u.Scheme {
	case "ws", "http":
	case "wss", "https":
		secure = true
	default:
		return nil, fmt.Errorf("wsframe: unsupported scheme %q", u.Scheme)
	}
	host := u.Host
	if u.Port() == "" {
		if secure {
			host = net.JoinHostPort(u.Hostname(), "443")
		} else {
			host = net.JoinHostPort(u.Hostname(), "80")
		}
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, fmt.Errorf("wsframe: dial %s: %w", host, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	if secure {
		cfg := o.TLSConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = nc.Close()
			return nil, fmt.Errorf("wsframe: tls handshake: %w", err)
		}
		nc = tc
	}
	c, err := clientHandshake(nc, u, o)
	if err != nil {
		_ = nc.Close()
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	return c, nil
}

const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AcceptKey is the Sec-WebSocket-Accept value for key.
func AcceptKey(key string) string {
	h := sha1.Sum([]byte(key + acceptGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

func clientHandshake(nc net.Conn, u *url.URL, o DialOptions) (*Conn, error) {
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := &http.Request{
		Method: http.MethodGet,
		URL:    &url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery},
		Host:   u.Host,
		Header: http.Header{},
		Proto:  "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
	}
	if req.URL.Path == "" {
		req.URL.Path = "/"
	}
	for k, v := range o.Header {
		req.Header[k] = v
	}
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", key)
	req.Header.Set("Sec-WebSocket-Version", "13")
	bw := bufio.NewWriter(nc)
	if err := req.Write(bw); err != nil {
		return nil, fmt.Errorf("wsframe: write handshake: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("wsframe: write handshake: %w", err)
	}
	br := bufio.NewReaderSize(nc, 4096)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, fmt.Errorf("wsframe: read handshake: %w", err)
	}
	_ = resp.Body.Close()
	switch {
	case resp.StatusCode != http.StatusSwitchingProtocols:
		return nil, fmt.Errorf("%w: %s", ErrHandshake, resp.Status)
	case !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket"),
		!headerHasToken(resp.Header, "Connection", "upgrade"):
		return nil, fmt.Errorf("%w: no upgrade in the response", ErrHandshake)
	case resp.Header.Get("Sec-WebSocket-Accept") != AcceptKey(key):
		return nil, fmt.Errorf("%w: bad Sec-WebSocket-Accept", ErrHandshake)
	case resp.Header.Get("Sec-WebSocket-Extensions") != "":
		return nil, fmt.Errorf("%w: an extension was not asked for", ErrHandshake)
	}
	return newConn(nc, br, o.MaxMessage), nil
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// NewClientConn wraps a connection whose upgrade is done (br holds what was
// read past the handshake, may be nil). Tests use it to drive a client over
// any net.Conn.
func NewClientConn(nc net.Conn, br *bufio.Reader, maxMessage int) *Conn {
	return newConn(nc, br, maxMessage)
}

func newConn(nc net.Conn, br *bufio.Reader, maxMessage int) *Conn {
	if maxMessage <= 0 {
		maxMessage = 1 << 20
	}
	if br == nil {
		br = bufio.NewReaderSize(nc, 4096)
	}
	var seed [32]byte
	_, _ = rand.Read(seed[:])
	return &Conn{
		c: nc, br: br,
		p:   Parser{MaxMessage: maxMessage},
		buf: make([]byte, 4096),
		rng: mrand.NewChaCha8(seed),
	}
}

// OnControl sets a function ReadMessage calls (on the reading goroutine)
// after it handled a ping or pong from the peer; a reader uses it to keep
// a connection alive by the peer's keepalives. Set it before reading.
func (c *Conn) OnControl(f func(op Opcode)) { c.onControl = f }

// NetConn returns the underlying connection.
func (c *Conn) NetConn() net.Conn { return c.c }

// SetReadDeadline sets the read deadline of the underlying connection. A
// deadline that passes while bytes are already waiting in the socket (the
// reading goroutine did not get a CPU in time, on an overloaded machine)
// does not end the connection: ReadMessage looks once more, for a quarter
// of the deadline's span (at least 10 ms), before it reports the timeout.
func (c *Conn) SetReadDeadline(t time.Time) error {
	var w time.Duration
	if !t.IsZero() {
		w = max(time.Until(t), 0)
	}
	c.readWindow.Store(int64(w))
	return c.c.SetReadDeadline(t)
}

// SetWriteDeadline sets the write deadline of the underlying connection.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.c.SetWriteDeadline(t) }

// ReadMessage returns the next data message (text or binary). Pings are
// answered and pongs skipped on the way. The payload is valid until the
// next call. It returns a *PeerCloseError when the peer closed (its close
// frame was answered), a *CloseError when the peer broke the protocol (the
// connection was closed with that code), or the read error.
func (c *Conn) ReadMessage() (Opcode, []byte, error) {
	if c.readErr != nil {
		return 0, nil, c.readErr
	}
	for {
		n, op, payload, msg, err := c.p.Next(c.buf[c.r:c.w])
		if err != nil {
			var ce *CloseError
			if !errors.As(err, &ce) {
				ce = &CloseError{CloseProtocol, err.Error()}
			}
			c.fail(ce)
			return 0, nil, ce
		}
		if n == 0 {
			if err := c.fill(); err != nil {
				c.readErr = err
				_ = c.c.Close()
				return 0, nil, err
			}
			continue
		}
		c.r += n
		if !msg {
			continue
		}
		switch op {
		case OpPing:
			_ = c.writeFrame(OpPong, payload)
			if c.onControl != nil {
				c.onControl(op)
			}
			continue
		case OpPong:
			if c.onControl != nil {
				c.onControl(op)
			}
			continue
		case OpClose:
			code, reason, reply, ok := ParseClose(payload)
			if !ok {
				ce := &CloseError{reply, "malformed close frame"}
				c.fail(ce)
				return 0, nil, ce
			}
			_ = c.WriteClose(reply, "")
			_ = c.c.Close()
			c.readErr = &PeerCloseError{Code: code, Reason: reason}
			return 0, nil, c.readErr
		case OpText:
			// RFC 6455 section 8.1: a text message must be UTF-8.
			if !validUTF8(payload) {
				ce := &CloseError{CloseInvalidData, "text message is not UTF-8"}
				c.fail(ce)
				return 0, nil, ce
			}
		}
		return op, payload, nil
	}
}

// fail closes the connection after a protocol violation.
func (c *Conn) fail(ce *CloseError) {
	c.readErr = ce
	_ = c.c.SetWriteDeadline(time.Now().Add(time.Second))
	_ = c.WriteClose(ce.Code, ce.Reason)
	_ = c.c.Close()
}

// fill reads more bytes into buf, moving the unread ones to its start and
// growing it up to a frame of the largest message.
func (c *Conn) fill() error {
	if c.r > 0 {
		c.w = copy(c.buf, c.buf[c.r:c.w])
		c.r = 0
	}
	if c.w == len(c.buf) {
		// The parser refuses frames over the limit before they arrive
		// whole, so a frame never needs more than this.
		limit := c.p.MaxMessage + maxHeader
		if len(c.buf) >= limit {
			return &CloseError{CloseTooLarge, "frame too large"}
		}
		nb := make([]byte, min(limit, 2*len(c.buf)))
		copy(nb, c.buf[:c.w])
		c.buf = nb
	}
	n, err := c.br.Read(c.buf[c.w:])
	if n == 0 && errors.Is(err, os.ErrDeadlineExceeded) {
		n, err = c.recheck()
	}
	c.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// recheck reads once more after the read deadline passed, for a quarter of
// its span: if the bytes were there all along, the silence was this
// process's, not the peer's. The deadline is then re-armed for its span.
func (c *Conn) recheck() (int, error) {
	w := time.Duration(c.readWindow.Load())
	if w <= 0 {
		return 0, os.ErrDeadlineExceeded
	}
	if err := c.c.SetReadDeadline(time.Now().Add(max(w/4, 10*time.Millisecond))); err != nil {
		return 0, err
	}
	n, err := c.br.Read(c.buf[c.w:])
	if n > 0 {
		_ = c.c.SetReadDeadline(time.Now().Add(w))
	}
	return n, err
}

// WriteMessage writes one data message (unfragmented, masked).
func (c *Conn) WriteMessage(op Opcode, payload []byte) error {
	return c.writeFrame(op, payload)
}

// WriteClose writes a close frame with code (0: no code) and reason. Later
// writes fail with ErrClosed.
func (c *Conn) WriteClose(code uint16, reason string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closing {
		return ErrClosed
	}
	c.closing = true
	return c.writeLocked(OpClose, ClosePayload(code, reason))
}

func (c *Conn) writeFrame(op Opcode, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closing {
		return ErrClosed
	}
	return c.writeLocked(op, payload)
}

func (c *Conn) writeLocked(op Opcode, payload []byte) error {
	var key [4]byte
	k := c.rng.Uint64()
	key[0], key[1], key[2], key[3] = byte(k), byte(k>>8), byte(k>>16), byte(k>>24)
	c.wbuf = AppendFrame(c.wbuf[:0], op, payload, key[:])
	_, err := c.c.Write(c.wbuf)
	if cap(c.wbuf) > 64<<10 {
		c.wbuf = nil
	}
	if err != nil {
		return fmt.Errorf("wsframe: write: %w", err)
	}
	return nil
}

// Close closes the connection without a close frame.
func (c *Conn) Close() error { return c.c.Close() }

func validUTF8(b []byte) bool { return utf8.Valid(b) }
