package roomrt

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
)

func TestPacerBeginOnPhaseGrid(t *testing.T) {
	t0 := time.Unix(1000, 0)
	iv := 50 * time.Millisecond
	tests := []struct {
		name      string
		now       time.Duration // after t0
		anchor    time.Duration // after t0
		wantFirst time.Duration // after t0
	}{
		{"on the anchor: one interval later", 0, 0, 50 * time.Millisecond},
		{"between grid points: the next one", 10 * time.Millisecond, 0, 50 * time.Millisecond},
		{"phase half a period", 0, 25 * time.Millisecond, 25 * time.Millisecond},
		{"anchor in the past, many periods", 1010 * time.Millisecond, 25 * time.Millisecond, 1025 * time.Millisecond},
		{"anchor in the future", 0, 130 * time.Millisecond, 30 * time.Millisecond},
		{"exactly on a later grid point", 75 * time.Millisecond, 25 * time.Millisecond, 125 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p pacer
			p.begin(t0.Add(tt.now), t0.Add(tt.anchor), iv)
			if got := p.next.Sub(t0); got != tt.wantFirst {
				t.Fatalf("first tick at +%v, want +%v", got, tt.wantFirst)
			}
		})
	}
}

// TestPacerBoundedCatchUp drives a pacer the way a room does (take until
// nothing is due) and checks which ticks run, how late, and what is skipped.
func TestPacerBoundedCatchUp(t *testing.T) {
	t0 := time.Unix(1000, 0)
	iv := 50 * time.Millisecond
	ms := time.Millisecond
	tests := []struct {
		name      string
		maxBehind int
		at        time.Duration // when the room gets to run, after the first tick's due time
		wantLate  []time.Duration
		wantSkip  int
	}{
		{"on time", 5, 0, []time.Duration{0}, 0},
		{"late within one tick", 5, 7 * ms, []time.Duration{7 * ms}, 0},
		{"behind by 3 ticks: all run late, in order", 5, 130 * ms, []time.Duration{130 * ms, 80 * ms, 30 * ms}, 0},
		{"behind by exactly the bound", 2, 100 * ms, []time.Duration{100 * ms, 50 * ms, 0}, 0},
		{"beyond the bound: shift, never more than 2 ticks behind", 2, 420 * ms, []time.Duration{120 * ms, 70 * ms, 20 * ms}, 6},
		{"bound 0: the floor's ticker", 0, 420 * ms, []time.Duration{20 * ms}, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pacer{maxBehind: tt.maxBehind}
			p.begin(t0, t0, iv)
			first := p.next
			now := first.Add(tt.at)
			var late []time.Duration
			skipped := 0
			for {
				l, s, ok := p.take(now)
				if !ok {
					break
				}
				if l >= time.Duration(tt.maxBehind+1)*iv {
					t.Fatalf("a tick ran %v late, more than %d ticks", l, tt.maxBehind)
				}
				late, skipped = append(late, l), skipped+s
			}
			if !slices.Equal(late, tt.wantLate) || skipped != tt.wantSkip {
				t.Fatalf("ran %v late, skipped %d; want %v, %d", late, skipped, tt.wantLate, tt.wantSkip)
			}
			// Every tick up to now was either run or skipped, and the next one
			// is on the original phase, in the future.
			ticks := len(late) + skipped
			if want := int(tt.at/iv) + 1; ticks != want {
				t.Fatalf("ran+skipped %d ticks, want %d", ticks, want)
			}
			if d := p.next.Sub(first); d%iv != 0 || !p.next.After(now) {
				t.Fatalf("next tick at first+%v, want a later grid point after now (+%v)", d, tt.at)
			}
		})
	}
}

func TestPhaseTableSpreadsRooms(t *testing.T) {
	var pt phaseTable
	var got []int
	for range 8 {
		got = append(got, pt.take(10))
	}
	// Each new room halves the largest gap.
	if want := []int{0, 32, 16, 48, 8, 40, 24, 56}; !slices.Equal(got, want) {
		t.Fatalf("phases %v, want %v", got, want)
	}
	// A closed room's phase is the first taken again.
	pt.put(16, 10)
	if s := pt.take(10); s != 16 {
		t.Fatalf("after freeing 16 took %d", s)
	}
	// Weights: a big room counts for its seats.
	var w phaseTable
	w.take(100) // slot 0
	for i := range phaseSlots - 1 {
		if s := w.take(10); s == 0 {
			t.Fatalf("room %d placed on the big room's phase", i)
		}
	}
}

