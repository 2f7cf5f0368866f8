package engine

import (
	"bytes"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"google.golang.org/protobuf/proto"

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
// written to the client by the entry node, as gws hands it over.
func BenchmarkRelayDownstream(b *testing.B) {
	s, u, client, _ := relayedSession(b)
	frame := bytes.Repeat([]byte{0x0a}, 60)
	b.ReportAllocs()
	for b.Loop() {
		buf := bytes.NewBuffer(make([]byte, 0, 64))
		buf.Write(frame)
		s.omu.Lock()
		s.writing = true // the writer is "running": enqueue only queues
		s.omu.Unlock()
		u.OnMessage(nil, &gws.Message{Opcode: gws.OpcodeBinary, Data: buf})
		s.flush()
	}
	if client.frames != b.N {
		b.Fatalf("wrote %d of %d", client.frames, b.N)
	}
}
