package engine

import (
	"io"
	"net"
	"testing"
	"time"
)

// lingerClose reports a handshake it cut short: a client that neither
// ends its stream within the timeout nor stays within closeDrainMax.
func TestLingerCloseReportsCut(t *testing.T) {
	tests := []struct {
		name    string
		client  func(c net.Conn) // runs after the client read the close frame and the FIN
		timeout time.Duration
		wantCut bool
	}{
		{"client ends its stream", func(c net.Conn) { _ = c.(*net.TCPConn).CloseWrite() }, time.Minute, false},
		{"client sends a little, then ends", func(c net.Conn) {
			_, _ = c.Write(make([]byte, 4<<10))
			_ = c.(*net.TCPConn).CloseWrite()
		}, time.Minute, false},
		{"client stays silent", func(net.Conn) {}, 100 * time.Millisecond, true},
		{"client floods past the bound", func(c net.Conn) { _, _ = c.Write(make([]byte, closeDrainMax+1)) }, time.Minute, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			client, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			server, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			cut := make(chan bool, 1)
			go func() { cut <- lingerClose(server, 4014, "owner node unreachable", tc.timeout) }()
			_ = client.SetDeadline(time.Now().Add(10 * time.Second))
			if b, err := io.ReadAll(client); err != nil || len(b) < 4 || b[0] != 0x88 {
				t.Fatalf("client read %x, %v; want a close frame, then the end of the stream", b, err)
			}
			tc.client(client)
			select {
			case got := <-cut:
				if got != tc.wantCut {
					t.Fatalf("lingerClose reported cut %v, want %v", got, tc.wantCut)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("lingerClose did not return")
			}
		})
	}
}