// TestRoomsTickOnSpreadPhases checks that rooms created together tick at
// different phases of the period, each on its own grid.
func TestRoomsTickOnSpreadPhases(t *testing.T) {
	hs := newHarness(t, Config{TickRate: 10})
	a := hs.create(CreateOptions{})
	b := hs.create(CreateOptions{})
	hs.waitFor(func() bool { return hs.clock.Timers() == 2 }, "both rooms' timers")
	// a's phase is 0 (first tick at +100 ms), b's half a period (+50 ms).
	hs.clock.Advance(50 * time.Millisecond)
	hs.waitFor(func() bool { return b.Tick() == 1 }, "b's first tick")
	hs.sync(a)
	if a.Tick() != 0 {
		t.Fatalf("a ticked at b's phase")
	}
	hs.waitFor(func() bool { return hs.clock.Timers() == 2 }, "both rooms' timers")
	hs.clock.Advance(50 * time.Millisecond)
	hs.waitFor(func() bool { return a.Tick() == 1 }, "a's first tick")
	hs.sync(b)
	if b.Tick() != 1 {
		t.Fatalf("b ticked at a's phase")
	}
	// A room closing frees its phase for the next one.
	if err := b.Close(context.Background(), CloseShutdown); err != nil {
		t.Fatal(err)
	}
	hs.waitFor(func() bool { return hs.reg.Len() == 1 }, "b gone")
	c := hs.create(CreateOptions{})
	if c.phase != b.phase {
		t.Fatalf("new room on phase %d, want the freed %d", c.phase, b.phase)
	}
}

// TestRoomBehindRunsLateTicksInOrder checks the room loop with the manual
// clock: behind by k ticks within the bound, every tick runs, late, in
// order, none is skipped.
func TestRoomBehindRunsLateTicksInOrder(t *testing.T) {
	hs := newHarness(t, Config{TickRate: 10, MaxCatchUp: 5})
	r := hs.create(CreateOptions{})
	hs.step(r, 1)
	hs.waitFor(func() bool { return hs.clock.Timers() > 0 }, "timer")
	hs.clock.Advance(400 * time.Millisecond) // 4 ticks due, the oldest 300 ms late
	hs.waitFor(func() bool { return r.Tick() == 5 }, "the late ticks")
	hs.sync(r)
	hs.obs.mu.Lock()
	defer hs.obs.mu.Unlock()
	want := []time.Duration{0, 300 * time.Millisecond, 200 * time.Millisecond, 100 * time.Millisecond, 0}
	if !slices.Equal(hs.obs.late, want) || hs.obs.skipped != 0 {
		t.Fatalf("lateness %v, skipped %d; want %v, 0", hs.obs.late, hs.obs.skipped, want)
	}
}

func BenchmarkPacerTake(b *testing.B) {
	p := pacer{maxBehind: 5}
	t0 := time.Unix(1000, 0)
	p.begin(t0, t0, 50*time.Millisecond)
	now := t0
	for b.Loop() {
		now = now.Add(50 * time.Millisecond)
		if _, _, ok := p.take(now); !ok {
			b.Fatal("no tick due")
		}
	}
}

// batchPollConn is a connection that reads on the tick (Poller) and holds
// what the room sends it (Batcher); it records the calls in order.
type batchPollConn struct {
	pollConn
	log []string // guarded by pollConn.mu
}

func (c *batchPollConn) note(s string) { c.mu.Lock(); c.log = append(c.log, s); c.mu.Unlock() }
func (c *batchPollConn) Poll(r *Room)  { c.note("poll"); c.pollConn.Poll(r) }
func (c *batchPollConn) Hold()         { c.note("hold") }
func (c *batchPollConn) Release()      { c.note("release") }
func (c *batchPollConn) SendState(s StateFrame) {
	c.note(fmt.Sprintf("state %d", s.Tick))
	c.pollConn.SendState(s)
}

// tickInputs records how many inputs each tick applied.
type tickInputs struct {
	counter
	perTick map[uint32]int
}

func (h *tickInputs) Tick(c *Context[*structpb.Struct], in []Input) {
	h.mu.Lock()
	h.perTick[c.r.Tick()] = len(in)
	h.mu.Unlock()
	h.counter.Tick(c, in)
}

