//go:build linux && (amd64 || arm64)

package engine_test

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tickwire/tickwire/engine"
	"github.com/tickwire/tickwire/internal/wsframe"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/room"
)

const readInLobby = "tickwire_connections_read_in_lobby"

// wsClient is a WebSocket client without a goroutine of its own: the test
// reads it when it expects something.
type wsClient struct{ c *wsframe.Conn }

func dialWS(t testing.TB, s *server) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := wsframe.Dial(ctx, s.url, wsframe.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.NetConn().Close() })
	return &wsClient{c}
}

func frameOf(t testing.TB, m *tickwirev1.ClientMessage) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return clientFrame(0x82, b)
}

// write sends raw frame bytes in one write.
func (w *wsClient) write(t testing.TB, b []byte) {
	t.Helper()
	if _, err := w.c.NetConn().Write(b); err != nil {
		t.Fatal(err)
	}
}

// next returns the next ServerMessage that is not a State.
func (w *wsClient) next(t testing.TB) *tickwirev1.ServerMessage {
	t.Helper()
	_ = w.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, b, err := w.c.ReadMessage()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		m := &tickwirev1.ServerMessage{}
		if err := proto.Unmarshal(b, m); err != nil {
			t.Fatal(err)
		}
		if m.GetState() == nil {
			return m
		}
	}
}

// closeCode reads until the server closes and returns its close code.
func (w *wsClient) closeCode(t testing.TB) uint16 {
	t.Helper()
	_ = w.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := w.c.ReadMessage()
		if pe, ok := err.(*wsframe.PeerCloseError); ok {
			return pe.Code
		}
		if err != nil {
			t.Fatalf("read: %v, want a close frame", err)
		}
	}
}

func helloMsg(reqID uint32) *tickwirev1.ClientMessage {
	return &tickwirev1.ClientMessage{RequestId: reqID, Kind: &tickwirev1.ClientMessage_Hello{Hello: &tickwirev1.Hello{ProtocolVersion: tickwirev1.ProtocolVersion_PROTOCOL_VERSION_1}}}
}

func pingMsg(reqID uint32) *tickwirev1.ClientMessage {
	return &tickwirev1.ClientMessage{RequestId: reqID, Kind: &tickwirev1.ClientMessage_Ping{Ping: &tickwirev1.Ping{ClientTimeMs: 1}}}
}

func joinMsg(reqID uint32) *tickwirev1.ClientMessage {
	return &tickwirev1.ClientMessage{RequestId: reqID, Kind: &tickwirev1.ClientMessage_Join{Join: &tickwirev1.Join{RoomType: "sum"}}}
}

func inputMsg(seq uint32, p string) *tickwirev1.ClientMessage {
	return &tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Input{Input: &tickwirev1.Input{Seq: seq, Payload: payload(p)}}}
}

// A connection in no room is read by the lobby reader; joining hands it to
// the room, leaving hands it back. Frames sent back to back across the
// moves (one write: the hand-overs happen with the rest in flight) are
// each handled once, in order.
func TestLobbyRoomLobbyWithFramesInFlight(t *testing.T) {
	s := start(t, engine.Config{}, room.Config{TickRate: 50, DisposeAfter: time.Minute})
	w := dialWS(t, s)
	eventually(t, "new connection read in the lobby", func() bool { return metricValue(t, s, readInLobby) == 1 })

	// A Leave is answered by the room (Left) while the connection's reader
	// goes on, so a Ping right after it may be answered first; the next
	// Join waits for the Left.
	burst := func(ms ...*tickwirev1.ClientMessage) {
		var b []byte
		for _, m := range ms {
			b = append(b, frameOf(t, m)...)
		}
		b = append(b, clientFrame(0x89, []byte("hi"))...) // a control ping among them
		w.write(t, b)
	}
	expect := func(want ...string) {
		t.Helper()
		for _, want := range want {
			m := w.next(t)
			if got := fmt.Sprintf("%d %s", m.RequestId, kindOf(m)); got != want {
				t.Fatalf("got %s (%v), want %s", got, m, want)
			}
		}
	}
	burst(helloMsg(1), pingMsg(2), joinMsg(3), inputMsg(1, "ab"), pingMsg(4), inputMsg(2, "c"),
		&tickwirev1.ClientMessage{RequestId: 5, Kind: &tickwirev1.ClientMessage_Leave{Leave: &tickwirev1.Leave{}}})
	expect("1 welcome", "2 pong", "3 joined", "4 pong", "5 left")
	burst(pingMsg(6), joinMsg(7), inputMsg(3, "defg"), pingMsg(8))
	expect("6 pong", "7 joined", "8 pong")
	const sent = 11 // binary messages so far, each handled once
	if got := metricValue(t, s, "tickwire_messages_in_total"); got != sent {
		t.Fatalf("%v messages handled, want %d", got, sent)
	}
	eventually(t, "in the room, read on the tick", func() bool {
		return metricValue(t, s, readOnTick) == 1 && metricValue(t, s, readInLobby) == 0
	})
	// Every input reached the room once (the same room: it stays open).
	w.write(t, frameOf(t, &tickwirev1.ClientMessage{RequestId: 9, Kind: &tickwirev1.ClientMessage_Leave{Leave: &tickwirev1.Leave{}}}))
	if m := w.next(t); m.GetLeft() == nil {
		t.Fatalf("want Left, got %v", m)
	}
	eventually(t, "back in the lobby", func() bool {
		return metricValue(t, s, readOnTick) == 0 && metricValue(t, s, readInLobby) == 1
	})
	rooms := s.e.Rooms()
	if len(rooms) != 1 {
		t.Fatalf("%d rooms, want 1", len(rooms))
	}
	// The lobby still answers.
	w.write(t, frameOf(t, pingMsg(10)))
	if m := w.next(t); m.RequestId != 10 || m.GetPong() == nil {
		t.Fatalf("want Pong 10, got %v", m)
	}
}

