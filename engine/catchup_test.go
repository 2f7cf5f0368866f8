package engine_test

import (
	"slices"
	"sync"
	"testing"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/engine"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/room"
)

// A room whose handler stalls for seven ticks catches up in batches of
// late ticks, each batch's states written to the player at once, each a
// patch on the state before it (held, not yet written, when it was
// encoded). The client gets every tick in order and applies every patch,
// and no tick is skipped.
func TestLateTicksReachTheClientInOrder(t *testing.T) {
	s := start(t, engine.Config{}, room.Config{TickRate: 20})
	rec := &recorder{}
	opts := rec.options(t.Name())
	apply := opts.OnState
	var mu sync.Mutex
	var got []*tickwirev1.State
	opts.OnState = func(st *tickwirev1.State) {
		mu.Lock()
		got = append(got, st)
		mu.Unlock()
		apply(st)
	}
	c, err := client.Dial(ctx5(t), s.url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := c.JoinOrCreate(ctx5(t), "sum", client.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
	eventually(t, "three states", func() bool { return count() >= 3 })
	if err := c.SendMessage(wrapperspb.String("stall")); err != nil {
		t.Fatal(err)
	}
	before := count()
	eventually(t, "the ticks after the stall", func() bool { return count() >= before+20 })

	mu.Lock()
	states := slices.Clone(got)
	mu.Unlock()
	for i, st := range states[1:] {
		prev := states[i]
		if st.Tick != prev.Tick+1 || st.BaselineTick != prev.Tick {
			t.Fatalf("state %d: tick %d on baseline %d after tick %d; want every tick, each a patch on the one before", i+1, st.Tick, st.BaselineTick, prev.Tick)
		}
	}
	rec.mu.Lock()
	errs := slices.Clone(rec.errs)
	rec.mu.Unlock()
	if len(errs) > 0 {
		t.Fatalf("states the client could not apply: %v", errs)
	}
	if n := metricValue(t, s, "tickwire_ticks_skipped_total"); n != 0 {
		t.Fatalf("%v ticks skipped, want 0 (MaxCatchUp 10 covers the stall)", n)
	}
	// The late ticks ran late, as late ticks (not skipped, not shifted):
	// the first after the stall at least 250 ms behind its schedule.
	all := metricValue(t, s, "tickwire_tick_lateness_seconds_count")
	if onTime := metricValue(t, s, `tickwire_tick_lateness_seconds_bucket{le="0.25"}`); onTime >= all {
		t.Fatalf("all %v ticks started within 250 ms of their schedule; the stall made none late", all)
	}
}
