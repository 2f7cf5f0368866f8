package engine

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"google.golang.org/protobuf/proto"

	"github.com/tickwire/tickwire/internal/wsframe"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

func TestRelayHeader(t *testing.T) {
	secret := []byte("k")
	now := time.Now()
	id := Identity{UserID: "u1", Name: "Ann"}
	v := signRelay(secret, now, "s@n1", id)
	for _, tt := range []struct {
		name   string
		secret []byte
		at     time.Time
		value  string
		ok     bool
	}{
		{"good", secret, now, v, true},
		{"wrong secret", []byte("x"), now, v, false},
		{"too old", secret, now.Add(2 * relaySkew), v, false},
		{"tampered", secret, now, "A" + v, false},
		{"garbage", secret, now, "a.b.c", false},
		{"empty", secret, now, "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sid, got, err := verifyRelay(tt.secret, tt.at, tt.value)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && (sid != "s@n1" || got != id) {
				t.Fatalf("got %q %+v", sid, got)
			}
		})
	}
}

// FuzzRelayHeader: a relay header from the network never panics and never
// verifies without the secret.
func FuzzRelayHeader(f *testing.F) {
	f.Add(signRelay([]byte("k"), time.Now(), "s", Identity{UserID: "u"}))
	f.Add("....")
	f.Fuzz(func(t *testing.T, v string) {
		if _, _, err := verifyRelay([]byte("other"), time.Now(), v); err == nil && v != "" {
			t.Fatalf("%q verified with the wrong secret", v)
		}
	})
}

func TestLeftTag(t *testing.T) {
	for _, id := range []uint32{0, 9, 1 << 31} {
		b, _ := proto.Marshal(&tickwirev1.ServerMessage{RequestId: id, Kind: &tickwirev1.ServerMessage_Left{Left: &tickwirev1.Left{RoomId: "r"}}})
		if !isLeft(b) {
			t.Fatalf("Left frame %x not recognised", b)
		}
	}
	for _, m := range []*tickwirev1.ServerMessage{
		{Kind: &tickwirev1.ServerMessage_Joined{Joined: &tickwirev1.Joined{RoomId: "r"}}},
		{Kind: &tickwirev1.ServerMessage_State{State: &tickwirev1.State{Tick: 1}}},
		{Kind: &tickwirev1.ServerMessage_PlayerLeft{PlayerLeft: &tickwirev1.PlayerLeft{PlayerId: 1}}},
	} {
		m.RequestId = 3
		b, _ := proto.Marshal(m)
		if isLeft(b) {
			t.Fatalf("%v mistaken for Left", m)
		}
	}
}

// relayedSession returns a session relaying to a fake owner connection.
func relayedSession(tb testing.TB) (*session, *upstream, *fakeWS, *fakeWS) {
	e := testEngine(tb)
	s, client := testSession(e)
	owner := &fakeWS{}
	u := &upstream{s: s, ws: owner, done: make(chan struct{})}
	u.phase.Store(phaseRelay)
	s.up.Store(u)
	return s, u, client, owner
}

// BenchmarkRelayUpstream: one client frame forwarded to the owner by the
// entry node (rate limit, relay check, write; no decode).
func BenchmarkRelayUpstream(b *testing.B) {
	s, _, _, owner := relayedSession(b)
	frame, _ := proto.Marshal(&tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Input{Input: &tickwirev1.Input{Seq: 1, AckTick: 100, Payload: []byte{8, 1, 16, 2}}}})
	b.ReportAllocs()
	for b.Loop() {
		s.handle(gws.OpcodeBinary, frame)
	}
	if owner.frames != b.N {
		b.Fatalf("forwarded %d of %d", owner.frames, b.N)
	}
}

// BenchmarkRelayDownstream: one owner frame (a 60-byte state) queued and
// written to the client by the entry node, as the owner connection reads it.
func BenchmarkRelayDownstream(b *testing.B) {
	s, u, client, _ := relayedSession(b)
	frame := bytes.Repeat([]byte{0x0a}, 60)
	b.ReportAllocs()
	for b.Loop() {
		s.omu.Lock()
		s.writing = true // the writer is "running": enqueue only queues
		s.omu.Unlock()
		u.onMessage(frame)
		s.flush()
	}
	if client.frames != b.N {
		b.Fatalf("wrote %d of %d", client.frames, b.N)
	}
}

// silentOwner answers Join with Joined and then says nothing, not even
// pongs: a hung owner node.
type silentOwner struct{}

