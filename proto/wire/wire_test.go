package wire_test

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/proto/wire"
)

func marshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func stateMsg(s wire.State) *tickwirev1.ServerMessage {
	return &tickwirev1.ServerMessage{Kind: &tickwirev1.ServerMessage_State{State: &tickwirev1.State{
		Tick: s.Tick, BaselineTick: s.Baseline, LastInputSeq: s.LastInputSeq, Payload: s.Payload,
	}}}
}

func inputMsg(in wire.Input) *tickwirev1.ClientMessage {
	return &tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Input{Input: &tickwirev1.Input{
		Seq: in.Seq, AckTick: in.AckTick, Payload: in.Payload, RoomId: string(in.RoomID),
	}}}
}

func TestStateMatchesGeneratedCode(t *testing.T) {
	tests := []wire.State{
		{},
		{Tick: 1},
		{Tick: 300, Baseline: 299, LastInputSeq: 17, Payload: []byte{0}},
		{Tick: 1 << 31, Baseline: 1, LastInputSeq: 1 << 30, Payload: bytes.Repeat([]byte{7}, 300)},
		{Tick: 5, Payload: bytes.Repeat([]byte{1}, 70000)},
		{LastInputSeq: 1<<32 - 1},
	}
	for _, s := range tests {
		want := marshal(t, stateMsg(s))
		got := wire.AppendState([]byte("x"), s)
		if n := wire.SizeState(s); n != len(want) {
			t.Errorf("SizeState(%+v) = %d, want %d", s, n, len(want))
		}
		if !bytes.Equal(got[1:], want) || got[0] != 'x' {
			t.Errorf("AppendState(%+v):\n got %x\nwant %x", s, got[1:], want)
		}
		back, ok := wire.DecodeState(want)
		if !ok || back.Tick != s.Tick || back.Baseline != s.Baseline || back.LastInputSeq != s.LastInputSeq || !bytes.Equal(back.Payload, s.Payload) {
			t.Errorf("DecodeState(%x) = %+v, %v; want %+v", want, back, ok, s)
		}
	}
}

func TestInputMatchesGeneratedCode(t *testing.T) {
	tests := []wire.Input{
		{},
		{Seq: 1},
		{Seq: 7, AckTick: 300, Payload: []byte{8, 1, 16, 2}},
		{Seq: 1 << 31, AckTick: 1<<32 - 1, Payload: bytes.Repeat([]byte{9}, 200), RoomID: []byte("room-é")},
		{RoomID: []byte("r")},
	}
	for _, in := range tests {
		want := marshal(t, inputMsg(in))
		if got := wire.AppendInput(nil, in); !bytes.Equal(got, want) {
			t.Errorf("AppendInput(%+v):\n got %x\nwant %x", in, got, want)
		}
		back, ok := wire.DecodeInput(want)
		if !ok || back.Seq != in.Seq || back.AckTick != in.AckTick || !bytes.Equal(back.Payload, in.Payload) || !bytes.Equal(back.RoomID, in.RoomID) {
			t.Errorf("DecodeInput(%x) = %+v, %v; want %+v", want, back, ok, in)
		}
	}
}

// Frames the fast paths must leave to proto.Unmarshal.
func TestDecodersRefuse(t *testing.T) {
	state := marshal(t, stateMsg(wire.State{Tick: 3, Payload: []byte{1}}))
	input := marshal(t, inputMsg(wire.Input{Seq: 3, Payload: []byte{1}}))
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"truncated", state[:len(state)-1]},
		{"trailing byte", append(bytes.Clone(state), 0)},
		{"request id", marshal(t, &tickwirev1.ServerMessage{RequestId: 2, Kind: &tickwirev1.ServerMessage_State{State: &tickwirev1.State{Tick: 1}}})},
		{"other message", marshal(t, &tickwirev1.ServerMessage{Kind: &tickwirev1.ServerMessage_Pong{Pong: &tickwirev1.Pong{}}})},
		{"fields out of order", []byte{0x0a, 0x04, 0x10, 0x01, 0x08, 0x02}},
		{"repeated field", []byte{0x0a, 0x04, 0x08, 0x01, 0x08, 0x02}},
		{"unknown field", []byte{0x0a, 0x02, 0x28, 0x01}},
		{"wrong wire type", []byte{0x0a, 0x02, 0x0d, 0x01}},
		{"input", input},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, ok := wire.DecodeState(tt.data); ok {
				t.Errorf("DecodeState accepted %x as %+v", tt.data, s)
			}
		})
	}
	bad := [][]byte{
		nil,
		state,
		marshal(t, &tickwirev1.ClientMessage{RequestId: 1, Kind: &tickwirev1.ClientMessage_Input{Input: &tickwirev1.Input{Seq: 1}}}),
		{0x2a, 0x03, 0x22, 0x01, 0xff}, // room_id not UTF-8
		{0x2a, 0x02, 0x28, 0x01},       // unknown field 5
	}
	for _, data := range bad {
		if in, ok := wire.DecodeInput(data); ok {
			t.Errorf("DecodeInput accepted %x as %+v", data, in)
		}
	}
}

