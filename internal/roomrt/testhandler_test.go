package roomrt

import (
	"time"

	"google.golang.org/protobuf/proto"
)

// This file gives the runtime's tests a typed handler shaped like package
// room's (which cannot be imported here): Context, Handler, Base, Define.

type Context[S proto.Message] struct {
	State S
	r     *Room
}

func (c *Context[S]) Lock()                                   { c.r.Lock() }
func (c *Context[S]) SetTickRate(hz int)                      { c.r.SetTickRate(hz) }
func (c *Context[S]) After(d time.Duration, fn func()) uint64 { return c.r.After(d, fn) }
func (c *Context[S]) Every(d time.Duration, fn func()) uint64 { return c.r.Every(d, fn) }
func (c *Context[S]) CancelTimer(id uint64)                   { c.r.CancelTimer(id) }
func (c *Context[S]) Tick() uint32                            { return c.r.Tick() }

type THandler[S proto.Message] interface {
	Init(c *Context[S], opts []byte) error
	JoinAttempt(c *Context[S], p *Player, opts []byte) error
	Join(c *Context[S], p *Player)
	Leave(c *Context[S], p *Player, reason LeaveReason)
	Tick(c *Context[S], inputs []Input)
	Terminate(c *Context[S], reason CloseReason)
}

type Base[S proto.Message] struct{}

func (Base[S]) Init(*Context[S], []byte) error                 { return nil }
func (Base[S]) JoinAttempt(*Context[S], *Player, []byte) error { return nil }
func (Base[S]) Join(*Context[S], *Player)                      {}
func (Base[S]) Leave(*Context[S], *Player, LeaveReason)        {}
func (Base[S]) Tick(*Context[S], []Input)                      {}
func (Base[S]) Terminate(*Context[S], CloseReason)             {}

type interest[S proto.Message] interface {
	InView(c *Context[S], p *Player, dst []uint32) []uint32
}

func Reject(reason string) error { return &RejectError{Reason: reason} }

func Define[S proto.Message](cfg Config, newHandler func() THandler[S]) *Definition {
	var zero S
	_, hasInterest := newHandler().(interest[S])
	return NewDefinition(cfg, zero.ProtoReflect().Descriptor(), hasInterest, func(r *Room) Handler {
		h := newHandler()
		a := &testAdapter[S]{h: h, c: &Context[S]{r: r, State: zero.ProtoReflect().New().Interface().(S)}}
		a.in, _ = h.(interest[S])
		return a
	})
}

type testAdapter[S proto.Message] struct {
	h  THandler[S]
	c  *Context[S]
	in interest[S]
}

func (a *testAdapter[S]) Init(opts []byte) error { return a.h.Init(a.c, opts) }
func (a *testAdapter[S]) JoinAttempt(p *Player, opts []byte) error {
	return a.h.JoinAttempt(a.c, p, opts)
}
func (a *testAdapter[S]) Join(p *Player)                        { a.h.Join(a.c, p) }
func (a *testAdapter[S]) Leave(p *Player, r LeaveReason)        { a.h.Leave(a.c, p, r) }
func (a *testAdapter[S]) Tick(in []Input)                       { a.h.Tick(a.c, in) }
func (a *testAdapter[S]) Message(*Player, string, []byte) error { return ErrUnknownMessage }
func (a *testAdapter[S]) Terminate(r CloseReason)               { a.h.Terminate(a.c, r) }
func (a *testAdapter[S]) State() proto.Message                  { return a.c.State }
func (a *testAdapter[S]) InView(p *Player, dst []uint32) []uint32 {
	return a.in.InView(a.c, p, dst)
}

func (a *testAdapter[S]) Disconnected(p *Player) {
	if h, ok := a.h.(interface{ Disconnected(*Context[S], *Player) }); ok {
		h.Disconnected(a.c, p)
	}
}

func (a *testAdapter[S]) Reconnected(p *Player) {
	if h, ok := a.h.(interface{ Reconnected(*Context[S], *Player) }); ok {
		h.Reconnected(a.c, p)
	}
}
