package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/tickwire/tickwire/client"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/proto/wire"
)

func startFloor(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := newServer()
	hs := &http.Server{Handler: s.mux()}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close(); s.close() })
	return "ws://" + ln.Addr().String() + "/ws"
}

// TestFloorServesTheLoadTestProtocol drives the floor with the Go client,
// as the load-test tool does: handshake, join-or-create into rooms of 10,
// inputs, and one State per tick carrying the last input's seq.
func TestFloorServesTheLoadTestProtocol(t *testing.T) {
	url := startFloor(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	states := make(chan *tickwirev1.State, 256)
	var clients []*client.Client
	var rooms []string
	for i := range roomSize + 1 {
		opts := client.Options{}
		if i == 0 {
			opts.OnState = func(st *tickwirev1.State) { states <- proto.Clone(st).(*tickwirev1.State) }
		}
		c, err := client.Dial(ctx, url, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		j, err := c.JoinOrCreate(ctx, "arena", client.JoinOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if j.TickRate != tickRate || j.PlayerId == 0 {
			t.Fatalf("joined %v", j)
		}
		clients = append(clients, c)
		rooms = append(rooms, j.RoomId)
	}
	for i, r := range rooms {
		want := rooms[0]
		if i == roomSize {
			if r == want {
				t.Fatalf("player %d joined a full room %s", i+1, r)
			}
			continue
		}
		if r != want {
			t.Fatalf("player %d in room %s, want %s", i+1, r, want)
		}
	}

	first := <-states
	if first.BaselineTick != 0 || len(first.Payload) != 32 {
		t.Fatalf("first state %v, want a full state of 32 bytes", first)
	}
	var seq uint32
	for range 3 {
		s, err := clients[0].SendInput([]byte{1})
		if err != nil {
			t.Fatal(err)
		}
		seq = s
	}
	prev := first.Tick
	for {
		select {
		case st := <-states:
			if st.Tick != prev+1 || st.BaselineTick != prev {
				t.Fatalf("state tick %d baseline %d after tick %d", st.Tick, st.BaselineTick, prev)
			}
			prev = st.Tick
			if st.LastInputSeq == seq {
				return
			}
		case <-ctx.Done():
			t.Fatalf("no state acknowledged input %d", seq)
		}
	}
}

func TestParse(t *testing.T) {
	hello, _ := proto.Marshal(&tickwirev1.ClientMessage{RequestId: 7, Kind: &tickwirev1.ClientMessage_Hello{Hello: &tickwirev1.Hello{Name: "x"}}})
	join, _ := proto.Marshal(&tickwirev1.ClientMessage{RequestId: 8, Kind: &tickwirev1.ClientMessage_Join{Join: &tickwirev1.Join{RoomType: "arena"}}})
	tests := []struct {
		name string
		in   []byte
		want message
		err  error
	}{
		{"hello", hello, message{requestID: 7, kind: cmHello}, nil},
		{"join", join, message{requestID: 8, kind: cmJoin}, nil},
		{"input", wire.AppendInput(nil, wire.Input{Seq: 300, AckTick: 9, Payload: []byte{1, 2}}), message{kind: cmInput}, nil},
		{"unknown field", []byte{0xa2, 0x01, 0x01, 0x00}, message{}, nil}, // field 20, bytes
		{"empty", nil, message{}, nil},
		{"truncated", hello[:len(hello)-1], message{}, errBadMessage},
		{"bad tag", []byte{0xff}, message{}, errBadMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if err == nil && got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// FuzzParse: parse never panics, and it reads a well-formed envelope's
// request id and kind as the protobuf runtime does.
func FuzzParse(f *testing.F) {
	f.Add(wire.AppendInput(nil, wire.Input{Seq: 1, Payload: []byte{1}}))
	hello, _ := proto.Marshal(&tickwirev1.ClientMessage{RequestId: 1, Kind: &tickwirev1.ClientMessage_Hello{Hello: &tickwirev1.Hello{}}})
	f.Add(hello)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parse(b)
		var cm tickwirev1.ClientMessage
		if proto.Unmarshal(b, &cm) != nil {
			return
		}
		if err != nil {
			t.Fatalf("parse refused a valid envelope: %v", err)
		}
		if m.requestID != cm.RequestId {
			t.Fatalf("request id %d, want %d", m.requestID, cm.RequestId)
		}
		var kind protowire.Number
		if cm.Kind != nil {
			kind = cm.ProtoReflect().WhichOneof(cm.ProtoReflect().Descriptor().Oneofs().ByName("kind")).Number()
		}
		if m.kind != kind {
			t.Fatalf("kind %d, want %d", m.kind, kind)
		}
	})
}

// With -phases, room k's ticker starts at phase bitReverse(k mod N)/N of
// the period, counted from the server's epoch, whenever the room opens;
// without, at once.
func TestRoomPhases(t *testing.T) {
	const period = time.Second / tickRate
	epoch := time.Unix(1000, 0)
	tests := []struct {
		phases, room int
		opened       time.Duration // after epoch
		wantPhase    time.Duration // when the ticker starts, in the period
	}{
		{phases: 64, room: 0, opened: 10 * time.Millisecond, wantPhase: 0},
		{phases: 64, room: 1, opened: 10 * time.Millisecond, wantPhase: period / 2},
		{phases: 64, room: 2, opened: 3*period + time.Millisecond, wantPhase: period / 4},
		{phases: 64, room: 3, opened: 40 * time.Millisecond, wantPhase: 3 * period / 4},
		{phases: 64, room: 65, opened: 7 * time.Millisecond, wantPhase: period / 2},
		{phases: 3, room: 2, opened: 0, wantPhase: 2 * period / 3},
	}
	for _, tc := range tests {
		s := &server{phases: tc.phases, epoch: epoch}
		wait := s.startOf(tc.room, epoch.Add(tc.opened))
		if wait < 0 || wait >= period {
			t.Errorf("%+v: waits %v, want less than a period", tc, wait)
		}
		if got := (tc.opened + wait) % period; got != tc.wantPhase {
			t.Errorf("%+v: ticker starts at %v in the period, want %v", tc, got, tc.wantPhase)
		}
	}
	if wait := (&server{}).startOf(5, epoch.Add(time.Hour)); wait != 0 {
		t.Errorf("without phases a room waits %v, want 0", wait)
	}
}
