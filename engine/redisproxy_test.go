package engine_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"
)

// redisFaultProxy is a TCP proxy between nodes and Redis that reads the
// commands going to Redis (RESP arrays of bulk strings, one at a time per
// connection, as go-redis sends them outside pipelines) and, once armed,
// cuts the connection of the first command a match function picks: after
// forwarding it, when its reply comes back (the command is applied, the
// reply is lost), or before forwarding it (the command is lost on the way).
// Either way the node sees a connection reset mid-call.
type redisFaultProxy struct {
	proxyListener
	// guarded by mu
	match func(cmd [][]byte) bool
	apply bool // forward the matched command, then drop its reply
	hits  int
}

func newRedisFaultProxy(t *testing.T, target string) *redisFaultProxy {
	t.Helper()
	p := &redisFaultProxy{}
	p.start(t, target, p.serve)
	return p
}

func (p *redisFaultProxy) Addr() string { return p.ln.Addr().String() }

// arm makes the proxy cut the connection of the next command match picks.
func (p *redisFaultProxy) arm(match func(cmd [][]byte) bool, apply bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.match, p.apply = match, apply
}

func (p *redisFaultProxy) hitCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hits
}

// serve forwards one connection's commands and replies (proxyListener, mu
// held).
func (p *redisFaultProxy) serve(c, s net.Conn) {
	cut := make(chan struct{}) // closed: drop the next reply and the connection
	p.wg.Go(func() { p.commands(c, s, cut) })
	p.wg.Go(func() { p.replies(s, c, cut) })
}

// commands forwards client commands to Redis, one RESP array at a time.
func (p *redisFaultProxy) commands(c, s net.Conn, cut chan struct{}) {
	r := bufio.NewReader(c)
	for {
		raw, cmd, err := readCommand(r)
		if err != nil {
			_ = c.Close()
			_ = s.Close()
			return
		}
		p.mu.Lock()
		hit := p.match != nil && p.match(cmd)
		apply := p.apply
		if hit {
			p.match = nil
			p.hits++
		}
		p.mu.Unlock()
		if hit && !apply {
			resetConn(c)
			_ = s.Close()
			return
		}
		if hit {
			// Before the write: its reply must find the cut made.
			close(cut)
		}
		if _, err := s.Write(raw); err != nil || hit {
			// On a hit the reply goroutine closes both once Redis
			// answered (the command was applied).
			if err != nil {
				_ = c.Close()
				_ = s.Close()
			}
			return
		}
	}
}

// replies forwards Redis's replies to the client until cut, then drops
// what comes next (the reply to the cut command) and resets the client.
func (p *redisFaultProxy) replies(s, c net.Conn, cut chan struct{}) {
	defer c.Close()
	defer s.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := s.Read(buf)
		select {
		case <-cut:
			resetConn(c)
			return
		default:
		}
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// readCommand reads one RESP array of bulk strings: its bytes and its
// elements.
func readCommand(r *bufio.Reader) (raw []byte, cmd [][]byte, err error) {
	var b bytes.Buffer
	n, err := readRESPHeader(r, &b, '*')
	if err != nil {
		return nil, nil, err
	}
	for range n {
		size, err := readRESPHeader(r, &b, '$')
		if err != nil {
			return nil, nil, err
		}
		data := make([]byte, size+2)
		if _, err := io.ReadFull(r, data); err != nil {
			return nil, nil, err
		}
		b.Write(data)
		cmd = append(cmd, data[:size])
	}
	return b.Bytes(), cmd, nil
}

// readRESPHeader reads a RESP header line of type kind ('*' array, '$'
// bulk string) into b and returns its count.
func readRESPHeader(r *bufio.Reader, b *bytes.Buffer, kind byte) (int, error) {
	line, err := r.ReadBytes('\n')
	if err != nil {
		return 0, err
	}
	b.Write(line)
	if len(line) < 3 || line[0] != kind {
		return 0, fmt.Errorf("resp: want a %q header, got %q", kind, line)
	}
	return strconv.Atoi(string(bytes.TrimSpace(line[1:])))
}
