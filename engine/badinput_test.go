package engine_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"google.golang.org/protobuf/proto"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/engine"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/room"
)

// raw is a bare WebSocket client for protocol abuse tests.
type raw struct {
	ws     *gws.Conn
	msgs   chan *tickwirev1.ServerMessage
	closed chan *gws.CloseError
}

func (r *raw) OnOpen(*gws.Conn)             {}
func (r *raw) OnPing(c *gws.Conn, p []byte) { _ = c.WritePong(p) }
func (r *raw) OnPong(*gws.Conn, []byte)     {}
func (r *raw) OnClose(_ *gws.Conn, err error) {
	var ce *gws.CloseError
	errors.As(err, &ce)
	r.closed <- ce
}
func (r *raw) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	sm := &tickwirev1.ServerMessage{}
	if err := proto.Unmarshal(m.Bytes(), sm); err == nil {
		r.msgs <- sm
	}
}

func dialRaw(t *testing.T, s *server) *raw {
	t.Helper()
	r := &raw{msgs: make(chan *tickwirev1.ServerMessage, 256), closed: make(chan *gws.CloseError, 1)}
	ws, _, err := gws.NewClient(r, &gws.ClientOption{Addr: s.url})
	if err != nil {
		t.Fatal(err)
	}
	r.ws = ws
	go ws.ReadLoop()
	t.Cleanup(func() { _ = ws.NetConn().Close() })
	return r
}

func (r *raw) send(t *testing.T, m *tickwirev1.ClientMessage) {
	t.Helper()
	b, _ := proto.Marshal(m)
	if err := r.ws.WriteMessage(gws.OpcodeBinary, b); err != nil {
		t.Fatal(err)
	}
}

func (r *raw) hello(t *testing.T) {
	t.Helper()
	r.send(t, &tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Hello{Hello: &tickwirev1.Hello{ProtocolVersion: tickwirev1.ProtocolVersion_PROTOCOL_VERSION_1}}})
	if m := r.next(t); m.GetWelcome() == nil {
		t.Fatalf("want Welcome, got %v", m)
	}
}

func (r *raw) next(t *testing.T) *tickwirev1.ServerMessage {
	t.Helper()
	select {
	case m := <-r.msgs:
		return m
	case ce := <-r.closed:
		t.Fatalf("closed (%v) while waiting for a message", ce)
	case <-time.After(5 * time.Second):
		t.Fatal("no message")
	}
	return nil
}

func (r *raw) wantError(t *testing.T, code tickwirev1.ErrorCode) {
	t.Helper()
	for {
		m := r.next(t)
		if e := m.GetError(); e != nil {
			if e.Code != code {
				t.Fatalf("error %s, want %s", e.Code, code)
			}
			return
		}
	}
}

func (r *raw) wantClose(t *testing.T, code uint16) {
	t.Helper()
	select {
	case ce := <-r.closed:
		if ce == nil || ce.Code != code {
			t.Fatalf("close %v, want %d", ce, code)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("not closed, want %d", code)
	}
}

func input(roomID string) *tickwirev1.ClientMessage {
	return &tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Input{Input: &tickwirev1.Input{Seq: 1, RoomId: roomID}}}
}