func kindOf(m *tickwirev1.ServerMessage) string {
	switch {
	case m.GetWelcome() != nil:
		return "welcome"
	case m.GetPong() != nil:
		return "pong"
	case m.GetJoined() != nil:
		return "joined"
	case m.GetLeft() != nil:
		return "left"
	case m.GetError() != nil:
		return "error " + m.GetError().Code.String()
	}
	return "other"
}

// Connections in the lobby that end, however they end, are cleaned up.
func TestLobbyConnectionsEnd(t *testing.T) {
	tests := []struct {
		name string
		end  func(t *testing.T, w *wsClient)
	}{
		{"client closes the TCP connection", func(t *testing.T, w *wsClient) { _ = w.c.NetConn().Close() }},
		{"client resets the TCP connection", func(t *testing.T, w *wsClient) {
			_ = w.c.NetConn().(*net.TCPConn).SetLinger(0)
			_ = w.c.NetConn().Close()
		}},
		{"client sends a close frame", func(t *testing.T, w *wsClient) {
			w.write(t, clientFrame(0x88, []byte{0x0f, 0xa0}))
			if got := w.closeCode(t); got != 4000 {
				t.Fatalf("close code %d, want the client's 4000 echoed", got)
			}
		}},
		{"client sends a text frame", func(t *testing.T, w *wsClient) {
			w.write(t, clientFrame(0x81, []byte("hi")))
			if got := w.closeCode(t); got != 1003 {
				t.Fatalf("close code %d, want 1003", got)
			}
		}},
		{"client sends an unmasked frame", func(t *testing.T, w *wsClient) {
			w.write(t, []byte{0x82, 0x01, 0x00})
			if got := w.closeCode(t); got != 1002 {
				t.Fatalf("close code %d, want 1002", got)
			}
		}},
		{"server closes an idle connection", func(t *testing.T, w *wsClient) {
			if got := w.closeCode(t); got != uint16(tickwirev1.CloseCode_CLOSE_CODE_IDLE_TIMEOUT) {
				t.Fatalf("close code %d, want idle timeout", got)
			}
		}},
	}
	s := start(t, engine.Config{IdleTimeout: 500 * time.Millisecond, PingInterval: time.Minute}, room.Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := dialWS(t, s)
			w.write(t, frameOf(t, helloMsg(1)))
			if m := w.next(t); m.GetWelcome() == nil {
				t.Fatalf("want Welcome, got %v", m)
			}
			eventually(t, "read in the lobby", func() bool { return metricValue(t, s, readInLobby) == 1 })
			tt.end(t, w)
			eventually(t, "connection gone", func() bool {
				return metricValue(t, s, "tickwire_connections") == 0 && metricValue(t, s, readInLobby) == 0
			})
		})
	}
}

// Idle authenticated connections in no room cost no goroutine each.
func TestIdleLobbyConnectionsCostNoGoroutine(t *testing.T) {
	const n = 1000
	s := start(t, engine.Config{}, room.Config{})
	warm := dialWS(t, s) // the lobby reader and the first connection's upkeep
	warm.write(t, frameOf(t, helloMsg(1)))
	warm.next(t)
	eventually(t, "first connection in the lobby", func() bool { return metricValue(t, s, readInLobby) == 1 })
	before := runtime.NumGoroutine()
	conns := make([]*wsClient, n)
	for i := range conns {
		conns[i] = dialWS(t, s)
		conns[i].write(t, frameOf(t, helloMsg(1)))
		if m := conns[i].next(t); m.GetWelcome() == nil {
			t.Fatalf("want Welcome, got %v", m)
		}
	}
	eventually(t, "all in the lobby", func() bool { return metricValue(t, s, readInLobby) == n+1 })
	// Writers and hand-overs end once everything is answered.
	eventually(t, "no goroutine per connection", func() bool { return runtime.NumGoroutine()-before < n/10 })
	// They are still served.
	for i := range 10 {
		conns[i*n/10].write(t, frameOf(t, pingMsg(2)))
		if m := conns[i*n/10].next(t); m.GetPong() == nil {
			t.Fatalf("want Pong, got %v", m)
		}
	}
	for _, w := range conns {
		_ = w.c.NetConn().Close()
	}
	eventually(t, "connections gone", func() bool { return metricValue(t, s, "tickwire_connections") == 1 })
}
