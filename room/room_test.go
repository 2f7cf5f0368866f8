package room_test

import (
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/room"
	"github.com/tickwire/tickwire/tickwiretest"
)

// recorder records what its handler hears, in order.
type recorder struct {
	room.Base[*wrapperspb.Int64Value, *wrapperspb.Int32Value]
	events []string
}

func (r *recorder) Init(c *room.Context[*wrapperspb.Int64Value], _ []byte) error {
	room.OnMessage(c, func(p *room.Player, m *wrapperspb.StringValue) {
		r.events = append(r.events, "message "+p.Name()+" "+m.Value)
		c.Send(p, wrapperspb.String("echo "+m.Value))
	})
	return nil
}

func (r *recorder) Join(_ *room.Context[*wrapperspb.Int64Value], p *room.Player) {
	r.events = append(r.events, "join "+p.Name())
}

func (r *recorder) Leave(_ *room.Context[*wrapperspb.Int64Value], p *room.Player, why room.LeaveReason) {
	r.events = append(r.events, "leave "+p.Name()+" "+why.String())
}

func (r *recorder) Tick(c *room.Context[*wrapperspb.Int64Value], in []room.Input[*wrapperspb.Int32Value]) {
	for _, i := range in {
		c.State.Value += int64(i.Msg.Value)
		r.events = append(r.events, "input "+i.Player.Name())
	}
}

func newRecorder(t *testing.T) (*recorder, *tickwiretest.Room[*wrapperspb.Int64Value, *wrapperspb.Int32Value]) {
	rec := &recorder{}
	def := room.Define(room.Config{TickRate: 10}, func() room.Handler[*wrapperspb.Int64Value, *wrapperspb.Int32Value] { return rec })
	return rec, tickwiretest.NewRoom[*wrapperspb.Int64Value, *wrapperspb.Int32Value](t, def, tickwiretest.RoomOptions{})
}

func TestTypedInputsAndMessages(t *testing.T) {
	for _, tt := range []struct {
		name       string
		send       func(h *tickwiretest.Room[*wrapperspb.Int64Value, *wrapperspb.Int32Value], p *tickwiretest.Player)
		wantState  int64
		wantErrors []tickwirev1.ErrorCode
		wantEvents []string
	}{
		{
			name: "inputs arrive decoded",
			send: func(h *tickwiretest.Room[*wrapperspb.Int64Value, *wrapperspb.Int32Value], p *tickwiretest.Player) {
				h.Input(p, wrapperspb.Int32(4))
				h.Input(p, wrapperspb.Int32(5))
			},
			wantState:  9,
			wantEvents: []string{"join ada", "input ada", "input ada"},
		},
		{
			name: "an undecodable input never reaches Tick",
			send: func(h *tickwiretest.Room[*wrapperspb.Int64Value, *wrapperspb.Int32Value], p *tickwiretest.Player) {
				h.RawInput(p, []byte{0xff, 0xff, 0xff})
				h.Input(p, wrapperspb.Int32(2))
			},
			wantState:  2,
			wantErrors: []tickwirev1.ErrorCode{tickwirev1.ErrorCode_ERROR_CODE_INVALID_INPUT},
			wantEvents: []string{"join ada", "input ada"},
		},
		{
			name: "a registered message type reaches its handler",
			send: func(h *tickwiretest.Room[*wrapperspb.Int64Value, *wrapperspb.Int32Value], p *tickwiretest.Player) {
				h.Send(p, wrapperspb.String("hi"))
			},
			wantEvents: []string{"join ada", "message ada hi"},
		},
		{
			name: "an unknown message type is refused",
			send: func(h *tickwiretest.Room[*wrapperspb.Int64Value, *wrapperspb.Int32Value], p *tickwiretest.Player) {
				h.Send(p, durationpb.New(1))
			},
			wantErrors: []tickwirev1.ErrorCode{tickwirev1.ErrorCode_ERROR_CODE_UNKNOWN_MESSAGE},
			wantEvents: []string{"join ada"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec, h := newRecorder(t)
			ada := h.Join("ada", nil)
			tt.send(h, ada)
			h.Tick(1)
			if got := h.State().Value; got != tt.wantState {
				t.Errorf("state %d, want %d", got, tt.wantState)
			}
			if got := ada.Errors(); !slices.Equal(got, tt.wantErrors) {
				t.Errorf("errors %v, want %v", got, tt.wantErrors)
			}
			h.Tick(1) // the handler's events are read after the room settled
			if !slices.Equal(rec.events, tt.wantEvents) {
				t.Errorf("events %q, want %q", rec.events, tt.wantEvents)
			}
		})
	}
}

func TestSendReachesOnlyThePlayer(t *testing.T) {
	_, h := newRecorder(t)
	ada, bob := h.Join("ada", nil), h.Join("bob", nil)
	h.Send(ada, wrapperspb.String("x"))
	h.Tick(1)
	if got := tickwiretest.Messages[*wrapperspb.StringValue](ada); len(got) != 1 || got[0].Value != "echo x" {
		t.Fatalf("ada got %v", got)
	}
	if got := tickwiretest.Messages[*wrapperspb.StringValue](bob); len(got) != 0 {
		t.Fatalf("bob got %v", got)
	}
	h.Leave(bob)
	if why, ok := bob.Left(); !ok || why != room.LeaveLeft {
		t.Fatalf("bob left = %v %v", why, ok)
	}
}

// grace records the reconnection hooks.
type grace struct {
	recorder
}

func (g *grace) Disconnected(_ *room.Context[*wrapperspb.Int64Value], p *room.Player) {
	g.events = append(g.events, "disconnected "+p.Name())
}

func (g *grace) Reconnected(_ *room.Context[*wrapperspb.Int64Value], p *room.Player) {
	g.events = append(g.events, "reconnected "+p.Name())
}

func TestReconnectionHooks(t *testing.T) {
	for _, tt := range []struct {
		name   string
		resume bool
		want   []string
	}{
		{"resumed within the grace", true, []string{"join ada", "disconnected ada", "reconnected ada", "input ada"}},
		{"grace runs out", false, []string{"join ada", "disconnected ada", "leave ada disconnected"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := &grace{}
			def := room.Define(room.Config{TickRate: 10, ReconnectGrace: time.Second},
				func() room.Handler[*wrapperspb.Int64Value, *wrapperspb.Int32Value] { return g })
			h := tickwiretest.NewRoom[*wrapperspb.Int64Value, *wrapperspb.Int32Value](t, def, tickwiretest.RoomOptions{})
			ada := h.Join("ada", nil)
			h.Disconnect(ada)
			h.Tick(5) // half the grace
			if tt.resume {
				back, err := h.Resume(ada)
				if err != nil {
					t.Fatal(err)
				}
				if back.ID != ada.ID {
					t.Fatalf("resumed as player %d, was %d", back.ID, ada.ID)
				}
				h.Input(back, wrapperspb.Int32(1))
			}
			h.Tick(10) // past the grace
			if !slices.Equal(g.events, tt.want) {
				t.Fatalf("events %q, want %q", g.events, tt.want)
			}
			if !tt.resume {
				if _, err := h.Resume(ada); err == nil {
					t.Fatal("resumed a seat whose grace ended")
				}
			}
		})
	}
}
