package game

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	arenav1 "github.com/tickwire/tickwire/examples/arena/proto/arena/v1"
	"github.com/tickwire/tickwire/internal/roomrt"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/proto/wire"
)

// sinkConn is a player's connection that keeps up: every state frame is
// built as the engine builds it (the State envelope in a WebSocket frame,
// in a buffer reused frame after frame), counted, dropped, and becomes
// the baseline of the next, as if the socket took it at once.
//
// With sock set, the frame is also written to a loopback TCP socket (a
// read goroutine on the other end discards what arrives, as a client
// would): the system call and the kernel's work on both ends of the
// connection, which is most of a big room's tick on a node.
type sinkConn struct {
	baseline uint32
	buf      []byte
	states   int
	bytes    int
	sock     net.Conn
}

func (c *sinkConn) SendState(f roomrt.StateFrame) {
	c.buf = append(c.buf[:0], 0x82, 0, 0, 0) // WebSocket header room
	c.buf = wire.AppendState(c.buf, wire.State{Tick: f.Tick, Baseline: f.Baseline, LastInputSeq: f.LastSeq, Payload: f.Payload})
	c.baseline = f.Tick
	c.states++
	c.bytes += len(c.buf) - 4
	if c.sock != nil {
		if _, err := c.sock.Write(c.buf); err != nil {
			panic(err)
		}
	}
}
func (c *sinkConn) SendFrame([]byte)                                   {}
func (c *sinkConn) Baseline() uint32                                   { return c.baseline }
func (c *sinkConn) Reject(tickwirev1.ErrorCode, string)                {}
func (c *sinkConn) Removed(string, uint32, roomrt.LeaveReason, string) {}
func (c *sinkConn) Superseded(string, uint32)                          {}

// largeTick is an "arena-large" room of n players driven tick by tick on
// the caller's goroutine, the players walking and tagging as the load
// test's bots do: a direction of 16, changed about once a second, a tag
// on about one input a second.
type largeTick struct {
	d       *roomrt.Driver
	conns   []*sinkConn
	ids     []uint32
	seq     uint32
	rng     *rand.Rand
	dir     []int
	walk    [16][]byte
	tagging [16][]byte
}

func newLargeTick(tb testing.TB, n int, noInterest bool) *largeTick {
	def := RoomTypesOf(Options{LargePlayers: n, LargeNoInterest: noInterest})["arena-large"]
	d, err := roomrt.NewDriver(def, nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(d.Close)
	lt := &largeTick{d: d, rng: rand.New(rand.NewPCG(1, 2)), dir: make([]int, n)}
	for i := range 16 {
		a := 2 * math.Pi * float64(i) / 16
		in := &arenav1.Input{MoveX: int32(math.Round(127 * math.Cos(a))), MoveY: int32(math.Round(127 * math.Sin(a)))}
		lt.walk[i], _ = proto.Marshal(in)
		in.Tag = true
		lt.tagging[i], _ = proto.Marshal(in)
	}
	opts, _ := proto.Marshal(&arenav1.JoinOptions{Name: "bot"})
	for i := range n {
		c := &sinkConn{}
		res, err := d.Join(roomrt.JoinRequest{UserID: fmt.Sprint("u", i), Conn: c, Options: opts})
		if err != nil {
			tb.Fatal(err)
		}
		lt.conns, lt.ids = append(lt.conns, c), append(lt.ids, res.PlayerID)
		lt.dir[i] = lt.rng.IntN(16)
	}
	return lt
}

// tick posts every player's input and runs one tick.
func (lt *largeTick) tick() {
	lt.seq++
	r := lt.d.Room()
	for i, id := range lt.ids {
		if lt.rng.IntN(20) == 0 {
			lt.dir[i] = lt.rng.IntN(16)
		}
		payload := lt.walk[lt.dir[i]]
		if lt.rng.IntN(20) == 0 {
			payload = lt.tagging[lt.dir[i]]
		}
		_ = r.PostInput(id, lt.seq, 0, payload)
	}
	lt.d.Tick()
}

// withSockets gives every player of lt a loopback TCP connection (see
// sinkConn), read by a goroutine that discards what arrives; all are
// closed and waited for when the test ends.
func (lt *largeTick) withSockets(tb testing.TB) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	var wg sync.WaitGroup
	tb.Cleanup(wg.Wait)
	for _, c := range lt.conns {
		w, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			tb.Fatal(err)
		}
		r, err := ln.Accept()
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = w.Close(); _ = r.Close() })
		c.sock = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = io.Copy(io.Discard, r)
		}()
	}
}

// BenchmarkLargeRoomTick measures one whole tick of a 200-player
// "arena-large" room, with interest management (each player sent its 16
// nearest) and without: 200 inputs posted and applied, the rules, the
// snapshot, each player's view and patch, and 200 state frames built as
// the engine builds them (up to the socket write, to a discard sink).
// After 10 s of play, as in BenchmarkLargeRoomView.
//
// The sockets modes write each frame to a loopback TCP connection too
// (sinkConn.sock), from the room goroutine alone (serial) or spread over
// it and GOMAXPROCS-1 helpers (parallel, room.Config.ParallelIOPlayers).
func BenchmarkLargeRoomTick(b *testing.B) {
	const players = 200
	for _, mode := range []struct {
		name       string
		noInterest bool
		sockets    bool
		helpers    int
	}{
		{"interest", false, false, 0},
		{"no-interest", true, false, 0},
		{"interest-sockets/serial", false, true, 0},
		{"interest-sockets/parallel", false, true, runtime.GOMAXPROCS(0) - 1},
	} {
		b.Run(mode.name, func(b *testing.B) {
			lt := newLargeTick(b, players, mode.noInterest)
			if mode.sockets {
				lt.withSockets(b)
			}
			lt.d.SetHelpers(mode.helpers)
			for range 200 {
				lt.tick()
			}
			var before, after runtime.MemStats
			states, bytes := 0, 0
			for _, c := range lt.conns {
				states, bytes = states-c.states, bytes-c.bytes
			}
			runtime.ReadMemStats(&before)
			b.ReportAllocs()
			b.ResetTimer()
			n := 0
			for b.Loop() {
				lt.tick()
				n++
			}
			b.StopTimer()
			runtime.ReadMemStats(&after)
			for _, c := range lt.conns {
				states, bytes = states+c.states, bytes+c.bytes
			}
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(n)/players, "allocs/player/tick")
			b.ReportMetric(float64(bytes)/float64(states), "B/state")
		})
	}
}
