package wsframe

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (a, b net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	a, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b = <-accepted
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	return a, b
}

// A read deadline that passes while the peer's frame already waits in the
// socket (the reader was not scheduled in time) does not end the
// connection; one that passes in real silence does, a quarter of its span
// later.
func TestReadDeadlinePassedWithBytesWaiting(t *testing.T) {
	tests := []struct {
		name     string
		peerSent bool
	}{
		{"bytes waiting", true},
		{"silence", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, peer := tcpPair(t)
			c := NewClientConn(nc, nil, 0)
			if tt.peerSent {
				if _, err := peer.Write(AppendFrame(nil, OpBinary, []byte("state"), nil)); err != nil {
					t.Fatal(err)
				}
			}
			// The reader "starves": its 40 ms deadline passes before it reads.
			deadline := time.Now().Add(40 * time.Millisecond)
			if err := c.SetReadDeadline(deadline); err != nil {
				t.Fatal(err)
			}
			for time.Now().Before(deadline.Add(20 * time.Millisecond)) {
				time.Sleep(5 * time.Millisecond)
			}
			op, data, err := c.ReadMessage()
			if !tt.peerSent {
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("ReadMessage in silence = %v, want a deadline error", err)
				}
				return
			}
			if err != nil || op != OpBinary || string(data) != "state" {
				t.Fatalf("ReadMessage = %v %q %v, want the waiting frame", op, data, err)
			}
			// The connection lives on, its deadline re-armed.
			if _, err := peer.Write(AppendFrame(nil, OpBinary, []byte("next"), nil)); err != nil {
				t.Fatal(err)
			}
			if _, data, err := c.ReadMessage(); err != nil || string(data) != "next" {
				t.Fatalf("next ReadMessage = %q %v", data, err)
			}
		})
	}
}
