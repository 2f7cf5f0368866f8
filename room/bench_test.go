package room

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tickwire/tickwire/internal/roomrt"
)

// summer adds up its inputs (durations standing in for a move input: two
// integer fields).
type summer struct {
	Base[*wrapperspb.Int64Value, *durationpb.Duration]
}

func (summer) Tick(c *Context[*wrapperspb.Int64Value], in []Input[*durationpb.Duration]) {
	for _, i := range in {
		c.State.Value += i.Msg.Seconds + int64(i.Msg.Nanos)
	}
}

// BenchmarkTickInputs is the cost of a tick's inputs reaching the handler:
// "typed" through the framework's decode (once, into reused messages),
// "by-hand" the way handlers decoded their []byte inputs before typed
// inputs (proto.Unmarshal into a reused message in Tick).
func BenchmarkTickInputs(b *testing.B) {
	reg := roomrt.NewRegistry(roomrt.RegistryConfig{Clock: roomrt.NewManualClock(time.Unix(0, 0))})
	def := Define(Config{}, func() Handler[*wrapperspb.Int64Value, *durationpb.Duration] { return summer{} })
	if err := reg.Register("s", def); err != nil {
		b.Fatal(err)
	}
	r, err := reg.Create(context.Background(), "s", roomrt.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = r.Close(context.Background(), roomrt.CloseShutdown) }()
	payload, _ := proto.Marshal(&durationpb.Duration{Seconds: 90, Nanos: -90})
	for _, n := range []int{10, 100} {
		raw := make([]roomrt.Input, n)
		for i := range raw {
			rp := &roomrt.Player{ID: uint32(i + 1)}
			rp.Handle = &Player{p: rp}
			raw[i] = roomrt.Input{Player: rp, Seq: 1, Payload: payload}
		}
		b.Run(fmt.Sprintf("typed/inputs=%d", n), func(b *testing.B) {
			a := &adapter[*wrapperspb.Int64Value, *durationpb.Duration]{
				h: summer{}, c: &Context[*wrapperspb.Int64Value]{r: r, State: &wrapperspb.Int64Value{}},
				inputType: (&durationpb.Duration{}).ProtoReflect().Type(),
			}
			b.ReportAllocs()
			for b.Loop() {
				a.Tick(raw)
			}
		})
		b.Run(fmt.Sprintf("by-hand/inputs=%d", n), func(b *testing.B) {
			state := &wrapperspb.Int64Value{}
			var msg durationpb.Duration
			b.ReportAllocs()
			for b.Loop() {
				for i := range raw {
					if err := proto.Unmarshal(raw[i].Payload, &msg); err != nil {
						b.Fatal(err)
					}
					state.Value += msg.Seconds + int64(msg.Nanos)
				}
			}
		})
	}
}
