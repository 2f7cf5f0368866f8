package engine

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/lxzan/gws"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/tickwire/tickwire/engine/cluster"
	"github.com/tickwire/tickwire/internal/roomrt"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/room"
)

// fakeWS records writes.
type fakeWS struct {
	mu     sync.Mutex
	frames int
	bytes  int
	last   []byte // a copy of the last message
	closed uint16
	nc     net.Conn
}

func (f *fakeWS) WriteMessage(_ gws.Opcode, p []byte) error {
	f.mu.Lock()
	f.frames++
	f.bytes += len(p)
	f.last = append(f.last[:0], p...)
	f.mu.Unlock()
	return nil
}
func (f *fakeWS) WriteClose(code uint16, _ []byte) error {
	f.mu.Lock()
	f.closed = code
	f.mu.Unlock()
	return nil
}

// NetConn returns one connection per fake, whose deadlines do nothing: a
// new net.Pipe per call (with a timer per deadline) made BenchmarkWritePath
// measure pipes instead of the write path (14 allocations a frame).
func (f *fakeWS) NetConn() net.Conn {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.nc == nil {
		c, _ := net.Pipe()
		f.nc = noDeadlines{c}
	}
	return f.nc
}

type noDeadlines struct{ net.Conn }

func (noDeadlines) SetDeadline(time.Time) error      { return nil }
func (noDeadlines) SetReadDeadline(time.Time) error  { return nil }
func (noDeadlines) SetWriteDeadline(time.Time) error { return nil }

type nopState struct {
	room.Base[*structpb.Struct, *structpb.Struct]
}

func testEngine(tb testing.TB) *Engine {
	e, err := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxOffenses: 1 << 30, RateLimit: 1e9, RateBurst: 1 << 30})
	if err != nil {
		tb.Fatal(err)
	}
	if err := e.RegisterRoom("r", room.Define(room.Config{MailboxSize: 1 << 22}, func() room.Handler[*structpb.Struct, *structpb.Struct] { return nopState{} })); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		_ = e.rooms.Shutdown(ctx)
	})
	return e
}

func testSession(e *Engine) (*session, *fakeWS) {
	ws := &fakeWS{}
	s := &session{e: e, id: "s", ws: ws, created: time.Now()}
	return s, ws
}

// FuzzSessionFrame feeds arbitrary client frames through the whole message
// path (decode, handshake, join, input, room mailbox): it must never panic.
func FuzzSessionFrame(f *testing.F) {
	hello, _ := proto.Marshal(&tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Hello{Hello: &tickwirev1.Hello{ProtocolVersion: 1}}})
	join, _ := proto.Marshal(&tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Join{Join: &tickwirev1.Join{RoomType: "r"}}})
	in, _ := proto.Marshal(&tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Input{Input: &tickwirev1.Input{Seq: 1, AckTick: 0, Payload: []byte{1}}}})
	f.Add(hello)
	f.Add(join)
	f.Add(in)
	f.Add([]byte{0xff, 0x01})
	e := testEngine(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		s, _ := testSession(e)
		s.handle(gws.OpcodeBinary, hello)
		s.handle(gws.OpcodeBinary, data)
		s.handle(gws.OpcodeBinary, join)
		s.handle(gws.OpcodeBinary, data)
		s.ended(nil)
	})
}

// A state frame that waits for the writer is the one offered, even when
// the room reuses the payload's memory right after SendState returns.
func TestSendStateCopiesPayload(t *testing.T) {
	e := testEngine(t)
	s, ws := testSession(e)
	s.omu.Lock()
	s.writing = true // the writer is busy: SendState only fills the slot
	s.omu.Unlock()
	payload := []byte{1, 2, 3, 4}
	s.SendState(roomrt.StateFrame{Tick: 7, Baseline: 6, LastSeq: 5, Payload: payload})
	copy(payload, []byte{9, 9, 9, 9}) // the room's next use of its buffer
	s.flush()
	want := appendStateFrame(nil, roomrt.StateFrame{Tick: 7, Baseline: 6, LastSeq: 5, Payload: []byte{1, 2, 3, 4}})
	if ws.frames != 1 || !bytes.Equal(ws.last, want) {
		t.Fatalf("wrote %d frames, last %x; want 1, %x", ws.frames, ws.last, want)
	}
}

