package client

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tickwire/tickwire/internal/wsframe"
	"github.com/tickwire/tickwire/internal/wsframe/wstest"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

// hostileServer answers the client's Hello with a Welcome, then writes the
// bytes of the test and closes its side; it reports the close code the
// client answered with (0: none).
func hostileServer(t testing.TB, payload func() []byte) (*wstest.Server, <-chan uint16) {
	t.Helper()
	codes := make(chan uint16, 1)
	srv, err := wstest.NewServer(func(c *wstest.ServerConn) {
		op, hello, err := c.ReadFrame()
		if err != nil || op != wsframe.OpBinary {
			codes <- 0
			return
		}
		var m tickwirev1.ClientMessage
		_ = proto.Unmarshal(hello, &m)
		w, _ := proto.Marshal(&tickwirev1.ServerMessage{RequestId: m.RequestId, Kind: &tickwirev1.ServerMessage_Welcome{Welcome: &tickwirev1.Welcome{SessionId: "s"}}})
		_ = c.WriteMessage(wsframe.OpBinary, w)
		_ = c.WriteRaw(payload())
		if tc, ok := c.Conn.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		codes <- c.CloseCode()
	})
	if err != nil {
		t.Fatal(err)
	}
	return srv, codes
}

// peerBytesCase runs the client against a server that sends b after the
// handshake and returns how the connection ended.
func peerBytesCase(t testing.TB, b []byte) (uint16, error) {
	t.Helper()
	srv, codes := hostileServer(t, func() []byte { return b })
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, srv.URL(), Options{MaxMessageSize: 1 << 16})
	if err != nil {
		// The bytes may break the connection before Welcome is read: they
		// follow it on the wire, but Dial may still be waiting.
		return <-codes, err
	}
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("the client did not see the end of the stream")
	}
	return <-codes, c.Err()
}

// TestPeerBytesCrash: the frames that crash gws v1.8.9's reader (a 64-bit
// length with its top bit set: reader.go:104 allocates a negative size) or
// break the protocol close the connection with the right code instead.
func TestPeerBytesCrash(t *testing.T) {
	cases := []struct {
		name  string
		bytes []byte
		code  uint16
	}{
		{"length top bit (gws panic)", []byte{0x81, 0x7f, 0xff, 0, 0, 0, 0, 0, 0, 0}, wsframe.CloseProtocol},
		{"length 2^63-1", []byte{0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, wsframe.CloseTooLarge},
		{"masked server frame", []byte{0x82, 0x81, 1, 2, 3, 4, 5}, wsframe.CloseProtocol},
		{"reserved bits", []byte{0xc2, 0x00}, wsframe.CloseProtocol},
		{"reserved opcode", []byte{0x83, 0x00}, wsframe.CloseProtocol},
		{"reserved control opcode", []byte{0x8b, 0x00}, wsframe.CloseProtocol},
		{"fragmented ping", []byte{0x09, 0x00}, wsframe.CloseProtocol},
		{"long ping", append([]byte{0x89, 0x7e, 0, 126}, make([]byte, 126)...), wsframe.CloseProtocol},
		{"lone continuation", []byte{0x80, 0x00}, wsframe.CloseProtocol},
		{"one-byte close", []byte{0x88, 0x01, 0x03}, wsframe.CloseProtocol},
		{"close code 1005", []byte{0x88, 0x02, 0x03, 0xed}, wsframe.CloseProtocol},
		{"close reason not UTF-8", []byte{0x88, 0x04, 0x03, 0xe8, 0xff, 0xfe}, wsframe.CloseInvalidData},
		{"text not UTF-8", []byte{0x81, 0x02, 0xc3, 0x28}, wsframe.CloseInvalidData},
		{"message over the limit", []byte{0x82, 0x7f, 0, 0, 0, 0, 0, 2, 0, 0}, wsframe.CloseTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := peerBytesCase(t, tc.bytes)
			var pe *ProtocolError
			if !errors.As(err, &pe) || pe.Code != tc.code {
				t.Fatalf("client error %v, want a ProtocolError %d", err, tc.code)
			}
			if got != tc.code {
				t.Fatalf("client closed with %d, want %d", got, tc.code)
			}
		})
	}
}

// TestPeerBytesEcho: a server's close frame with a valid code is echoed.
func TestPeerBytesEcho(t *testing.T) {
	got, err := peerBytesCase(t, []byte{0x88, 0x04, 0x0f, 0xa5, 'o', 'k'}) // 4005 "ok"
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != 4005 || ce.Reason != "ok" {
		t.Fatalf("client error %v, want CloseError 4005 ok", err)
	}
	if got != 4005 {
		t.Fatalf("client answered %d, want the code echoed", got)
	}
}

// FuzzPeerBytes feeds arbitrary server bytes to a client after a real
// handshake: the client never panics, always sees the end of the stream,
// and when it reports a protocol error it closed the connection with that
// code.
func FuzzPeerBytes(f *testing.F) {
	f.Add([]byte{0x81, 0x7f, 0xff, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x82, 0x03, 0x0a, 0x01, 0x00})
	f.Add([]byte{0x02, 0x01, 0x0a, 0x89, 0x00, 0x80, 0x01, 0x00})
	f.Add([]byte{0x88, 0x02, 0x03, 0xe8})
	f.Add([]byte{0x82, 0x7e, 0x00, 0x7e})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := peerBytesCase(t, b)
		var pe *ProtocolError
		if errors.As(err, &pe) && got != pe.Code && got != 0 {
			t.Fatalf("client reported %v but closed with %d", pe, got)
		}
	})
}
