package room

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/tickwire/tickwire/internal/roomrt"
)

// Definition is a room type, made with Define and registered with the
// engine (engine.Engine.RegisterRoom).
type Definition = roomrt.Definition

// Define describes a room type whose state is S and whose players send
// inputs of type I. newHandler is called once per room.
func Define[S, I proto.Message](cfg Config, newHandler func() Handler[S, I]) *Definition {
	var zeroS S
	_, interest := newHandler().(Interest[S])
	return roomrt.NewDefinition(roomrt.Config(cfg), zeroS.ProtoReflect().Descriptor(), interest, func(r *roomrt.Room) roomrt.Handler {
		h := newHandler()
		a := &adapter[S, I]{h: h, c: &Context[S]{r: r, State: zeroS.ProtoReflect().New().Interface().(S)}}
		a.interest, _ = h.(Interest[S])
		var zeroI I
		a.inputType = zeroI.ProtoReflect().Type()
		return a
	})
}

// adapter drives a typed Handler for the room runtime.
type adapter[S, I proto.Message] struct {
	h         Handler[S, I]
	c         *Context[S]
	interest  Interest[S]
	inputType protoreflect.MessageType
	pool      []I // decoded inputs, reused tick after tick
	inputs    []Input[I]
}

func (a *adapter[S, I]) Init(opts []byte) error { return a.h.Init(a.c, opts) }

func (a *adapter[S, I]) JoinAttempt(p *roomrt.Player, opts []byte) error {
	p.Handle = &Player{p: p}
	return a.h.JoinAttempt(a.c, p.Handle.(*Player), opts)
}

func (a *adapter[S, I]) Join(p *roomrt.Player) { a.h.Join(a.c, p.Handle.(*Player)) }

func (a *adapter[S, I]) Leave(p *roomrt.Player, reason roomrt.LeaveReason) {
	a.h.Leave(a.c, p.Handle.(*Player), LeaveReason(reason))
}

// Tick decodes every input once, into messages reused from tick to tick;
// one that does not decode is counted and answered by Room.BadInput and
// never reaches the handler.
func (a *adapter[S, I]) Tick(raw []roomrt.Input) {
	in := a.inputs[:0]
	for i := range raw {
		if len(in) == len(a.pool) {
			a.pool = append(a.pool, a.inputType.New().Interface().(I))
		}
		m := a.pool[len(in)]
		if err := proto.Unmarshal(raw[i].Payload, m); err != nil {
			a.c.r.BadInput(raw[i].Player, err)
			continue
		}
		in = append(in, Input[I]{Player: raw[i].Player.Handle.(*Player), Seq: raw[i].Seq, Msg: m})
	}
	a.h.Tick(a.c, in)
	clear(in)
	a.inputs = in[:0]
}

func (a *adapter[S, I]) Message(p *roomrt.Player, typeName string, payload []byte) error {
	fn := a.c.messages[typeName]
	if fn == nil {
		return roomrt.ErrUnknownMessage
	}
	return fn(p.Handle.(*Player), payload)
}

func (a *adapter[S, I]) Terminate(reason roomrt.CloseReason) { a.h.Terminate(a.c, CloseReason(reason)) }

func (a *adapter[S, I]) Disconnected(p *roomrt.Player) { a.h.Disconnected(a.c, p.Handle.(*Player)) }

func (a *adapter[S, I]) Reconnected(p *roomrt.Player) { a.h.Reconnected(a.c, p.Handle.(*Player)) }

func (a *adapter[S, I]) State() proto.Message { return a.c.State }

func (a *adapter[S, I]) InView(p *roomrt.Player, dst []uint32) []uint32 {
	return a.interest.InView(a.c, p.Handle.(*Player), dst)
}