func (silentOwner) OnOpen(*gws.Conn)         {}
func (silentOwner) OnClose(*gws.Conn, error) {}
func (silentOwner) OnPing(*gws.Conn, []byte) {}
func (silentOwner) OnPong(*gws.Conn, []byte) {}
func (silentOwner) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	var in tickwirev1.ClientMessage
	if proto.Unmarshal(m.Bytes(), &in) == nil && in.GetJoin() != nil {
		b, _ := proto.Marshal(&tickwirev1.ServerMessage{RequestId: in.RequestId, Kind: &tickwirev1.ServerMessage_Joined{Joined: &tickwirev1.Joined{RoomId: "r", PlayerId: 1}}})
		_ = c.WriteMessage(gws.OpcodeBinary, b)
	}
}

// An owner that goes silent while still accepting connections may be
// paused or cut off from this node only: the client is sent to reconnect and
// resume (4016). If the owner stays broken, the resume fails and the client
// joins afresh.
func TestRelayToSilentOwnerSendsClientToReconnect(t *testing.T) {
	up := gws.NewUpgrader(silentOwner{}, &gws.ServerOption{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r)
		if err == nil {
			go c.ReadLoop()
		}
	}))
	defer srv.Close()
	e := testEngine(t)
	e.cfg.IdleTimeout = 300 * time.Millisecond
	s, client := testSession(e)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if got := s.relay(ctx, 1, strings.TrimPrefix(srv.URL, "http://"), &tickwirev1.Join{RoomId: "r"}, false); got != relayJoined {
		t.Fatalf("relay outcome %v, want joined", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		client.mu.Lock()
		code := client.closed
		client.mu.Unlock()
		if code == uint16(tickwirev1.CloseCode_CLOSE_CODE_RECONNECT) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("client close code %d, want 4016 after the owner went silent", code)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type closeRecorder struct{ code chan uint16 }

func (closeRecorder) OnOpen(*gws.Conn)                      {}
func (closeRecorder) OnPing(*gws.Conn, []byte)              {}
func (closeRecorder) OnPong(*gws.Conn, []byte)              {}
func (closeRecorder) OnMessage(_ *gws.Conn, m *gws.Message) { m.Close() }
func (r closeRecorder) OnClose(_ *gws.Conn, err error) {
	var ce *gws.CloseError
	if errors.As(err, &ce) {
		r.code <- ce.Code
		return
	}
	r.code <- 0
}

// TestProxyFailureRunsTheClosingHandshake: the entry node's answer to an
// upgrade it could not proxy runs the closing handshake too. A client that
// sends at once after the upgrade (48 KiB, within what the node drops
// before it gives up: closeDrainMax) still reads 4014 (closing at once
// turned its messages into a reset), and the handler returns as soon as
// the client has answered, long before CloseTimeout, with the handshake
// not counted as cut.
func TestProxyFailureRunsTheClosingHandshake(t *testing.T) {
	e := testEngine(t)
	e.cfg.CloseTimeout = time.Minute
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	handled := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(handled)
		e.proxyUpgrade(w, r, dead)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, err := wsframe.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", wsframe.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.NetConn().SetDeadline(time.Now().Add(10 * time.Second))
	msg := make([]byte, 1000)
	for sent := 0; sent < 48<<10; sent += len(msg) {
		if err := ws.WriteMessage(wsframe.OpBinary, msg); err != nil {
			t.Fatalf("after %d bytes: %v (the entry node reset the connection)", sent, err)
		}
	}
	_, _, err = ws.ReadMessage() // answers the close frame
	var pc *wsframe.PeerCloseError
	if !errors.As(err, &pc) || pc.Code != uint16(tickwirev1.CloseCode_CLOSE_CODE_UPSTREAM_UNAVAILABLE) {
		t.Fatalf("read %v, want the close frame 4014", err)
	}
	select {
	case <-handled:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler still waits after the client answered")
	}
	if n := e.metrics.ClosesCut(); n != 0 {
		t.Fatalf("%d closing handshakes counted as cut for a client that answered", n)
	}
}

func TestProxyToUnreachableOwnerCloses4014(t *testing.T) {
	e := testEngine(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens there any more
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { e.proxyUpgrade(w, r, dead) }))
	defer srv.Close()
	rec := closeRecorder{code: make(chan uint16, 1)}
	ws, _, err := gws.NewClient(rec, &gws.ClientOption{Addr: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"})
	if err != nil {
		t.Fatalf("the entry node should accept the upgrade and then close: %v", err)
	}
	go ws.ReadLoop()
	select {
	case code := <-rec.code:
		if code != uint16(tickwirev1.CloseCode_CLOSE_CODE_UPSTREAM_UNAVAILABLE) {
			t.Fatalf("close code %d, want 4014", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no close")
	}
}
