package engine_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tickwire/tickwire/engine"
	"github.com/tickwire/tickwire/internal/wsframe"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/room"
)

// TestClosingHandshake: the node's close frame is followed by the end of
// its stream (a FIN, not a reset), and the node keeps the socket open,
// dropping what the client still sends, until the client answers with its
// close frame or Config.CloseTimeout passes. A client whose input was
// still in flight when the node closed so always reads the close code
// (closing the socket at once answered that input with a reset, which can
// discard the close frame: the browser then reported 1006). Over TLS the
// end of the stream is the node's close_notify. What the client sends
// meanwhile is bounded by count as well as by time: past 64 KiB the node
// cuts the handshake, long before CloseTimeout.
func TestClosingHandshake(t *testing.T) {
	tests := []struct {
		name    string
		sendOn  int           // bytes of messages the client sends after reading the close frame
		answer  bool          // the client answers with its close frame
		timeout time.Duration // Config.CloseTimeout
		tls     bool          // wss:// (the end of the stream is TLS's close_notify)
		flood   bool          // sendOn is past the bound: the node cuts the handshake
	}{
		{name: "client answers", answer: true, timeout: time.Minute},
		{name: "client sends on, then answers", sendOn: 48 << 10, answer: true, timeout: time.Minute},
		{name: "client never answers", sendOn: 4 << 10, timeout: 200 * time.Millisecond},
		{name: "client floods on", sendOn: 1 << 20, timeout: time.Minute, flood: true},
		{name: "TLS, client sends on, then answers", sendOn: 48 << 10, answer: true, timeout: time.Minute, tls: true},
		{name: "TLS, client never answers", timeout: 200 * time.Millisecond, tls: true},
		{name: "TLS, client floods on", sendOn: 1 << 20, timeout: time.Minute, tls: true, flood: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// No Hello: the node closes the client with
			// CLOSE_CODE_HANDSHAKE_TIMEOUT.
			cfg := engine.Config{HandshakeTimeout: 100 * time.Millisecond, CloseTimeout: tc.timeout}
			var opts wsframe.DialOptions
			if tc.tls {
				var pool *x509.CertPool
				cfg.TLSCertFile, cfg.TLSKeyFile, pool = selfSigned(t, t.TempDir())
				opts.TLSConfig = &tls.Config{RootCAs: pool}
			}
			s := start(t, cfg, room.Config{})
			if tc.tls {
				s.url = "wss" + strings.TrimPrefix(s.url, "ws")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			ws, err := wsframe.Dial(ctx, s.url, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			nc := ws.NetConn()
			_ = nc.SetDeadline(time.Now().Add(10 * time.Second))

			var head [2]byte
			if _, err := io.ReadFull(nc, head[:]); err != nil {
				t.Fatalf("reading the close frame: %v", err)
			}
			payload := make([]byte, head[1]&0x7f)
			if _, err := io.ReadFull(nc, payload); err != nil || head[0] != 0x88 || len(payload) < 2 {
				t.Fatalf("frame %#x %q, %v; want a close frame", head[0], payload, err)
			}
			if code := binary.BigEndian.Uint16(payload); code != uint16(tickwirev1.CloseCode_CLOSE_CODE_HANDSHAKE_TIMEOUT) {
				t.Fatalf("close code %d, want %d", code, tickwirev1.CloseCode_CLOSE_CODE_HANDSHAKE_TIMEOUT)
			}

			// What the client sent before it read the close frame: the
			// node drops it, answers nothing and resets nothing.
			msg := make([]byte, 1000)
			for sent := 0; sent < tc.sendOn; sent += len(msg) {
				if err := ws.WriteMessage(wsframe.OpBinary, msg); err != nil {
					if tc.flood && sent > 64<<10 {
						break // the node cut the handshake: a reset
					}
					t.Fatalf("after %d bytes: %v (the node reset the connection)", sent, err)
				}
			}
			if tc.flood {
				// Cut at the bound, not at CloseTimeout (a minute), and
				// counted.
				eventually(t, "the node to cut the handshake", func() bool { return engine.Sessions(s.e) == 0 })
				if got := s.e.Metrics().ClosesCut(); got != 1 {
					t.Errorf("closing handshakes cut: %d, want 1", got)
				}
				return
			}
			if n, err := nc.Read(make([]byte, 64)); n != 0 || !errors.Is(err, io.EOF) {
				t.Fatalf("after the close frame: %d bytes, %v; want the end of the stream", n, err)
			}
			if got := engine.Sessions(s.e); got != 1 && tc.timeout == time.Minute {
				t.Fatalf("%d sessions before the client answered, want 1 (the node waits)", got)
			}
			if tc.answer {
				if err := ws.WriteClose(uint16(tickwirev1.CloseCode_CLOSE_CODE_HANDSHAKE_TIMEOUT), ""); err != nil {
					t.Fatal(err)
				}
			}
			eventually(t, "the node to end the session", func() bool { return engine.Sessions(s.e) == 0 })
			// A handshake the node had to cut short is counted, once.
			want := uint64(0)
			if !tc.answer {
				want = 1
			}
			if got := s.e.Metrics().ClosesCut(); got != want {
				t.Errorf("closing handshakes cut: %d, want %d", got, want)
			}
			for code := range tickwirev1.ErrorCode_name {
				if n := s.e.Metrics().ErrorCount(tickwirev1.ErrorCode(code)); n != 0 {
					t.Errorf("%d error frames %v for messages after the close frame, want none", n, tickwirev1.ErrorCode(code))
				}
			}
			// The node closed its socket: the client's next write is
			// refused by the kernel (a reset), not read.
			eventually(t, "the node's socket to close", func() bool {
				_, err := nc.Write([]byte{0x82, 0x80, 0, 0, 0, 0})
				return err != nil
			})
		})
	}
}
