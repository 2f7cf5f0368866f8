package engine_test

import (
	"io"
	"net"
	"sync"
	"testing"
)

// proxyListener is the accepting half of a test's TCP proxy: it listens on
// a loopback port and, for every client connection, dials target and hands
// the pair to serve, which runs with mu held (it records what it keeps and
// starts the pair's goroutines with wg.Go; it must not block). The test's
// cleanup closes the listener and every connection, and waits for every
// goroutine; a connection accepted meanwhile is closed at once.
type proxyListener struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup
	mu     sync.Mutex // guards conns and closed, and what serve keeps
	conns  []net.Conn
	closed bool
}

// start listens and accepts until the test ends.
func (l *proxyListener) start(t *testing.T, target string, serve func(client, server net.Conn)) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.ln, l.target = ln, target
	l.wg.Go(func() { l.accept(serve) })
	t.Cleanup(func() {
		_ = ln.Close()
		l.mu.Lock()
		l.closed = true
		for _, c := range l.conns {
			_ = c.Close()
		}
		l.mu.Unlock()
		l.wg.Wait()
	})
}

func (l *proxyListener) accept(serve func(client, server net.Conn)) {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", l.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		l.mu.Lock()
		if l.closed { // accepted as the test ended (a client reconnecting)
			l.mu.Unlock()
			_ = c.Close()
			_ = s.Close()
			return
		}
		l.conns = append(l.conns, c, s)
		serve(c, s)
		l.mu.Unlock()
	}
}

// faultProxy is a TCP proxy a test controls: every connection through it
// can be reset (RST, no close frame) or blackholed (kept open, nothing
// forwarded either way: a silent drop).
type faultProxy struct {
	proxyListener
	pairs []*proxyPair // guarded by mu
}

type proxyPair struct {
	client, server net.Conn
	mu             sync.Mutex
	blackholed     bool
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	p := &faultProxy{}
	p.start(t, target, p.serve)
	return p
}

// URL is the proxied WebSocket URL.
func (p *faultProxy) URL() string { return "ws://" + p.ln.Addr().String() + "/ws" }

// serve pipes one connection both ways (proxyListener, mu held).
func (p *faultProxy) serve(c, s net.Conn) {
	pp := &proxyPair{client: c, server: s}
	p.pairs = append(p.pairs, pp)
	p.wg.Go(func() { pp.pipe(s, c) })
	p.wg.Go(func() { pp.pipe(c, s) })
}

func (pp *proxyPair) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		pp.mu.Lock()
		hole := pp.blackholed
		pp.mu.Unlock()
		if n > 0 && !hole {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF || hole {
				return
			}
			if tc, ok := dst.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			return
		}
	}
}

// Reset drops every connection through the proxy with a TCP reset on both
// sides.
func (p *faultProxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pp := range p.pairs {
		for _, c := range []net.Conn{pp.client, pp.server} {
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			_ = c.Close()
		}
	}
	p.pairs = nil
}

// Blackhole stops forwarding on every connection through the proxy while
// keeping them open: neither side learns that the other is gone.
func (p *faultProxy) Blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pp := range p.pairs {
		pp.mu.Lock()
		pp.blackholed = true
		pp.mu.Unlock()
	}
}