// TestRoomBehindRunsItsDueTicksAsOneBatch: a room that wakes with several
// ticks due reads its players' sockets once, runs the ticks back to back
// with every player held, spreads the inputs it read over them, and
// writes each player once with every state of the batch (up to
// maxBatchTicks ticks a batch). A tick on time is a batch of one.
func TestRoomBehindRunsItsDueTicksAsOneBatch(t *testing.T) {
	hs := newHarness(t, Config{TickRate: 10, MaxCatchUp: 5})
	h := &tickInputs{perTick: map[uint32]int{}}
	if err := hs.reg.Register("batch", Define(Config{TickRate: 10, MaxCatchUp: 5}, func() THandler[*structpb.Struct] { return h })); err != nil {
		t.Fatal(err)
	}
	r, err := hs.reg.Create(context.Background(), "batch", CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := &batchPollConn{pollConn: pollConn{r: r}}
	c.fakeConn.autoAck = true
	p := hs.join(r, c)
	c.mu.Lock()
	c.player = p.PlayerID
	c.queued = []uint32{1}
	c.mu.Unlock()
	hs.step(r, 1) // on time: a batch of one

	for _, tc := range []struct {
		due    int      // ticks due when the room wakes
		inputs []uint32 // on the socket then
		want   []int    // inputs applied by each tick of the batch
	}{
		{4, []uint32{2, 3, 4, 5}, []int{1, 1, 1, 1}},
		{3, []uint32{6, 7, 8, 9, 10, 11, 12}, []int{3, 2, 2}}, // capped at MaxInputsPerTick 3
		{2, []uint32{13}, []int{1, 0}},
		{1, []uint32{14, 15}, []int{2}},
		// More than maxBatchTicks due: two batches, the second reads the
		// socket again (empty by then).
		{6, []uint32{16, 17, 18, 19, 20, 21}, []int{2, 2, 1, 1, 0, 0}},
	} {
		c.mu.Lock()
		c.log, c.queued = nil, tc.inputs
		c.mu.Unlock()
		first := r.tickNow.Load() + 1
		hs.waitFor(func() bool { return hs.clock.Timers() > 0 }, "timer")
		hs.clock.Advance(time.Duration(tc.due) * 100 * time.Millisecond)
		last := first + uint32(tc.due) - 1
		hs.waitFor(func() bool { return r.tickNow.Load() == last }, fmt.Sprintf("tick %d", last))
		hs.sync(r)

		var want []string
		for k := first; k <= last; k++ {
			if (k-first)%maxBatchTicks == 0 {
				want = append(want, "poll", "hold")
			}
			want = append(want, fmt.Sprintf("state %d", k))
			if (k-first)%maxBatchTicks == maxBatchTicks-1 || k == last {
				want = append(want, "release")
			}
		}
		c.mu.Lock()
		got := slices.Clone(c.log)
		c.mu.Unlock()
		if !slices.Equal(got, want) {
			t.Fatalf("%d ticks due: calls %q, want %q", tc.due, got, want)
		}
		h.mu.Lock()
		var applied []int
		for k := first; k <= last; k++ {
			applied = append(applied, h.perTick[k])
		}
		h.mu.Unlock()
		if !slices.Equal(applied, tc.want) {
			t.Fatalf("%d ticks due, inputs %v: applied per tick %v, want %v", tc.due, tc.inputs, applied, tc.want)
		}
		// The observer hears which ticks read: the first of each batch.
		hs.obs.mu.Lock()
		ticks := hs.obs.ticks[len(hs.obs.ticks)-tc.due:]
		var polled []bool
		for _, tt := range ticks {
			polled = append(polled, tt.Polled)
			if !tt.Polled && tt.Read != 0 {
				t.Errorf("a tick that did not read has a read phase of %v", tt.Read)
			}
		}
		hs.obs.mu.Unlock()
		for k, p := range polled {
			if p != (k%maxBatchTicks == 0) {
				t.Fatalf("%d ticks due: polled per tick %v", tc.due, polled)
			}
		}
	}
}

// slowPhases is a connection and a handler whose every call in a tick takes
// at least pause: its Poll (read), the handler's Tick (rules), SendState
// (state: the room frames each state as it encodes it), Release (write).
type slowPhases struct {
	batchPollConn
	pause time.Duration
}

func (c *slowPhases) Poll(r *Room)           { time.Sleep(c.pause); c.batchPollConn.Poll(r) }
func (c *slowPhases) SendState(s StateFrame) { time.Sleep(c.pause); c.batchPollConn.SendState(s) }
func (c *slowPhases) Release()               { time.Sleep(c.pause); c.batchPollConn.Release() }

type slowTick struct {
	counter
	pause time.Duration
}

func (h *slowTick) Tick(c *Context[*structpb.Struct], in []Input) {
	time.Sleep(h.pause)
	h.counter.Tick(c, in)
}

// TestTickTimesSplitTheTick: the observer gets each tick split into its
// phases, each holding the calls made in it (the pauses are lower bounds,
// however slow the machine).
func TestTickTimesSplitTheTick(t *testing.T) {
	const pause = 3 * time.Millisecond
	hs := newHarness(t, Config{TickRate: 10})
	if err := hs.reg.Register("slow", Define(Config{TickRate: 10}, func() THandler[*structpb.Struct] { return &slowTick{pause: pause} })); err != nil {
		t.Fatal(err)
	}
	r, err := hs.reg.Create(context.Background(), "slow", CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := &slowPhases{batchPollConn: batchPollConn{pollConn: pollConn{r: r}}, pause: pause}
	c.fakeConn.autoAck = true
	hs.join(r, c)
	hs.step(r, 2)

	hs.obs.mu.Lock()
	tt := hs.obs.ticks[len(hs.obs.ticks)-1]
	hs.obs.mu.Unlock()
	if !tt.Polled {
		t.Fatalf("an on-time tick did not read: %+v", tt)
	}
	for _, ph := range []struct {
		name string
		d    time.Duration
	}{{"read", tt.Read}, {"rules", tt.Rules}, {"state", tt.State}, {"write", tt.Write}} {
		if ph.d < pause {
			t.Errorf("%s phase %v, want at least %v: %+v", ph.name, ph.d, pause, tt)
		}
	}
	if sum := tt.Read + tt.Rules + tt.State + tt.Write; tt.Total < sum {
		t.Errorf("total %v less than its phases %v", tt.Total, sum)
	}
}

// gateTick blocks its Tick, once armed, until released: a room stuck in a
// tick while its clock runs on.
type gateTick struct {
	counter
	entered chan struct{}
	gate    chan struct{} // nil: not armed (guarded by counter.mu)
}

func (h *gateTick) arm() {
	h.mu.Lock()
	h.gate = make(chan struct{})
	h.mu.Unlock()
}

func (h *gateTick) release() {
	h.mu.Lock()
	close(h.gate)
	h.gate = nil
	h.mu.Unlock()
}

func (h *gateTick) Tick(c *Context[*structpb.Struct], in []Input) {
	h.mu.Lock()
	gate := h.gate
	h.mu.Unlock()
	if gate != nil {
		h.entered <- struct{}{}
		<-gate
	}
	h.counter.Tick(c, in)
}

// TestRoomsBehindAreCounted: the registry counts the rooms a tick or more
// behind (while any is, rooms on time take their turn too, see runDue):
// a room counts from the batch that starts behind until it has caught up,
// and a room that closes while behind stops counting.
func TestRoomsBehindAreCounted(t *testing.T) {
	hs := newHarness(t, Config{TickRate: 10})
	h := &gateTick{entered: make(chan struct{}, 1)}
	if err := hs.reg.Register("gate", Define(Config{TickRate: 10, MaxCatchUp: 5}, func() THandler[*structpb.Struct] { return h })); err != nil {
		t.Fatal(err)
	}
	r, err := hs.reg.Create(context.Background(), "gate", CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hs.create(CreateOptions{}) // another room, never stuck
	behind := func() int32 { return hs.reg.behind.Load() }
	hs.step(r, 1)
	if n := behind(); n != 0 {
		t.Fatalf("%d rooms counted behind after a tick on time", n)
	}

	stall := func() {
		t.Helper()
		h.arm()
		hs.waitFor(func() bool { return hs.clock.Timers() >= 2 }, "both rooms' timers")
		hs.clock.Advance(300 * time.Millisecond) // three ticks due
		select {
		case <-h.entered:
		case <-time.After(5 * time.Second):
			t.Fatal("the room did not start its tick")
		}
		// The other room catches up (its ticks do not block) and counts
		// no more; the stuck room counts.
		// (Its timer armed again: it is through with its due ticks.)
		hs.waitFor(func() bool { return behind() == 1 && hs.clock.Timers() == 1 }, "one room behind, the other caught up")
	}
	stall()
	h.release()
	hs.waitFor(func() bool { return behind() == 0 }, "the room caught up")

	stall()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	closed := make(chan error, 1)
	go func() { closed <- r.Close(ctx, CloseRequested) }()
	// The close is queued before the stuck tick ends: the room closes in
	// the middle of its batch, still behind.
	hs.waitFor(func() bool { r.mu.Lock(); defer r.mu.Unlock(); return len(r.controls) > 0 }, "the close queued")
	h.release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if n := behind(); n != 0 {
		t.Fatalf("%d rooms counted behind after the room behind closed", n)
	}
}
