package roomrt

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
)

// meeting makes the first two socket calls of a tick meet: the first
// waits until the second starts. Armed only when a helper took the tick's
// batch, so the two are on different goroutines (the room's and the
// helper's: the one waiting holds its chunk, the other takes the next),
// which makes sure helpers do make calls and that calls overlap.
type meeting struct {
	room  *Room
	calls atomic.Int32
	met   chan struct{}
	held  atomic.Int32 // ticks on which two calls met
}

func (m *meeting) reset() { m.calls.Store(0); m.met = make(chan struct{}) }

func (m *meeting) meet() {
	if m.room.par.enlisted.Load() == 0 {
		return
	}
	switch m.calls.Add(1) {
	case 1:
		<-m.met
	case 2:
		m.held.Add(1)
		close(m.met)
	}
}

// parConn is a player of a big room: it reads on the tick (each Poll
// posts one input) and batches (Hold, Release), and it records its states
// and the order of its calls, failing on two calls at once. Poll and
// SendState call wait first, when set.
type parConn struct {
	fakeConn
	wait   func()
	r      *Room
	player uint32
	seq    uint32
	busy   atomic.Bool
	mu     sync.Mutex
	calls  []string
	errs   []string
}

func (c *parConn) enter(what string) {
	if !c.busy.CompareAndSwap(false, true) {
		c.mu.Lock()
		c.errs = append(c.errs, what+" while another call of this conn runs")
		c.mu.Unlock()
	}
	c.mu.Lock()
	c.calls = append(c.calls, what)
	c.mu.Unlock()
}

func (c *parConn) leave() { c.busy.Store(false) }

func (c *parConn) Poll(r *Room) {
	c.enter("poll")
	defer c.leave()
	if r != c.r {
		panic("polled by another room")
	}
	if c.wait != nil {
		c.wait()
	}
	c.seq++
	_ = r.PostInput(c.player, c.seq, 0, []byte{byte(c.seq)})
}

func (c *parConn) SendState(f StateFrame) {
	c.enter("state")
	defer c.leave()
	if c.wait != nil {
		c.wait()
	}
	c.fakeConn.SendState(f)
}

func (c *parConn) Hold()    { c.enter("hold"); c.leave() }
func (c *parConn) Release() { c.enter("release"); c.leave() }

func (c *parConn) log() ([]string, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	calls, errs := c.calls, c.errs
	c.calls, c.errs = nil, nil
	return calls, errs
}