// BenchmarkWritePath measures one client's state write path per tick: the
// room offers a state frame, the writer encodes the envelope and writes it
// (run inline here; in the server the writer is a goroutine started on
// demand).
func BenchmarkWritePath(b *testing.B) {
	e := testEngine(b)
	s, ws := testSession(e)
	payload := bytes.Repeat([]byte{3}, 50)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.omu.Lock()
		s.writing = true // the writer is "running": SendState only fills the slot
		s.omu.Unlock()
		s.SendState(roomrt.StateFrame{Tick: uint32(i + 1), Baseline: uint32(i), LastSeq: uint32(i), Payload: payload})
		s.flush()
	}
	if ws.frames != b.N {
		b.Fatalf("wrote %d frames for %d states", ws.frames, b.N)
	}
}

// BenchmarkInputPath measures decoding one Input frame and posting it to the
// room mailbox.
func BenchmarkInputPath(b *testing.B) {
	e := testEngine(b)
	s, _ := testSession(e)
	hello, _ := proto.Marshal(&tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Hello{Hello: &tickwirev1.Hello{ProtocolVersion: 1}}})
	join, _ := proto.Marshal(&tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Join{Join: &tickwirev1.Join{RoomType: "r"}}})
	s.handle(gws.OpcodeBinary, hello)
	s.handle(gws.OpcodeBinary, join)
	r, _ := s.current()
	if r == nil {
		b.Fatal("not joined")
	}
	frames := make([][]byte, 1024)
	for i := range frames {
		frames[i], _ = proto.Marshal(&tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Input{Input: &tickwirev1.Input{Seq: uint32(i + 1), AckTick: 100, Payload: []byte{8, 1, 16, 2}}}})
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.handle(gws.OpcodeBinary, frames[i%len(frames)])
	}
}

// TestNoticeAnsweredOnce: a match notice that arrives twice (on the bus and
// again from the backend's kept notices) is answered once, for the ticket
// holder and for a party member who holds no ticket.
func TestNoticeAnsweredOnce(t *testing.T) {
	e := testEngine(t)
	s, _ := testSession(e)
	s.tickets = map[string]ticketInfo{"t1": {queue: "q", added: time.Now()}}
	tests := []struct {
		name string
		n    cluster.Notice
		want bool
	}{
		{"holder told", cluster.Notice{Kind: cluster.NoticeMatched, TicketID: "t1", UserID: "s", RoomID: "r"}, true},
		{"holder told again", cluster.Notice{Kind: cluster.NoticeMatched, TicketID: "t1", UserID: "s", RoomID: "r"}, false},
		{"party member told", cluster.Notice{Kind: cluster.NoticeMatched, TicketID: "t2", UserID: "s", RoomID: "r"}, true},
		{"party member told again", cluster.Notice{Kind: cluster.NoticeMatched, TicketID: "t2", UserID: "s", RoomID: "r"}, false},
	}
	for _, tc := range tests {
		if got := s.onNotice(&tc.n); got != tc.want {
			t.Errorf("%s: answered %v, want %v", tc.name, got, tc.want)
		}
	}
	if len(s.tickets) != 0 {
		t.Errorf("tickets left: %v", s.tickets)
	}
}

// A node holds one session a connection: it fits the 1,024-byte
// allocation size class (the next is 1,152), and what few connections
// need (the flood record, the rate limiter) hangs off it.
func TestSessionFitsItsSizeClass(t *testing.T) {
	if n := unsafe.Sizeof(session{}); n > 1024 {
		t.Fatalf("session is %d bytes, want at most 1,024", n)
	}
}