func TestFastPathsDoNotAllocate(t *testing.T) {
	frame := wire.AppendState(nil, wire.State{Tick: 9, Baseline: 8, LastInputSeq: 4, Payload: []byte{1, 2, 3}})
	in := wire.AppendInput(nil, wire.Input{Seq: 9, AckTick: 8, Payload: []byte{1, 2, 3}})
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() {
		_, _ = wire.DecodeState(frame)
		_, _ = wire.DecodeInput(in)
		buf = wire.AppendState(buf[:0], wire.State{Tick: 9, Payload: frame})
		buf = wire.AppendInput(buf[:0], wire.Input{Seq: 9, Payload: in})
	}); n != 0 {
		t.Errorf("%v allocations per run, want 0", n)
	}
}

// FuzzDecodeState: whenever the fast path accepts a frame, proto.Unmarshal
// must accept it too and agree.
func FuzzDecodeState(f *testing.F) {
	for _, s := range []wire.State{{Tick: 7, Baseline: 6, LastInputSeq: 3, Payload: []byte{8, 1}}, {}, {Tick: 1 << 31}} {
		f.Add(wire.AppendState(nil, s))
	}
	f.Add([]byte{0x12, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		s, ok := wire.DecodeState(data)
		if !ok {
			return
		}
		var m tickwirev1.ServerMessage
		if err := proto.Unmarshal(data, &m); err != nil {
			t.Fatalf("fast path accepted a frame the decoder refuses: %v", err)
		}
		st := m.GetState()
		if st == nil || m.RequestId != 0 || st.Tick != s.Tick || st.BaselineTick != s.Baseline || st.LastInputSeq != s.LastInputSeq || !bytes.Equal(st.Payload, s.Payload) {
			t.Fatalf("fast path %+v differs from decoder %v", s, &m)
		}
		if re := wire.AppendState(nil, s); !bytes.Equal(re, data) {
			t.Fatalf("accepted a non-canonical frame %x (canonical %x)", data, re)
		}
	})
}

// FuzzDecodeInput: the same for the input frame.
func FuzzDecodeInput(f *testing.F) {
	for _, m := range []*tickwirev1.ClientMessage{
		inputMsg(wire.Input{Seq: 7, AckTick: 300, Payload: []byte{8, 1}}),
		inputMsg(wire.Input{Seq: 1, RoomID: []byte("r")}),
		{RequestId: 3, Kind: &tickwirev1.ClientMessage_Input{Input: &tickwirev1.Input{Seq: 1}}},
		{Kind: &tickwirev1.ClientMessage_Ping{Ping: &tickwirev1.Ping{}}},
	} {
		b, _ := proto.Marshal(m)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in, ok := wire.DecodeInput(data)
		if !ok {
			return
		}
		var m tickwirev1.ClientMessage
		if err := proto.Unmarshal(data, &m); err != nil {
			t.Fatalf("fast path accepted a frame the decoder refuses: %v", err)
		}
		pi := m.GetInput()
		if pi == nil || m.RequestId != 0 || pi.Seq != in.Seq || pi.AckTick != in.AckTick || !bytes.Equal(pi.Payload, in.Payload) || pi.RoomId != string(in.RoomID) {
			t.Fatalf("fast path %+v differs from decoder %v", in, &m)
		}
	})
}

func BenchmarkDecodeState(b *testing.B) {
	frame := wire.AppendState(nil, wire.State{Tick: 1000, Baseline: 999, LastInputSeq: 400, Payload: bytes.Repeat([]byte{3}, 50)})
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := wire.DecodeState(frame); !ok {
			b.Fatal("refused")
		}
	}
}

func BenchmarkDecodeStateProto(b *testing.B) {
	frame := wire.AppendState(nil, wire.State{Tick: 1000, Baseline: 999, LastInputSeq: 400, Payload: bytes.Repeat([]byte{3}, 50)})
	b.ReportAllocs()
	for b.Loop() {
		var m tickwirev1.ServerMessage
		if err := proto.Unmarshal(frame, &m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendInput(b *testing.B) {
	buf := make([]byte, 0, 64)
	payload := []byte{8, 1, 16, 2}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf = wire.AppendInput(buf[:0], wire.Input{Seq: uint32(i + 1), AckTick: 500, Payload: payload})
	}
}

func BenchmarkAppendInputProto(b *testing.B) {
	payload := []byte{8, 1, 16, 2}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := proto.Marshal(inputMsg(wire.Input{Seq: uint32(i + 1), AckTick: 500, Payload: payload})); err != nil {
			b.Fatal(err)
		}
	}
}
