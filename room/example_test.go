package room_test

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/room"
)

// clicks is a game: the state counts every input of every player.
type clicks struct {
	room.Base[*wrapperspb.UInt64Value]
}

func (clicks) JoinAttempt(c *room.Context[*wrapperspb.UInt64Value], p *room.Player, _ []byte) error {
	if p.Name == "" {
		return room.Reject("a name is required")
	}
	return nil
}

func (clicks) Tick(c *room.Context[*wrapperspb.UInt64Value], inputs []room.Input) {
	c.State.Value += uint64(len(inputs))
}

// printConn stands in for a player's connection (the engine provides the
// real one).
type printConn struct{ name string }

func (printConn) SendState(f room.StateFrame) {
	fmt.Printf("state of tick %d (baseline %d)\n", f.Tick, f.Baseline)
}
func (printConn) SendFrame([]byte)                                 {}
func (printConn) Baseline() uint32                                 { return 0 }
func (printConn) Reject(tickwirev1.ErrorCode, string)              {}
func (printConn) Removed(string, uint32, room.LeaveReason, string) {}

func Example() {
	clock := room.NewManualClock(time.Unix(0, 0)) // tests drive ticks; servers use the system clock
	reg := room.NewRegistry(room.RegistryConfig{Clock: clock})
	_ = reg.Register("clicks", room.Define(room.Config{TickRate: 10, MaxPlayers: 4},
		func() room.Handler[*wrapperspb.UInt64Value] { return clicks{} }))

	ctx := context.Background()
	r, res, err := reg.JoinOrCreate(ctx, "clicks", nil, room.JoinRequest{Name: "ada", Conn: printConn{}})
	if err != nil {
		panic(err)
	}
	_, err = r.Join(ctx, room.JoinRequest{Conn: printConn{}})
	fmt.Println("nameless join:", err)

	_ = r.PostInput(res.PlayerID, 1, 0, nil)
	_ = r.PostInput(res.PlayerID, 2, 0, nil)
	for clock.Timers() == 0 { // wait for the room's loop to arm its timer
		time.Sleep(time.Millisecond)
	}
	clock.Advance(100 * time.Millisecond) // one tick at 10 Hz
	for r.Info().Tick < 1 {
		time.Sleep(time.Millisecond)
	}
	_ = r.Call(ctx, func() {}) // wait for the tick to finish
	fmt.Println("players:", r.Info().Players)
	_ = r.Close(ctx, room.CloseRequested)
	// Output:
	// nameless join: join rejected: a name is required
	// state of tick 1 (baseline 0)
	// players: 1
}
