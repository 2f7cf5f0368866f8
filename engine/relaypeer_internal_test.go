package engine

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tickwire/tickwire/internal/wsframe"
	"github.com/tickwire/tickwire/internal/wsframe/wstest"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

// hostileOwner is an owner node that answers the relay's Join with Joined,
// then writes the test's bytes and closes its side; it reports the close
// code the relay answered with (0: none).
func hostileOwner(t testing.TB, b []byte) (*wstest.Server, <-chan uint16) {
	t.Helper()
	codes := make(chan uint16, 1)
	srv, err := wstest.NewServer(func(c *wstest.ServerConn) {
		for {
			op, p, err := c.ReadFrame()
			if err != nil || op != wsframe.OpBinary {
				codes <- 0
				return
			}
			var m tickwirev1.ClientMessage
			if proto.Unmarshal(p, &m) == nil && m.GetJoin() != nil {
				j, _ := proto.Marshal(&tickwirev1.ServerMessage{RequestId: m.RequestId, Kind: &tickwirev1.ServerMessage_Joined{Joined: &tickwirev1.Joined{RoomId: "r", PlayerId: 1}}})
				_ = c.WriteMessage(wsframe.OpBinary, j)
				break
			}
		}
		_ = c.WriteRaw(b)
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

// relayPeerCase relays a session to an owner that sends b after Joined and
// returns the code the relay closed the owner connection with, the code
// the client was closed with and the relay protocol errors counted.
func relayPeerCase(t testing.TB, b []byte, detachedOK bool) (ownerCode, clientCode uint16, counted uint64) {
	t.Helper()
	srv, codes := hostileOwner(t, b)
	defer srv.Close()
	e := testEngine(t)
	s, client := testSession(e)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Joined comes first, but garbage right behind it may end the
	// upstream before relay returns (then it closes the client itself).
	if got := s.relay(ctx, 1, srv.Addr(), &tickwirev1.Join{RoomId: "r"}, false); got == relayNotFound {
		t.Fatalf("relay outcome %v", got)
	}
	ownerCode = <-codes
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		client.mu.Lock()
		clientCode = client.closed
		client.mu.Unlock()
		if clientCode != 0 {
			break
		}
		if s.up.Load() == nil && e.metrics.relays.Load() == 0 && detachedOK {
			break // the owner sent Left: the session is local again
		}
		if time.Now().After(deadline) {
			t.Fatal("the client was not closed after the owner's stream ended")
		}
	}
	return ownerCode, clientCode, e.metrics.relayProtocolErrors.Load()
}

// TestRelayPeerBytesCrash: the unmasked frame that crashes gws v1.8.9's
// reader, sent by an owner node to a relaying entry node, closes the
// upstream with 1002, is counted, and closes the client with 4014.
func TestRelayPeerBytesCrash(t *testing.T) {
	owner, cl, n := relayPeerCase(t, []byte{0x81, 0x7f, 0xff, 0, 0, 0, 0, 0, 0, 0}, false)
	if owner != wsframe.CloseProtocol || cl != uint16(tickwirev1.CloseCode_CLOSE_CODE_UPSTREAM_UNAVAILABLE) || n != 1 {
		t.Fatalf("owner closed with %d, client with %d, %d counted; want 1002, 4014, 1", owner, cl, n)
	}
}

// FuzzRelayPeerBytes feeds arbitrary owner bytes to a relay after a real
// handshake and join: the node never panics, the client is always closed
// or local again once the owner's stream ends, and a protocol error is answered with its
// code and counted.
func FuzzRelayPeerBytes(f *testing.F) {
	f.Add([]byte{0x81, 0x7f, 0xff, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x82, 0x02, 0x42, 0x00}) // Left
	f.Add([]byte{0x82, 0x02, 0x0a, 0x00})
	f.Add([]byte{0x89, 0x00, 0x88, 0x02, 0x0f, 0xa5})
	f.Add([]byte{0x02, 0x01, 0x0a, 0x80, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		owner, _, n := relayPeerCase(t, b, true)
		if n > 0 && owner != wsframe.CloseProtocol && owner != wsframe.CloseInvalidData && owner != wsframe.CloseTooLarge && owner != 0 {
			t.Fatalf("protocol error counted but the owner got close %d", owner)
		}
	})
}
