// Package wstest is a scripted WebSocket server for tests of clients: it
// accepts real upgrades over TCP on 127.0.0.1 and then writes whatever
// bytes a test gives it, however malformed.
package wstest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/tickwire/tickwire/internal/wsframe"
)

// Server accepts WebSocket upgrades and runs Script on each connection.
type Server struct {
	ln net.Listener
	wg sync.WaitGroup
	// Script runs on each upgraded connection.
	script func(c *ServerConn)
}

// ServerConn is the server side of one upgraded connection.
type ServerConn struct {
	Conn   net.Conn
	Req    *http.Request
	br     *bufio.Reader
	parser wsframe.Parser
	buf    []byte
}

// NewServer listens on 127.0.0.1 and serves script on every connection.
func NewServer(script func(c *ServerConn)) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("wstest: %w", err)
	}
	s := &Server{ln: ln, script: script}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is ws://Addr/ws.
func (s *Server) URL() string { return "ws://" + s.Addr() + "/ws" }

// Close stops the server and waits for its connections' scripts.
func (s *Server) Close() {
	_ = s.ln.Close()
	s.wg.Wait()
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			sc, err := upgrade(c)
			if err != nil {
				return
			}
			s.script(sc)
		}()
	}
}

func upgrade(c net.Conn) (*ServerConn, error) {
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, err
	}
	key := req.Header.Get("Sec-WebSocket-Key")
	if key == "" {
		return nil, errors.New("wstest: no key")
	}
	_, err = fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", wsframe.AcceptKey(key))
	if err != nil {
		return nil, err
	}
	return &ServerConn{Conn: c, Req: req, br: br, parser: wsframe.Parser{MaxMessage: 1 << 20, Masked: true}}, nil
}

// ReadFrame returns the client's next message or control frame (payload
// copied).
func (c *ServerConn) ReadFrame() (wsframe.Opcode, []byte, error) {
	for {
		n, op, payload, msg, err := c.parser.Next(c.buf)
		if err != nil {
			return 0, nil, err
		}
		if n > 0 {
			p := append([]byte(nil), payload...)
			c.buf = c.buf[n:]
			if msg {
				return op, p, nil
			}
			continue
		}
		var tmp [4096]byte
		k, err := c.br.Read(tmp[:])
		c.buf = append(c.buf, tmp[:k]...)
		if k == 0 && err != nil {
			return 0, nil, err
		}
	}
}

// WriteMessage writes an unmasked server frame.
func (c *ServerConn) WriteMessage(op wsframe.Opcode, payload []byte) error {
	_, err := c.Conn.Write(wsframe.AppendFrame(nil, op, payload, nil))
	return err
}

// WriteRaw writes b as is.
func (c *ServerConn) WriteRaw(b []byte) error {
	_, err := c.Conn.Write(b)
	return err
}

// CloseCode reads until the client's close frame or the end of the stream
// and returns the close code (0: none, the stream ended without one).
func (c *ServerConn) CloseCode() uint16 {
	for {
		op, p, err := c.ReadFrame()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return 0
			}
			return 0
		}
		if op == wsframe.OpClose {
			if len(p) < 2 {
				return wsframe.CloseNoStatus
			}
			return uint16(p[0])<<8 | uint16(p[1])
		}
	}
}