func TestBadInputGetsErrorFrames(t *testing.T) {
	tests := []struct {
		name  string
		hello bool
		join  bool
		send  func(t *testing.T, r *raw)
		code  tickwirev1.ErrorCode
	}{
		{"undecodable envelope", true, false, func(t *testing.T, r *raw) { _ = r.ws.WriteMessage(gws.OpcodeBinary, []byte{0xff, 0xff, 0xff}) }, tickwirev1.ErrorCode_ERROR_CODE_BAD_MESSAGE},
		{"empty envelope", true, false, func(t *testing.T, r *raw) { r.send(t, &tickwirev1.ClientMessage{}) }, tickwirev1.ErrorCode_ERROR_CODE_BAD_MESSAGE},
		{"message before hello", false, false, func(t *testing.T, r *raw) { r.send(t, input("")) }, tickwirev1.ErrorCode_ERROR_CODE_HANDSHAKE_REQUIRED},
		{"input before join", true, false, func(t *testing.T, r *raw) { r.send(t, input("")) }, tickwirev1.ErrorCode_ERROR_CODE_NOT_IN_ROOM},
		{"input for another room", true, true, func(t *testing.T, r *raw) { r.send(t, input("someone-elses")) }, tickwirev1.ErrorCode_ERROR_CODE_WRONG_ROOM},
		{"unknown room type", true, false, func(t *testing.T, r *raw) {
			r.send(t, &tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Join{Join: &tickwirev1.Join{RoomType: "nope"}}})
		}, tickwirev1.ErrorCode_ERROR_CODE_UNKNOWN_ROOM_TYPE},
		{"unknown room id", true, false, func(t *testing.T, r *raw) {
			r.send(t, &tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Join{Join: &tickwirev1.Join{RoomId: "nope"}}})
		}, tickwirev1.ErrorCode_ERROR_CODE_ROOM_NOT_FOUND},
		{"join with id and type", true, false, func(t *testing.T, r *raw) {
			r.send(t, &tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Join{Join: &tickwirev1.Join{RoomId: "x", RoomType: "sum"}}})
		}, tickwirev1.ErrorCode_ERROR_CODE_BAD_REQUEST},
		{"join twice", true, true, func(t *testing.T, r *raw) {
			r.send(t, &tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Join{Join: &tickwirev1.Join{RoomType: "sum"}}})
		}, tickwirev1.ErrorCode_ERROR_CODE_ALREADY_IN_ROOM},
		{"input sequence far ahead", true, true, func(t *testing.T, r *raw) {
			r.send(t, &tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Input{Input: &tickwirev1.Input{Seq: 1 << 30}}})
		}, tickwirev1.ErrorCode_ERROR_CODE_INVALID_INPUT},
		{"ack of a tick never sent", true, true, func(t *testing.T, r *raw) {
			r.send(t, &tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Input{Input: &tickwirev1.Input{Seq: 1, AckTick: 1 << 30}}})
		}, tickwirev1.ErrorCode_ERROR_CODE_INVALID_INPUT},
		{"leave while not in a room", true, false, func(t *testing.T, r *raw) {
			r.send(t, &tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Leave{Leave: &tickwirev1.Leave{}}})
		}, tickwirev1.ErrorCode_ERROR_CODE_NOT_IN_ROOM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, engine.Config{}, room.Config{})
			r := dialRaw(t, s)
			if tt.hello {
				r.hello(t)
			}
			if tt.join {
				r.send(t, &tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Join{Join: &tickwirev1.Join{RoomType: "sum"}}})
				if m := r.next(t); m.GetJoined() == nil {
					t.Fatalf("want Joined, got %v", m)
				}
			}
			before := s.e.Metrics().ErrorCount(tt.code)
			tt.send(t, r)
			r.wantError(t, tt.code)
			if got := s.e.Metrics().ErrorCount(tt.code); got != before+1 {
				t.Fatalf("metric for %s = %d, want %d", tt.code, got, before+1)
			}
			if !tt.hello {
				return
			}
			// The connection still works afterwards.
			r.send(t, &tickwirev1.ClientMessage{RequestId: 99, Kind: &tickwirev1.ClientMessage_Ping{Ping: &tickwirev1.Ping{ClientTimeMs: 1}}})
			for {
				if m := r.next(t); m.GetPong() != nil {
					break
				}
			}
		})
	}
}

