package client

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

// FuzzStateTracker applies arbitrary server frames: decoding and applying
// never panics, and a failed frame leaves the tracker usable.
func FuzzStateTracker(f *testing.F) {
	full, _ := proto.Marshal(&structpb.Struct{Fields: map[string]*structpb.Value{"a": structpb.NewNumberValue(1)}})
	frame, _ := proto.Marshal(&tickwirev1.ServerMessage{Kind: &tickwirev1.ServerMessage_State{State: &tickwirev1.State{Tick: 1, Payload: full}}})
	f.Add(frame)
	f.Add([]byte{0x0a, 0x04, 0x08, 0x02, 0x10, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		tr := NewStateTracker[*structpb.Struct]()
		m := &tickwirev1.ServerMessage{}
		if proto.Unmarshal(data, m) != nil || m.GetState() == nil {
			return
		}
		first := &tickwirev1.State{Tick: 1, Payload: full}
		if _, err := tr.Apply(first); err != nil {
			t.Fatal(err)
		}
		_, _ = tr.Apply(m.GetState())
		if _, _, _, ok := tr.Latest(); !ok {
			t.Fatal("tracker lost its state")
		}
	})
}
