//go:build unix

package engine

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"google.golang.org/protobuf/proto"

	"github.com/tickwire/tickwire/internal/roomrt"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

// readWSFrame reads one unmasked server frame.
func readWSFrame(r *bufio.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err = io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err = io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(r, payload)
	return h[0], payload, err
}

func TestAppendDataFrame(t *testing.T) {
	for _, size := range []int{0, 8, 125, 126, 300, 65535, 65536, 70000} {
		data := bytes.Repeat([]byte{3}, size)
		frame := appendDataFrame([]byte("prefix"), 0x9, data)
		if !bytes.HasPrefix(frame, []byte("prefix")) {
			t.Fatal("prefix lost")
		}
		var want bytes.Buffer
		if err := (framedWS{c: writerConn{&want}}).WriteMessage(gws.OpcodePing, data); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(frame[len("prefix"):], want.Bytes()) {
			t.Fatalf("size %d: frame differs from the reference framing", size)
		}
	}
}

// A frame enqueued on an idle connection is written by the caller: no
// writer goroutine is started (the sweep probes every client in a room
// each second; a goroutine each was a thousand goroutines, and stacks, at
// once).
func TestEnqueueWritesDirectly(t *testing.T) {
	client, server := tcpPair(t)
	s := &session{e: testEngine(t), id: "s", ws: framedWS{server}, created: time.Now(), raw: newRawWriter(server)}
	s.enqueue(outFrame{op: gws.OpcodePing, data: []byte("probe")})
	s.omu.Lock()
	writing := s.writing
	s.omu.Unlock()
	if writing {
		t.Fatal("a writer goroutine took the frame")
	}
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	op, p, err := readWSFrame(bufio.NewReader(client))
	if err != nil || op != 0x89 || string(p) != "probe" {
		t.Fatalf("read op %x %q, %v", op, p, err)
	}
}

// writerConn is a net.Conn that only writes, into a buffer.
type writerConn struct{ w io.Writer }

func (c writerConn) Write(b []byte) (int, error)    { return c.w.Write(b) }
func (writerConn) Read([]byte) (int, error)         { return 0, io.EOF }
func (writerConn) Close() error                     { return nil }
func (writerConn) LocalAddr() net.Addr              { return nil }
func (writerConn) RemoteAddr() net.Addr             { return nil }
func (writerConn) SetDeadline(time.Time) error      { return nil }
func (writerConn) SetReadDeadline(time.Time) error  { return nil }
func (writerConn) SetWriteDeadline(time.Time) error { return nil }

func TestAppendWSFrame(t *testing.T) {
	for _, size := range []int{0, 10, 120, 125, 126, 300, 65530, 70000} {
		f := roomrt.StateFrame{Tick: 9, Baseline: 8, LastSeq: 7, Payload: bytes.Repeat([]byte{1}, size)}
		frame := appendWSFrame([]byte("prefix"), f)
		if !bytes.HasPrefix(frame, []byte("prefix")) {
			t.Fatal("prefix lost")
		}
		frame = frame[len("prefix"):]
		op, payload, err := readWSFrame(bufio.NewReader(bytes.NewReader(frame)))
		if err != nil || op != 0x82 {
			t.Fatalf("size %d: op %x err %v", size, op, err)
		}
		if want := appendStateFrame(nil, f); !bytes.Equal(payload, want) {
			t.Fatalf("size %d: payload differs", size)
		}
		if h := wsHeaderLen(len(frame)); h != len(frame)-len(payload) {
			t.Fatalf("size %d: header %d, want %d", size, h, len(frame)-len(payload))
		}
	}
}

// framedWS is a wsConn over a real socket with plain server framing.
type framedWS struct{ c net.Conn }

func (f framedWS) WriteMessage(op gws.Opcode, p []byte) error {
	hdr := []byte{0x80 | byte(op), 0}
	switch {
	case len(p) < 126:
		hdr[1] = byte(len(p))
	case len(p) < 1<<16:
		hdr[1] = 126
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(len(p)))
	default:
		hdr[1] = 127
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(len(p)))
	}
	_, err := f.c.Write(append(hdr, p...))
	return err
}
func (f framedWS) WriteClose(uint16, []byte) error { return f.c.Close() }
func (f framedWS) NetConn() net.Conn               { return f.c }

