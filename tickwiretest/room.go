package tickwiretest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tickwire/tickwire/internal/roomrt"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/room"
)

// RoomOptions configure a room harness. The zero value works.
type RoomOptions struct {
	// CreateOptions are the game-defined options passed to Init.
	CreateOptions []byte
	// Metadata is the room's initial metadata.
	Metadata map[string]string
	// Start is the manual clock's start time. Default: the Unix epoch.
	Start time.Time
}

// Room runs one room of a room type on a manual clock, for handler unit
// tests: players join and leave, inputs and messages go in typed, Tick runs
// exactly n ticks, State returns the state. S and I must be the room type's
// state and input types. Methods must be called from the test goroutine.
type Room[S, I proto.Message] struct {
	t     testing.TB
	clock *Clock
	reg   *roomrt.Registry
	r     *roomrt.Room
}

// Player is a fake client in a room harness: it records what the room sent
// it.
type Player struct {
	// ID is the player's id in the room.
	ID  uint32
	seq uint32
	c   *fakeConn
}

// NewRoom creates a room of def on a manual clock; it is closed when the
// test ends.
func NewRoom[S, I proto.Message](t testing.TB, def *room.Definition, opts RoomOptions) *Room[S, I] {
	t.Helper()
	if err := def.Err(); err != nil {
		t.Fatalf("tickwiretest: %v", err)
	}
	if opts.Start.IsZero() {
		opts.Start = time.Unix(0, 0)
	}
	h := &Room[S, I]{t: t, clock: NewClock(opts.Start)}
	h.reg = roomrt.NewRegistry(roomrt.RegistryConfig{Clock: h.clock, Logger: discardLogger(), Tokens: harnessTokens{}})
	if err := h.reg.Register("test", def); err != nil {
		t.Fatal(err)
	}
	r, err := h.reg.Create(context.Background(), "test", roomrt.CreateOptions{Metadata: opts.Metadata, Options: opts.CreateOptions})
	if err != nil {
		t.Fatalf("tickwiretest: create room: %v", err)
	}
	h.r = r
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.Close(ctx, roomrt.CloseShutdown)
		_ = h.reg.Shutdown(ctx) // stops the helpers of big rooms
	})
	var got proto.Message
	h.call(func(st proto.Message) { got = st })
	if _, ok := got.(S); !ok {
		var s S
		t.Fatalf("tickwiretest: the room's state is %T, the harness's S is %T", got, s)
	}
	return h
}

// Clock returns the harness's clock (Context.Now, timers).
func (h *Room[S, I]) Clock() *Clock { return h.clock }

// Join adds a player named name with the game-defined join options opts.
// It fails the test if the handler refuses; use TryJoin to test refusals.
func (h *Room[S, I]) Join(name string, opts []byte) *Player {
	h.t.Helper()
	p, err := h.TryJoin(name, opts)
	if err != nil {
		h.t.Fatalf("tickwiretest: join %q: %v", name, err)
	}
	return p
}

// TryJoin adds a player, returning the handler's refusal (errors.Is
// room.ErrRejected) as an error.
func (h *Room[S, I]) TryJoin(name string, opts []byte) (*Player, error) {
	c := &fakeConn{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := h.r.Join(ctx, roomrt.JoinRequest{UserID: "user-" + name, Name: name, Conn: c, Options: opts})
	if err != nil {
		return nil, err
	}
	return &Player{ID: res.PlayerID, c: c}, nil
}

// Disconnect ends p's connection without a Leave: p keeps its seat for the
// room type's ReconnectGrace (the handler hears Disconnected), then leaves
// unless Resume brings it back. Advance time with Tick.
func (h *Room[S, I]) Disconnect(p *Player) {
	h.r.Disconnect(p.ID, p.c)
	h.call(func(proto.Message) {})
}

// Resume gives p's seat to a new connection, as a client presenting its
// resume token would: the returned Player has the same ID. It fails when
// the seat is gone (the grace ended).
func (h *Room[S, I]) Resume(p *Player) (*Player, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := &fakeConn{}
	res, err := h.r.Resume(ctx, roomrt.ResumeRequest{PlayerID: p.ID, Gen: p.c.gen(), Conn: c})
	if err != nil {
		return nil, err
	}
	return &Player{ID: res.PlayerID, seq: p.seq, c: c}, nil
}

// Leave removes p as if it asked to leave.
func (h *Room[S, I]) Leave(p *Player) {
	h.r.Leave(p.ID, roomrt.LeaveLeft)
	h.call(func(proto.Message) {})
}

// Input queues an input of p for the next tick, with p's next sequence
// number.
func (h *Room[S, I]) Input(p *Player, in I) {
	h.t.Helper()
	b, err := proto.Marshal(in)
	if err != nil {
		h.t.Fatal(err)
	}
	h.RawInput(p, b)
}

// RawInput queues undecoded input bytes (to test bad input).
func (h *Room[S, I]) RawInput(p *Player, payload []byte) {
	h.t.Helper()
	p.seq++
	if err := h.r.PostInput(p.ID, p.seq, 0, payload); err != nil {
		h.t.Fatalf("tickwiretest: input: %v", err)
	}
}

// Send queues a game message of p for the next tick.
func (h *Room[S, I]) Send(p *Player, msg proto.Message) {
	h.t.Helper()
	b, err := proto.Marshal(msg)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.r.PostMessage(p.ID, string(msg.ProtoReflect().Descriptor().FullName()), b); err != nil {
		h.t.Fatalf("tickwiretest: send: %v", err)
	}
}

// Tick runs n ticks: it advances the clock one tick interval at a time and
// waits for the room to finish each.
func (h *Room[S, I]) Tick(n int) {
	h.t.Helper()
	for range n {
		want := h.r.Tick() + 1
		h.waitFor(func() bool { return h.clock.Timers() > 0 }, "the room's timer")
		h.clock.Advance(time.Second / time.Duration(h.r.Info().TickRate))
		h.waitFor(func() bool { return h.r.Tick() >= want }, fmt.Sprintf("tick %d", want))
		h.call(func(proto.Message) {})
	}
}

// CurrentTick returns the room's tick.
func (h *Room[S, I]) CurrentTick() uint32 { return h.r.Tick() }

// State returns a copy of the room's state.
func (h *Room[S, I]) State() S {
	var out S
	h.call(func(st proto.Message) { out = proto.Clone(st).(S) })
	return out
}

// Closed reports whether the room has closed.
func (h *Room[S, I]) Closed() bool {
	select {
	case <-h.r.Done():
		return true
	default:
		return false
	}
}

func (h *Room[S, I]) call(fn func(state proto.Message)) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = h.r.CallState(ctx, fn)
}

