package roomrt

import (
	"slices"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

// batchConn records the calls of a Batcher connection, in order.
type batchConn struct {
	fakeConn
	mu  sync.Mutex
	log []string
}

func (b *batchConn) note(s string) { b.mu.Lock(); b.log = append(b.log, s); b.mu.Unlock() }
func (b *batchConn) Hold()         { b.note("hold") }
func (b *batchConn) Release()      { b.note("release") }
func (b *batchConn) SendFrame(f []byte) {
	m := &tickwirev1.ServerMessage{}
	_ = proto.Unmarshal(f, m)
	switch {
	case m.GetMessage() != nil:
		b.note("message " + m.GetMessage().GetTypeName())
	case m.GetJoined() != nil:
		b.note("joined")
	default:
		b.note("frame")
	}
}
func (b *batchConn) SendState(s StateFrame) { b.note("state"); b.fakeConn.SendState(s) }
func (b *batchConn) Removed(string, uint32, LeaveReason, string) {
	b.note("removed")
}
func (b *batchConn) calls() []string { b.mu.Lock(); defer b.mu.Unlock(); return slices.Clone(b.log) }

// shouter broadcasts a message every tick and kicks player 2 at tick 2.
type shouter struct{ Base[*structpb.Struct] }

func (shouter) Tick(c *Context[*structpb.Struct], _ []Input) {
	c.r.BroadcastMessage("shout", nil, nil)
	if c.r.Tick() == 2 {
		c.r.Kick(c.r.Player(2), "out")
	}
}

// A Batcher connection (player 1 hears player 2 join, "frame") is held from after the tick's controls to the end
// of the tick: the tick's messages and its state go out together, and a
// player who leaves during the tick is released before it is removed.
func TestBatcherHeldForTheTick(t *testing.T) {
	d, err := NewDriver(Define(Config{}, func() THandler[*structpb.Struct] { return shouter{} }), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c1, c2 := &batchConn{}, &batchConn{}
	for _, c := range []*batchConn{c1, c2} {
		if _, err := d.Join(JoinRequest{Conn: c}); err != nil {
			t.Fatal(err)
		}
	}
	d.Tick()
	d.Tick()
	want1 := []string{"joined", "frame", "hold", "message shout", "state", "release", "hold", "message shout", "frame", "state", "release"}
	if got := c1.calls(); !slices.Equal(got, want1) {
		t.Fatalf("player 1 got %q, want %q", got, want1)
	}
	want2 := []string{"joined", "hold", "message shout", "state", "release", "hold", "message shout", "release", "removed"}
	if got := c2.calls(); !slices.Equal(got, want2) {
		t.Fatalf("player 2 got %q, want %q", got, want2)
	}
}