// Frames the room sends while it holds the connection (roomrt.Batcher)
// wait, and go out in order with the state frame or at Release.
// rawTestSession is a session writing directly to one end of a loopback
// TCP connection, and a reader of the other end (10 s read deadline).
func rawTestSession(t *testing.T) (*session, *bufio.Reader) {
	t.Helper()
	client, server := tcpPair(t)
	s := &session{e: testEngine(t), id: "s", ws: framedWS{server}, created: time.Now(), raw: newRawWriter(server)}
	_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
	return s, bufio.NewReader(client)
}

// queuedFrames reports how many frames s has queued and whether its writer
// role is taken.
func queuedFrames(s *session) (int, bool) {
	s.omu.Lock()
	defer s.omu.Unlock()
	return len(s.queue), s.writing
}

func TestHeldFramesGoOutWithTheState(t *testing.T) {
	s, r := rawTestSession(t)
	event := func(n byte) []byte {
		b, _ := proto.Marshal(&tickwirev1.ServerMessage{RequestId: uint32(n), Kind: &tickwirev1.ServerMessage_Pong{Pong: &tickwirev1.Pong{}}})
		return b
	}
	queued := func() (int, bool) { return queuedFrames(s) }
	next := func() *tickwirev1.ServerMessage {
		t.Helper()
		_, p, err := readWSFrame(r)
		if err != nil {
			t.Fatal(err)
		}
		m := &tickwirev1.ServerMessage{}
		if err := proto.Unmarshal(p, m); err != nil {
			t.Fatal(err)
		}
		return m
	}

	s.Hold()
	s.SendFrame(event(1))
	s.SendFrame(event(2))
	if n, writing := queued(); n != 2 || writing {
		t.Fatalf("held: %d frames queued, writer %v; want 2 waiting", n, writing)
	}
	s.SendState(roomrt.StateFrame{Tick: 5, Payload: []byte{1}})
	s.Release()
	if m := next(); m.GetRequestId() != 1 {
		t.Fatalf("first frame %v, want event 1", m)
	}
	if m := next(); m.GetRequestId() != 2 {
		t.Fatalf("second frame %v, want event 2", m)
	}
	if m := next(); m.GetState().GetTick() != 5 {
		t.Fatalf("third frame %v, want the state of tick 5", m)
	}

	s.Hold() // a tick without a state: Release writes
	s.SendFrame(event(3))
	s.Release()
	if m := next(); m.GetRequestId() != 3 {
		t.Fatalf("frame %v, want event 3", m)
	}
	if got := s.io.msgsOut.Load(); got != 4 {
		t.Fatalf("%d messages counted, want 4", got)
	}
}

