//go:build linux && (amd64 || arm64)

package engine

import (
	"fmt"
	"net"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

// startLobby starts e's lobby reader, stopped at the end of the test.
func startLobby(tb testing.TB, e *Engine) *lobbyReader {
	tb.Helper()
	l, err := newLobbyReader(e)
	if err != nil {
		tb.Fatal(err)
	}
	e.lobby.Store(l)
	tb.Cleanup(func() {
		e.lobby.Store(nil)
		l.stop()
	})
	return l
}

// lobbySession returns a session over a loopback socket, after its Hello,
// in no room and registered with e's lobby reader.
func lobbySession(tb testing.TB, e *Engine) (s *session, cli, srv net.Conn) {
	tb.Helper()
	cli, srv = tcpPair(tb)
	s = &session{e: e, id: "s", ws: framedWS{srv}, created: time.Now(), raw: newRawWriter(srv), rr: newRawReader(srv)}
	s.parser.maxMsg = e.cfg.MaxMessageSize
	s.hello.Store(true)
	s.identity = Identity{UserID: "u", Name: "u"}
	if !s.handOff() {
		tb.Fatal("no hand-off to the lobby")
	}
	return s, cli, srv
}

// waitFor waits until cond holds (10 s at most).
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
	}
}

// drainClient reads what the server wrote to cli until the test ends.
func drainClient(tb testing.TB, cli net.Conn) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 4096)
		for {
			if _, err := cli.Read(b); err != nil {
				return
			}
		}
	}()
	tb.Cleanup(func() { _ = cli.Close(); <-done })
}

// Frames that reach the lobby reader split across reads, at every byte, are
// handled once each and in order: Pings (messages and control frames)
// there, and the Join at the end on a read goroutine that puts the
// session in its room.
func TestLobbyReaderFramesSplitAcrossReads(t *testing.T) {
	e := testEngine(t)
	startLobby(t, e)
	var stream []byte
	const pings = 3
	for i := range pings {
		m, _ := proto.Marshal(&tickwirev1.ClientMessage{RequestId: uint32(i + 1), Kind: &tickwirev1.ClientMessage_Ping{Ping: &tickwirev1.Ping{ClientTimeMs: 1}}})
		stream = append(stream, clientFrame(0x82, m, testKey)...)
		stream = append(stream, clientFrame(0x89, []byte("p"), testKey)...)
	}
	// A message in two fragments with a control frame between them.
	big, _ := proto.Marshal(&tickwirev1.ClientMessage{RequestId: 9, Kind: &tickwirev1.ClientMessage_Ping{Ping: &tickwirev1.Ping{ClientTimeMs: 2}}})
	stream = append(stream, clientFrame(0x02, big[:3], testKey)...)
	stream = append(stream, clientFrame(0x8a, nil, testKey)...)
	stream = append(stream, clientFrame(0x80, big[3:], testKey)...)
	join, _ := proto.Marshal(&tickwirev1.ClientMessage{RequestId: 10, Kind: &tickwirev1.ClientMessage_Join{Join: &tickwirev1.Join{RoomType: "r"}}})
	stream = append(stream, clientFrame(0x82, join, testKey)...)
	const msgs = pings + 2 // binary messages: the Pings, the fragmented Ping, the Join

	for k := 1; k < len(stream); k++ {
		t.Run(fmt.Sprint("split at ", k), func(t *testing.T) {
			s, cli, srv := lobbySession(t, e)
			drainClient(t, cli)
			for _, part := range [][]byte{stream[:k], stream[k:]} {
				if _, err := cli.Write(part); err != nil {
					t.Fatal(err)
				}
				waitFor(t, "the lobby read the part", func() bool { return !readable(t, srv) })
			}
			waitFor(t, "every message handled, the session in its room", func() bool {
				r, _ := s.current()
				return s.io.msgsIn.Load() == msgs && r != nil && s.pollRoom.Load() == r
			})
		})
	}
}

// The lobby reader hands a connection whose socket the engine closed to a
// read goroutine, which cleans the session up: a closed socket leaves epoll
// without an event.
func TestLobbyReaderSocketClosedByTheEngine(t *testing.T) {
	e := testEngine(t)
	l := startLobby(t, e)
	s, _, _ := lobbySession(t, e)
	e.mu.Lock()
	e.sessions[s] = struct{}{}
	e.mu.Unlock()
	s.abort()
	waitFor(t, "the session removed", func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(e.sessions) == 0 && len(l.conns) == 0
	})
}

// BenchmarkLobbyReadPong measures the lobby reader's read of an idle
// connection's keepalive answer (a control Pong): the non-blocking
// recvmsg(2), frame parsing and handling. Clients write one Pong each to
// 256 connections outside the timer, then the lobby reads the 256 (as one
// epoll_wait wake-up does).
func BenchmarkLobbyReadPong(b *testing.B) {
	const conns = 256
	e := testEngine(b)
	l := startLobby(b, e)
	type pair struct {
		s        *session
		cli, srv net.Conn
	}
	pairs := make([]pair, conns) // not registered: the benchmark reads them, not the lobby's goroutine
	for i := range pairs {
		cli, srv := tcpPair(b)
		s := &session{e: e, id: "s", ws: framedWS{srv}, created: time.Now(), raw: newRawWriter(srv), rr: newRawReader(srv)}
		s.parser.maxMsg = e.cfg.MaxMessageSize
		s.hello.Store(true)
		pairs[i] = pair{s, cli, srv}
	}
	pong := clientFrame(0x8a, nil, testKey)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		b.StopTimer()
		k := min(conns, b.N-done)
		for _, p := range pairs[:k] {
			if _, err := p.cli.Write(pong); err != nil {
				b.Fatal(err)
			}
		}
		for _, p := range pairs[:k] {
			for j := 0; j < 1000 && !readable(b, p.srv); j++ {
			}
		}
		b.StartTimer()
		for _, p := range pairs[:k] {
			l.read(p.s)
		}
		done += k
	}
	b.StopTimer()
	for _, p := range pairs {
		if p.s.readBroken {
			b.Fatal("read broken")
		}
	}
}
