package roomrt

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
)

// mover is a handler whose state holds one position per player and moves
// it by every input, like a small action game.
type mover struct{ Base[*structpb.Struct] }

func (mover) Init(c *Context[*structpb.Struct], _ []byte) error {
	c.State.Fields = map[string]*structpb.Value{}
	return nil
}

func (mover) Join(c *Context[*structpb.Struct], p *Player) {
	c.State.Fields[fmt.Sprint(p.ID)] = structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
		"x": structpb.NewNumberValue(0), "y": structpb.NewNumberValue(0),
	}})
}

func (mover) Tick(c *Context[*structpb.Struct], in []Input) {
	for _, i := range in {
		pos := c.State.Fields[fmt.Sprint(i.Player.ID)].GetStructValue().Fields
		pos["x"] = structpb.NewNumberValue(pos["x"].GetNumberValue() + 1)
		pos["y"] = structpb.NewNumberValue(pos["y"].GetNumberValue() - 1)
	}
}

// benchConn is a player who keeps up: each state frame becomes its
// baseline; nothing is recorded.
type benchConn struct{ fakeConn }

func (c *benchConn) SendState(s StateFrame) { c.baseline.Store(s.Tick) }
func (c *benchConn) SendFrame([]byte)       {}

// BenchmarkRoomTick runs one tick of a 10-player room: 10 inputs drained
// from the mailbox, the handler, a snapshot, and state frames for 10 players
// who keep up (one shared patch). The room's goroutine is not started; the
// benchmark drives the tick directly.
func BenchmarkRoomTick(b *testing.B) {
	for _, players := range []int{10, 100} {
		b.Run(fmt.Sprintf("players=%d", players), func(b *testing.B) {
			def := Define(Config{MaxPlayers: players}, func() THandler[*structpb.Struct] { return mover{} })
			r := newRoom("bench", "bench", def, NewManualClock(time.Unix(0, 0)), NopObserver{}, slog.New(slog.NewTextHandler(io.Discard, nil)), false, nil)
			if err := r.rt.Init(nil); err != nil {
				b.Fatal(err)
			}
			ids := make([]uint32, players)
			for i := range players {
				if err := r.reserveSeat(); err != nil {
					b.Fatal(err)
				}
				res, err := r.handleJoin(&JoinRequest{Conn: &benchConn{}})
				if err != nil {
					b.Fatal(err)
				}
				ids[i] = res.PlayerID
			}
			payload := []byte{8, 1}
			seq := uint32(0)
			b.ReportAllocs()
			for b.Loop() {
				seq++
				for _, id := range ids {
					_ = r.PostInput(id, seq, 0, payload)
				}
				r.runTick(0, 0, 1)
			}
		})
	}
}