// A room running several late ticks in one go (roomrt's batches) holds
// all their states: nothing is written until Release, which writes the
// frames and states in the order they were sent. Each held state is the
// baseline of the next one (it is in the connection's ordered output).
// A close frame queued while states are held goes out after them.
func TestHeldStatesGoOutInOrderAtRelease(t *testing.T) {
	for _, tc := range []struct {
		name  string
		close bool // end with a close frame instead of Release
	}{{"release", false}, {"close", true}} {
		t.Run(tc.name, func(t *testing.T) {
			client, server := tcpPair(t)
			s := &session{e: testEngine(t), id: "s", ws: framedWS{server}, created: time.Now(), raw: newRawWriter(server)}
			_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
			r := bufio.NewReader(client)
			event := func(n byte) []byte {
				b, _ := proto.Marshal(&tickwirev1.ServerMessage{RequestId: uint32(n), Kind: &tickwirev1.ServerMessage_Pong{Pong: &tickwirev1.Pong{}}})
				return b
			}

			s.Hold()
			s.SendFrame(event(1))
			s.SendState(roomrt.StateFrame{Tick: 5, Payload: []byte{1}})
			if got := s.Baseline(); got != 5 {
				t.Fatalf("baseline after holding tick 5 = %d, want 5", got)
			}
			s.SendFrame(event(2))
			s.SendState(roomrt.StateFrame{Tick: 6, Baseline: 5, Payload: []byte{2}})
			s.SendState(roomrt.StateFrame{Tick: 7, Baseline: 6, Payload: []byte{3}})
			if n, writing := queuedFrames(s); n != 0 || writing {
				t.Fatalf("held: %d frames queued, writer %v; want all framed and no writer", n, writing)
			}
			if readable(t, client) {
				t.Fatal("bytes on the socket before Release")
			}
			if tc.close {
				s.closeWith(4000, "bye")
			} else {
				s.Release()
			}
			var got []string
			for range 5 {
				op, p, err := readWSFrame(r)
				if err != nil {
					t.Fatal(err)
				}
				m := &tickwirev1.ServerMessage{}
				if err := proto.Unmarshal(p, m); err != nil || op != 0x82 {
					t.Fatalf("frame op %#x does not decode: %v", op, err)
				}
				if st := m.GetState(); st != nil {
					got = append(got, fmt.Sprintf("state %d/%d", st.Tick, st.BaselineTick))
				} else {
					got = append(got, fmt.Sprintf("event %d", m.GetRequestId()))
				}
			}
			want := []string{"event 1", "state 5/0", "event 2", "state 6/5", "state 7/6"}
			if !slices.Equal(got, want) {
				t.Fatalf("frames %q, want %q", got, want)
			}
			if tc.close {
				// The close frame, then the end of the stream (the node
				// half-closes and waits for the client's close).
				if op, p, err := readWSFrame(r); err != nil || op != 0x88 || string(p) != "\x0f\xa0bye" {
					t.Fatalf("after the held frames: op %#x %q, %v; want the close frame 4000 \"bye\"", op, p, err)
				}
				if op, _, err := readWSFrame(r); !errors.Is(err, io.EOF) {
					t.Fatalf("after the close frame: op %#x, %v; want the end of the stream", op, err)
				}
				return
			}
			if got := s.io.msgsOut.Load(); got != 5 {
				t.Fatalf("%d messages counted, want 5", got)
			}
			s.omu.Lock()
			defer s.omu.Unlock()
			if s.writing || len(s.heldWire) != 0 || s.heldState {
				t.Fatalf("after Release: writer %v, %d bytes held", s.writing, len(s.heldWire))
			}
		})
	}
}

// TestDirectWritesSurviveFullSocket fills a socket whose reader is paused:
// direct writes turn partial, the writer goroutine finishes them, newer
// states replace unsent ones, events stay in order, and the byte stream
// stays a valid sequence of frames.
func TestDirectWritesSurviveFullSocket(t *testing.T) {
	client, server := tcpPair(t)

	e := testEngine(t)
	e.cfg.SlowConsumerFrames = 1 << 20 // this test pauses the reader on purpose
	s := &session{e: e, id: "s", ws: framedWS{server}, created: time.Now(), raw: newRawWriter(server)}
	if s.raw == nil {
		t.Fatal("no raw writer for a TCP conn")
	}
	payload := bytes.Repeat([]byte{7}, 60_000)
	const n = 200
	for i := 1; i <= n; i++ {
		if i%30 == 0 { // a tick whose event the room holds for the state's write
			s.Hold()
			s.SendFrame([]byte{0x22, 0x00})
		}
		s.SendState(roomrt.StateFrame{Tick: uint32(i), Payload: payload})
		if i%30 == 0 {
			s.Release()
		}
		if i%50 == 0 {
			s.SendFrame([]byte{0x22, 0x00}) // an event between states (Pong{})
		}
		if i%40 == 0 {
			s.enqueue(outFrame{op: gws.OpcodePing, data: []byte("probe")}) // as the sweep's probe
		}
	}
	// Read everything: every frame must be complete and decode; ticks rise.
	r := bufio.NewReader(client)
	last, states, events, pings := uint32(0), 0, 0, 0
	_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		op, p, err := readWSFrame(r)
		if err != nil {
			t.Fatalf("after %d states and %d events: %v", states, events, err)
		}
		if op == 0x89 {
			if string(p) != "probe" {
				t.Fatalf("ping payload %q", p)
			}
			pings++
			continue
		}
		m := &tickwirev1.ServerMessage{}
		if err := proto.Unmarshal(p, m); err != nil {
			t.Fatalf("frame %d does not decode: %v", states+events, err)
		}
		if st := m.GetState(); st != nil {
			if st.Tick <= last || len(st.Payload) != len(payload) {
				t.Fatalf("state tick %d after %d, payload %d", st.Tick, last, len(st.Payload))
			}
			last = st.Tick
			states++
		} else {
			events++
		}
		if last == n && events == n/50+n/30 && pings == n/40 {
			break
		}
	}
	// Replaced states prove the writer role was busy finishing a partial
	// direct write while the reader was paused.
	if states == n {
		t.Fatal("the socket never filled; the partial path was not exercised")
	}
	t.Logf("%d of %d states delivered (the rest replaced while the socket was full)", states, n)
	if s.Baseline() != n {
		t.Fatalf("baseline %d, want %d", s.Baseline(), n)
	}
}

