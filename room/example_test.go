package room_test

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tickwire/tickwire/room"
	"github.com/tickwire/tickwire/tickwiretest"
)

// clicks is a game: the state adds up every player's clicks (the input is
// how many), players need a name, and a "reset" message zeroes the count.
type clicks struct {
	room.Base[*wrapperspb.UInt64Value, *wrapperspb.UInt32Value]
}

func (clicks) Init(c *room.Context[*wrapperspb.UInt64Value], _ []byte) error {
	room.OnMessage(c, func(p *room.Player, m *wrapperspb.StringValue) {
		if m.Value == "reset" {
			c.State.Value = 0
			c.Broadcast(wrapperspb.String(p.Name() + " reset the count"))
		}
	})
	return nil
}

func (clicks) JoinAttempt(_ *room.Context[*wrapperspb.UInt64Value], p *room.Player, _ []byte) error {
	if p.Name() == "" {
		return room.Reject("a name is required")
	}
	return nil
}

func (clicks) Tick(c *room.Context[*wrapperspb.UInt64Value], inputs []room.Input[*wrapperspb.UInt32Value]) {
	for _, in := range inputs {
		c.State.Value += uint64(in.Msg.Value)
	}
}

// A room type with typed state, inputs and messages, driven tick by tick by
// the test kit's harness (servers register it with engine.RegisterRoom).
func Example() {
	def := room.Define(room.Config{TickRate: 10, MaxPlayers: 4},
		func() room.Handler[*wrapperspb.UInt64Value, *wrapperspb.UInt32Value] { return clicks{} })

	t := &testing.T{} // in a real test, the test's own *testing.T
	h := tickwiretest.NewRoom[*wrapperspb.UInt64Value, *wrapperspb.UInt32Value](t, def, tickwiretest.RoomOptions{})
	ada := h.Join("ada", nil)
	_, err := h.TryJoin("", nil)
	fmt.Println("nameless join:", err)

	h.Input(ada, wrapperspb.UInt32(2))
	h.Input(ada, wrapperspb.UInt32(3))
	h.Tick(1)
	fmt.Println("clicks:", h.State().Value)

	h.Send(ada, wrapperspb.String("reset"))
	h.Tick(1)
	fmt.Println("clicks:", h.State().Value)
	for _, m := range tickwiretest.Messages[*wrapperspb.StringValue](ada) {
		fmt.Println("ada heard:", m.Value)
	}
	// Output:
	// nameless join: join rejected: a name is required
	// clicks: 5
	// clicks: 0
	// ada heard: ada reset the count
}
