package engine_test

import (
	"io"
	"net"
	"sync"
	"testing"
)

// faultProxy is a TCP proxy a test controls: every connection through it
// can be reset (RST, no close frame) or blackholed (kept open, nothing
// forwarded either way: a silent drop).
type faultProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	pairs  []*proxyPair
	closed bool // cleanup ran: a connection accepted since is closed at once
	wg     sync.WaitGroup
}

type proxyPair struct {
	client, server net.Conn
	mu             sync.Mutex
	blackholed     bool
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, target: target}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		p.closed = true
		for _, pp := range p.pairs {
			_ = pp.client.Close()
			_ = pp.server.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// URL is the proxied WebSocket URL.
func (p *faultProxy) URL() string { return "ws://" + p.ln.Addr().String() + "/ws" }

func (p *faultProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		pp := &proxyPair{client: c, server: s}
		p.mu.Lock()
		if p.closed { // accepted as the test ended (a client reconnecting)
			p.mu.Unlock()
			_ = c.Close()
			_ = s.Close()
			return
		}
		p.pairs = append(p.pairs, pp)
		p.mu.Unlock()
		p.wg.Go(func() { pp.pipe(s, c) })
		p.wg.Go(func() { pp.pipe(c, s) })
	}
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