func (h *Room[S, I]) waitFor(cond func() bool, what string) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if h.Closed() {
			h.t.Fatalf("tickwiretest: the room closed while waiting for %s", what)
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("tickwiretest: timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// Messages returns the game messages of type M the room sent to p, in
// order.
func Messages[M proto.Message](p *Player) []M {
	var zero M
	name := string(zero.ProtoReflect().Descriptor().FullName())
	var out []M
	for _, f := range p.c.frames() {
		if m := f.GetMessage(); m != nil && m.TypeName == name {
			v := zero.ProtoReflect().New().Interface()
			if proto.Unmarshal(m.Payload, v) == nil {
				out = append(out, v.(M))
			}
		}
	}
	return out
}

// Errors returns the error codes the room answered p with (refused inputs
// and messages).
func (p *Player) Errors() []tickwirev1.ErrorCode {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	return append([]tickwirev1.ErrorCode(nil), p.c.rejects...)
}

// Left reports whether p is out of the room, and why.
func (p *Player) Left() (room.LeaveReason, bool) {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	if p.c.removed == 0 {
		return 0, false
	}
	return room.LeaveReason(p.c.removed), true
}

// States returns how many state frames p received.
func (p *Player) States() int { return int(p.c.states.Load()) }

// fakeConn records what a room sends to one player.
type fakeConn struct {
	mu       sync.Mutex
	raw      [][]byte
	rejects  []tickwirev1.ErrorCode
	removed  roomrt.LeaveReason
	states   atomic.Int32
	baseline atomic.Uint32
}

func (f *fakeConn) SendState(s roomrt.StateFrame) {
	f.states.Add(1)
	f.baseline.Store(s.Tick) // a client that keeps up
}
func (f *fakeConn) SendFrame(b []byte) {
	f.mu.Lock()
	f.raw = append(f.raw, b)
	f.mu.Unlock()
}
func (f *fakeConn) Baseline() uint32 { return f.baseline.Load() }
func (f *fakeConn) Reject(code tickwirev1.ErrorCode, _ string) {
	f.mu.Lock()
	f.rejects = append(f.rejects, code)
	f.mu.Unlock()
}
func (f *fakeConn) Removed(_ string, _ uint32, reason roomrt.LeaveReason, _ string) {
	f.mu.Lock()
	f.removed = reason
	f.mu.Unlock()
}
func (f *fakeConn) Superseded(string, uint32) {
	f.mu.Lock()
	f.removed = roomrt.LeaveDisconnected
	f.mu.Unlock()
}

// gen returns the generation of the newest resume token the room sent.
func (f *fakeConn) gen() uint32 {
	var g uint32
	for _, m := range f.frames() {
		if j := m.GetJoined(); j != nil {
			if n, err := fmt.Sscanf(j.ResumeToken, "gen-%d", &g); n != 1 || err != nil {
				g = 0
			}
		}
	}
	return g
}

func (f *fakeConn) frames() []*tickwirev1.ServerMessage {
	f.mu.Lock()
	raw := append([][]byte(nil), f.raw...)
	f.mu.Unlock()
	out := make([]*tickwirev1.ServerMessage, 0, len(raw))
	for _, b := range raw {
		m := &tickwirev1.ServerMessage{}
		if proto.Unmarshal(b, m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// harnessTokens issues readable resume tokens: the harness resumes on the
// room directly, without the engine's signatures.
type harnessTokens struct{}

func (harnessTokens) Issue(_ string, _, gen uint32) string { return fmt.Sprintf("gen-%d", gen) }

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