// bigRoom is a driven room of n parConns with helpers helpers (0: none);
// its conns' calls go through a meeting.
func bigRoom(t *testing.T, n, helpers int) (*Driver, []*parConn, *meeting) {
	t.Helper()
	d, err := NewDriver(Define(Config{MaxPlayers: n, ParallelIOPlayers: n / 2}, func() THandler[*structpb.Struct] { return mover{} }), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.SetHelpers(helpers)
	t.Cleanup(d.Close)
	m := &meeting{room: d.Room()}
	m.reset()
	conns := make([]*parConn, n)
	for i := range conns {
		c := &parConn{wait: m.meet, r: d.Room()}
		c.autoAck = true
		res, err := d.Join(JoinRequest{Conn: c})
		if err != nil {
			t.Fatal(err)
		}
		c.player = res.PlayerID
		c.log() // forget the join
		conns[i] = c
	}
	return d, conns, m
}

// A big room reads its players' sockets and writes their states on helper
// goroutines too, and each player still gets, every tick, exactly the
// state frame (tick, baseline, payload) a room without helpers sends, its
// calls in order (poll, hold, state, release) and never two at once.
func TestBigRoomSpreadsSocketCalls(t *testing.T) {
	const players = 40
	par, pconns, m := bigRoom(t, players, 1)
	ser, sconns, _ := bigRoom(t, players, 0)
	ticks := 0
	for ; m.held.Load() < 6 && ticks < 1000; ticks++ {
		m.reset()
		par.Tick()
		ser.Tick()
		for i, c := range pconns {
			calls, errs := c.log()
			if len(errs) > 0 {
				t.Fatalf("tick %d, player %d: %q", ticks+1, i+1, errs)
			}
			if got := strings.Join(calls, " "); got != "poll hold state release" {
				t.Fatalf("tick %d, player %d: calls %q, want poll hold state release", ticks+1, i+1, got)
			}
			_, got, _ := c.snapshot()
			_, want, _ := sconns[i].snapshot()
			if len(got) != ticks+1 || len(want) != ticks+1 {
				t.Fatalf("tick %d, player %d: %d states with helpers, %d without, want %d", ticks+1, i+1, len(got), len(want), ticks+1)
			}
			g, w := got[ticks], want[ticks]
			if g.Tick != w.Tick || g.Baseline != w.Baseline || g.LastSeq != w.LastSeq || !bytes.Equal(g.Payload, w.Payload) {
				t.Fatalf("tick %d, player %d: state %+v with helpers, %+v without", ticks+1, i+1, g, w)
			}
		}
		for _, c := range sconns {
			c.log()
		}
	}
	if m.held.Load() < 6 {
		t.Fatalf("a helper took part in %d of %d ticks' socket calls, want 6", m.held.Load(), ticks)
	}
}

// A room that finds the helpers busy with another room's calls does its
// own: two big rooms sharing one helper both finish their ticks, neither
// waiting for the other's work.
func TestBigRoomsShareOneHelper(t *testing.T) {
	const players = 20
	a, aconns, _ := bigRoom(t, players, 0)
	b, bconns, _ := bigRoom(t, players, 0)
	pool := newHelperPool(1)
	t.Cleanup(pool.stop)
	a.Room().helpers, b.Room().helpers = pool, pool

	// a's socket calls block while the test holds them (once a helper
	// has taken a's batch: then the helper and a's goroutine are both
	// stuck in a's calls).
	var block atomic.Pointer[chan struct{}]
	entered := make(chan struct{}, 2*players)
	for _, c := range aconns {
		c.wait = func() {
			if p := block.Load(); p != nil && a.Room().par.enlisted.Load() > 0 {
				entered <- struct{}{}
				<-*p
			}
		}
	}
	for _, c := range bconns {
		c.wait = nil
	}

	for attempt := 0; ; attempt++ {
		if attempt == 1000 {
			t.Fatal("the helper never took room a's socket calls")
		}
		ch := make(chan struct{})
		block.Store(&ch)
		aDone := make(chan struct{})
		go func() { a.Tick(); close(aDone) }()
		n := 0
	wait:
		for n < 2 {
			select {
			case <-entered:
				n++
			case <-aDone:
				break wait // no helper took a's batch: again
			}
		}
		if n < 2 {
			block.Store(nil)
			close(ch)
			for len(entered) > 0 {
				<-entered
			}
			continue
		}
		// The only helper is stuck in room a's calls; room b ticks alone.
		bDone := make(chan struct{})
		go func() { b.Tick(); close(bDone) }()
		select {
		case <-bDone:
		case <-time.After(10 * time.Second):
			close(ch) // let a and the helper go, so the cleanup ends
			t.Fatal("room b waited for room a's helper")
		}
		if got := b.Room().par.enlisted.Load(); got != 0 {
			t.Fatalf("room b enlisted %d helpers while the only one was busy", got)
		}
		block.Store(nil)
		close(ch)
		<-aDone
		break
	}
	for _, conns := range [][]*parConn{aconns, bconns} {
		want := len(conns[0].states)
		for i, c := range conns {
			_, states, _ := c.snapshot()
			if len(states) != want || want == 0 {
				t.Fatalf("player %d got %d states, player 1 %d", i+1, len(states), want)
			}
		}
	}
}

// Shutdown stops the registry's helpers and waits for them.
func TestShutdownWaitsForHelpers(t *testing.T) {
	clock := NewManualClock(time.Unix(1000, 0))
	reg := NewRegistry(RegistryConfig{Clock: clock, Helpers: 2})
	if err := reg.Register("big", Define(Config{MaxPlayers: 8, ParallelIOPlayers: 4}, func() THandler[*structpb.Struct] { return mover{} })); err != nil {
		t.Fatal(err)
	}
	hs := &harness{t: t, clock: clock, reg: reg}
	r, err := reg.Create(context.Background(), "big", CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]*fakeConn, 8)
	for i := range conns {
		conns[i] = &fakeConn{}
		hs.join(r, conns[i])
	}
	hs.step(r, 2)
	if !reg.helpers.started.Load() {
		t.Fatal("a big room's tick did not start the helpers")
	}
	if got := helperGoroutines(); got != 2 {
		t.Fatalf("%d helper goroutines running, want 2", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	_ = reg.Shutdown(ctx)
	// Shutdown waited for them; the goroutines end right after.
	hs.waitFor(func() bool { return helperGoroutines() == 0 }, "the helper goroutines to end")
	if reg.helpers.offer(&parBatch{}) {
		t.Fatal("a helper took work after Shutdown")
	}
}

func helperGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "roomrt.(*helperPool).help(")
}
