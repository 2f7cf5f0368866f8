//go:build unix

package engine

import (
	"context"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"google.golang.org/protobuf/proto"

	"github.com/tickwire/tickwire/internal/roomrt"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(tb testing.TB) (client, server net.Conn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// polledSession returns a session over a loopback socket that is "in" a
// room (as player 1, a seat the room does not know, so its goroutine never
// polls it) and read by that room: the test calls Poll itself.
func polledSession(tb testing.TB) (s *session, cli, srv net.Conn) {
	tb.Helper()
	e := testEngine(tb)
	cli, srv = tcpPair(tb)
	s = &session{e: e, id: "s", ws: framedWS{srv}, created: time.Now(), raw: newRawWriter(srv), rr: newRawReader(srv)}
	if s.rr == nil {
		tb.Skip("no raw reader on this platform")
	}
	s.parser.maxMsg = e.cfg.MaxMessageSize
	s.hello.Store(true)
	r, err := e.rooms.Create(context.Background(), "r", roomrt.CreateOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	s.room, s.playerID = r, 1
	if !s.handOff() {
		tb.Fatal("no hand-off")
	}
	return s, cli, srv
}

// readable says whether c has bytes to read, without reading them.
func readable(tb testing.TB, c net.Conn) bool { return peekBytes(tb, c, make([]byte, 1)) > 0 }

// peekBytes returns how many bytes wait to be read in c's socket, up to
// len(buf), without reading them (they are copied into buf).
func peekBytes(tb testing.TB, c net.Conn, buf []byte) int {
	tb.Helper()
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		tb.Fatal(err)
	}
	var n int
	if err := rc.Control(func(fd uintptr) {
		n, _, _ = syscall.Recvfrom(int(fd), buf, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	}); err != nil {
		tb.Fatal(err)
	}
	return max(n, 0)
}

// BenchmarkPollInput measures the room goroutine's read of one player's
// Input on the tick: recvmsg(2) with the receive timestamp, frame parsing,
// Input decoding and the post to the room mailbox. Clients write one Input
// each to 256 connections outside the timer, then the 256 are polled.
func BenchmarkPollInput(b *testing.B) {
	const conns = 256
	type pair struct {
		s        *session
		cli, srv net.Conn
	}
	pairs := make([]pair, conns)
	for i := range pairs {
		s, cli, srv := polledSession(b)
		pairs[i] = pair{s, cli, srv}
	}
	frames := make([][]byte, 64)
	for i := range frames {
		m, _ := proto.Marshal(&tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Input{Input: &tickwirev1.Input{Seq: uint32(i + 1), AckTick: 100, Payload: []byte{8, 1, 16, 2, 24, 3}}}})
		frames[i] = clientFrame(0x82, m, testKey)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		b.StopTimer()
		k := min(conns, b.N-done)
		for i, p := range pairs[:k] {
			if _, err := p.cli.Write(frames[(done+i)%len(frames)]); err != nil {
				b.Fatal(err)
			}
		}
		for _, p := range pairs[:k] {
			for j := 0; j < 1000 && !readable(b, p.srv); j++ { // until the server side has it
			}
		}
		b.StartTimer()
		for _, p := range pairs[:k] {
			p.s.Poll(p.s.pollRoom.Load())
		}
		done += k
	}
	b.StopTimer()
	var got uint64
	for _, p := range pairs {
		got += p.s.io.msgsIn.Load()
	}
	if got != uint64(b.N) {
		b.Fatalf("read %d inputs of %d", got, b.N)
	}
}

// FuzzSessionStream feeds arbitrary bytes to a session's reader, on the room
// goroutine's path (Poll) and on the read goroutine's: it must never panic,
// and never leave a frame in s.pending unless it asks for the hand-back.
func FuzzSessionStream(f *testing.F) {
	in, _ := proto.Marshal(&tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Input{Input: &tickwirev1.Input{Seq: 1, Payload: []byte{1}}}})
	leave, _ := proto.Marshal(&tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Leave{Leave: &tickwirev1.Leave{}}})
	f.Add(clientFrame(0x82, in, testKey), true)
	f.Add(append(clientFrame(0x82, in, testKey), clientFrame(0x82, leave, testKey)...), true)
	f.Add(append(clientFrame(0x02, in[:2], testKey), clientFrame(0x80, in[2:], testKey)...), false)
	f.Add(clientFrame(0x88, []byte{3, 232}, testKey), true)
	e := testEngine(f)
	hello, _ := proto.Marshal(&tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Hello{Hello: &tickwirev1.Hello{ProtocolVersion: 1}}})
	join, _ := proto.Marshal(&tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Join{Join: &tickwirev1.Join{RoomType: "r"}}})
	f.Fuzz(func(t *testing.T, data []byte, polled bool) {
		s, _ := testSession(e)
		s.parser.maxMsg = 1 << 12
		s.handle(gws.OpcodeBinary, hello)
		s.handle(gws.OpcodeBinary, join)
		off, back := s.consume(data, time.Now(), polled, time.Now().UnixNano(), true)
		if off > len(data) {
			t.Fatalf("consumed %d of %d bytes", off, len(data))
		}
		if (s.pending != nil) != back || back && !polled {
			t.Fatalf("pending %v, hand-back %v, polled %v", s.pending != nil, back, polled)
		}
		s.keepRest(data, off)
		if back {
			s.pending = nil
			off, _ := s.consume(s.rest, time.Now(), false, 0, false)
			s.keepRest(s.rest, off)
		}
		s.ended(nil)
	})
}

// Only the room that reads the connection reads it: a room the session left
// late (after a join timed out) may still call Poll once.
func TestPollByAnotherRoomReadsNothing(t *testing.T) {
	s, cli, srv := polledSession(t)
	other, err := s.e.rooms.Create(context.Background(), "r", roomrt.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := proto.Marshal(&tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Input{Input: &tickwirev1.Input{Seq: 1}}})
	if _, err := cli.Write(clientFrame(0x82, m, testKey)); err != nil {
		t.Fatal(err)
	}
	for j := 0; j < 1000 && !readable(t, srv); j++ {
		time.Sleep(time.Millisecond)
	}
	s.Poll(other)
	if got := s.io.msgsIn.Load(); got != 0 {
		t.Fatalf("another room's Poll read %d messages", got)
	}
	s.Poll(s.pollRoom.Load())
	if got := s.io.msgsIn.Load(); got != 1 {
		t.Fatalf("the reading room's Poll read %d messages, want 1", got)
	}
}

// While the room reads a socket on the tick, the kernel does not signal
// small amounts of new data (SO_RCVLOWAT): nobody waits on it. A read
// goroutine that takes over must be woken by any data again.
func TestReadOnTickLowWaterMark(t *testing.T) {
	s, _, srv := polledSession(t)
	lowat := func() int {
		rc, err := srv.(syscall.Conn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var v int
		var gerr error
		if err := rc.Control(func(fd uintptr) {
			v, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT)
		}); err != nil || gerr != nil {
			t.Fatal(err, gerr)
		}
		return v
	}
	if got := lowat(); got != pollLowat {
		t.Fatalf("read on the tick: SO_RCVLOWAT = %d, want %d", got, pollLowat)
	}
	// As when the player has left: the new read goroutine keeps reading
	// (while the session is still in the room it would hand reading
	// straight back, raising the mark again).
	s.mu.Lock()
	s.room = nil
	s.mu.Unlock()
	s.handBack(s.pollRoom.Load())
	if got := lowat(); got != 1 {
		t.Fatalf("after the hand-back: SO_RCVLOWAT = %d, want 1", got)
	}
}