func TestBadInputGetsClosed(t *testing.T) {
	tests := []struct {
		name string
		cfg  engine.Config
		run  func(t *testing.T, r *raw)
		code uint16
	}{
		{"text frame", engine.Config{}, func(t *testing.T, r *raw) { _ = r.ws.WriteString("hello") }, 1003},
		{"oversize frame", engine.Config{MaxMessageSize: 1024}, func(t *testing.T, r *raw) {
			_ = r.ws.WriteMessage(gws.OpcodeBinary, make([]byte, 4096))
		}, 1009},
		{"unsupported protocol version", engine.Config{}, func(t *testing.T, r *raw) {
			r.send(t, &tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Hello{Hello: &tickwirev1.Hello{ProtocolVersion: 99}}})
		}, uint16(tickwirev1.CloseCode_CLOSE_CODE_UNSUPPORTED_VERSION)},
		{"repeat offender", engine.Config{MaxOffenses: 3}, func(t *testing.T, r *raw) {
			r.hello(t)
			for range 4 {
				_ = r.ws.WriteMessage(gws.OpcodeBinary, []byte{0xff})
			}
		}, uint16(tickwirev1.CloseCode_CLOSE_CODE_TOO_MANY_ERRORS)},
		{"flood", engine.Config{RateLimit: 5, RateBurst: 5, Limits: engine.Limits{FloodTimeout: 500 * time.Millisecond}}, func(t *testing.T, r *raw) {
			r.hello(t)
			ping, _ := proto.Marshal(&tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Ping{Ping: &tickwirev1.Ping{}}})
			// 40 times the rate until closed (at most 1,000 frames, 5 s):
			// the burst passes, then the flood is refused for FloodTimeout.
			// Stop writing at the close frame, so that it is read before any
			// reset caused by writes to a closed socket.
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for range 1000 {
				select {
				case ce := <-r.closed:
					r.closed <- ce
					return
				case <-tick.C:
					_ = r.ws.WriteMessage(gws.OpcodeBinary, ping)
				}
			}
		}, uint16(tickwirev1.CloseCode_CLOSE_CODE_RATE_LIMITED)},
		{"no hello", engine.Config{HandshakeTimeout: 100 * time.Millisecond, PingInterval: 50 * time.Millisecond}, func(t *testing.T, r *raw) {}, uint16(tickwirev1.CloseCode_CLOSE_CODE_HANDSHAKE_TIMEOUT)},
		{"unauthorized", engine.Config{Authenticate: func(context.Context, *http.Request, *tickwirev1.Hello) (engine.Identity, error) {
			return engine.Identity{}, errors.New("bad token")
		}}, func(t *testing.T, r *raw) {
			r.send(t, &tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Hello{Hello: &tickwirev1.Hello{ProtocolVersion: 1, Token: "x"}}})
		}, uint16(tickwirev1.CloseCode_CLOSE_CODE_UNAUTHORIZED)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, tt.cfg, room.Config{})
			r := dialRaw(t, s)
			tt.run(t, r)
			r.wantClose(t, tt.code)
			if tt.code != 1009 { // 1009 is sent by gws itself while reading
				eventually(t, "close counted", func() bool { return s.e.Metrics().CloseCount(tt.code) == 1 })
			}
		})
	}
}

func TestIdleTimeout(t *testing.T) {
	s := start(t, engine.Config{IdleTimeout: 150 * time.Millisecond, PingInterval: 50 * time.Millisecond, HandshakeTimeout: time.Second}, room.Config{})
	// A client that answers pings stays; a silent raw socket that ignores
	// pings is closed. gws answers pings automatically in raw.OnPing, so
	// use a client that stops reading instead: close our read side.
	c := dial(t, s, nil)
	time.Sleep(400 * time.Millisecond)
	select {
	case <-c.Done():
		t.Fatalf("a client that answers pings was closed: %v", c.Err())
	default:
	}
	r := &raw{msgs: make(chan *tickwirev1.ServerMessage, 256), closed: make(chan *gws.CloseError, 1)}
	silent := &silentPings{raw: r}
	ws, _, err := gws.NewClient(silent, &gws.ClientOption{Addr: s.url})
	if err != nil {
		t.Fatal(err)
	}
	r.ws = ws
	go ws.ReadLoop()
	r.hello(t)
	r.wantClose(t, uint16(tickwirev1.CloseCode_CLOSE_CODE_IDLE_TIMEOUT))
}

// silentPings never answers pings.
type silentPings struct{ *raw }

func (silentPings) OnPing(*gws.Conn, []byte) {}

func TestOtherPlayersUnaffectedByAbuser(t *testing.T) {
	s := start(t, engine.Config{MaxOffenses: 2}, room.Config{TickRate: 50})
	rec := &recorder{}
	good := dial(t, s, rec)
	j, err := good.JoinOrCreate(ctx5(t), "sum", client.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bad := dialRaw(t, s)
	bad.hello(t)
	bad.send(t, &tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Join{Join: &tickwirev1.Join{RoomId: j.RoomId}}})
	for range 5 {
		_ = bad.ws.WriteMessage(gws.OpcodeBinary, []byte(strings.Repeat("\xff", 10)))
	}
	bad.wantClose(t, uint16(tickwirev1.CloseCode_CLOSE_CODE_TOO_MANY_ERRORS))
	if _, err := good.SendInput(payload("ok")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "good player's input applied", func() bool {
		st, _, _, ok := rec.states.Latest()
		return ok && st.Fields["last"].GetStringValue() == "ok"
	})
}