// TestProbeGoesOutWithTheState: the sweep's slow-consumer probe of a player
// in a room waits for the room's next tick and goes out in its write, ahead
// of the state; a probe no tick took (a stalled room) is written at the
// next sweep.
func TestProbeGoesOutWithTheState(t *testing.T) {
	s, r := rawTestSession(t)
	s.room = &roomrt.Room{} // in a room: only probed then
	queued := func() (int, bool) { return queuedFrames(s) }
	next := func() (byte, []byte) {
		t.Helper()
		op, p, err := readWSFrame(r)
		if err != nil {
			t.Fatal(err)
		}
		return op, p
	}
	const ping = 0x80 | byte(gws.OpcodePing)

	now := time.Now()
	if s.slowProbe(now) {
		t.Fatal("probe closed the session")
	}
	if n, writing := queued(); n != 1 || writing {
		t.Fatalf("after the sweep: %d frames queued, writer %v; want the probe waiting for the tick", n, writing)
	}
	s.Hold()
	s.SendState(roomrt.StateFrame{Tick: 7, Payload: []byte{1}})
	s.Release()
	if op, p := next(); op != ping || binary.BigEndian.Uint64(p) != uint64(now.UnixNano()) {
		t.Fatalf("first frame op %#x payload %x, want the probe", op, p)
	}
	op, p := next()
	m := &tickwirev1.ServerMessage{}
	if err := proto.Unmarshal(p, m); err != nil || op != 0x82 || m.GetState().GetTick() != 7 {
		t.Fatalf("second frame op %#x %v (%v), want the state of tick 7", op, m, err)
	}

	// The room stalls: no tick takes the next probe; the sweep after
	// writes it.
	s.probeAnswered(binary.BigEndian.AppendUint64(nil, uint64(now.UnixNano())))
	later := now.Add(probeInterval)
	s.slowProbe(later)
	if n, _ := queued(); n != 1 {
		t.Fatalf("%d frames queued, want the second probe", n)
	}
	s.slowProbe(later.Add(probeInterval / 2))
	if op, p := next(); op != ping || binary.BigEndian.Uint64(p) != uint64(later.UnixNano()) {
		t.Fatalf("frame op %#x payload %x, want the second probe", op, p)
	}
}

// BenchmarkHeldStates measures a player's writes on loopback, per state:
// a tick on its own (Hold, one state, Release: one write), and a batch of
// four late ticks (four states held, one write), as a room that is behind
// runs them. A goroutine reads and discards what the client receives.
func BenchmarkHeldStates(b *testing.B) {
	for _, ticks := range []int{1, 4} {
		b.Run(fmt.Sprintf("ticks=%d", ticks), func(b *testing.B) {
			client, server := tcpPair(b)
			s := &session{e: testEngine(b), id: "s", ws: framedWS{server}, created: time.Now(), raw: newRawWriter(server)}
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, _ = io.Copy(io.Discard, client)
			}()
			payload := bytes.Repeat([]byte{3}, 50)
			b.ReportAllocs()
			tick := uint32(0)
			for b.Loop() {
				s.Hold()
				for range ticks {
					tick++
					s.SendState(roomrt.StateFrame{Tick: tick, Baseline: tick - 1, LastSeq: tick, Payload: payload})
				}
				s.Release()
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(tick), "ns/state")
			_ = server.Close()
			<-done
		})
	}
}
