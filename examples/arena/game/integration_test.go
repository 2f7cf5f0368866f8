package game

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/engine"
	arenav1 "github.com/tickwire/tickwire/examples/arena/proto/arena/v1"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/room"
	"github.com/tickwire/tickwire/tickwiretest"
)

// serve starts a node with one room type made by newArena.
func serve(t *testing.T, cfg room.Config, newArena func() *Arena) string {
	t.Helper()
	n := tickwiretest.StartNode(t, engine.Config{}, map[string]*room.Definition{
		"t": room.Define(cfg, func() room.Handler[*arenav1.State, *arenav1.Input] { return newArena() }),
	})
	return n.URL
}

type player struct {
	c      *client.Client
	states *client.StateTracker[*arenav1.State]
	id     uint32
	mu     sync.Mutex
	tagged []*arenav1.Tagged
	errs   []tickwirev1.ErrorCode
}

func join(t *testing.T, url string) *player {
	t.Helper()
	p := &player{states: client.NewStateTracker[*arenav1.State]()}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, url, client.Options{
		OnState: func(st *tickwirev1.State) {
			if _, err := p.states.Apply(st); err != nil {
				t.Errorf("apply state: %v", err)
			}
		},
		OnEvent: func(m *tickwirev1.ServerMessage) {
			if e := m.GetError(); e != nil {
				p.mu.Lock()
				p.errs = append(p.errs, e.Code)
				p.mu.Unlock()
			}
			if msg := m.GetMessage(); msg != nil && msg.TypeName == string((&arenav1.Tagged{}).ProtoReflect().Descriptor().FullName()) {
				ev := &arenav1.Tagged{}
				_ = proto.Unmarshal(msg.Payload, ev)
				p.mu.Lock()
				p.tagged = append(p.tagged, ev)
				p.mu.Unlock()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	j, err := c.JoinOrCreate(ctx, "t", client.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.c, p.id = c, j.PlayerId
	return p
}

func (p *player) input(t *testing.T, in *arenav1.Input) {
	b, _ := proto.Marshal(in)
	if _, err := p.c.SendInput(b); err != nil {
		t.Fatal(err)
	}
}

func (p *player) sees(id uint32) (x int32, ok bool) {
	st, _, _, have := p.states.Latest()
	if !have {
		return 0, false
	}
	pl := st.Players[id]
	return pl.GetX(), pl != nil
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// q converts world units to quarter units.
func q(v int32) int32 { return v * Quantum }

func TestInterestManagementOnLargeMap(t *testing.T) {
	url := serve(t, room.Config{TickRate: 50, MaxPlayers: 4, InterestField: "players"}, func() *Arena {
		a := NewMap(Map{Width: 4000, Height: 1000, ViewRadius: 300})
		a.Spawn = func(id uint32) (int32, int32) { return q(100 + 1000*int32(id-1)), q(500) }
		return a
	})
	a, b := join(t, url), join(t, url)
	waitUntil(t, "A sees itself", func() bool { _, ok := a.sees(a.id); return ok })
	time.Sleep(100 * time.Millisecond)
	if _, ok := a.sees(b.id); ok {
		t.Fatal("A sees B 1000 units away with a 300 unit view")
	}
	// B walks left toward A: 12 units per input.
	for i := 0; i < 70; i++ {
		b.input(t, &arenav1.Input{MoveX: -127})
		time.Sleep(5 * time.Millisecond)
	}
	waitUntil(t, "B enters A's view", func() bool { _, ok := a.sees(b.id); return ok })
	// And leaves it again.
	for i := 0; i < 70; i++ {
		b.input(t, &arenav1.Input{MoveX: 127})
		time.Sleep(5 * time.Millisecond)
	}
	waitUntil(t, "B leaves A's view", func() bool { _, ok := a.sees(b.id); return !ok })
	st, _, _, _ := a.states.Latest()
	if st.WorldWidth != 4000 || st.WorldHeight != 1000 {
		t.Fatalf("world size in state = %dx%d", st.WorldWidth, st.WorldHeight)
	}
}

func TestTagIsLagCompensated(t *testing.T) {
	for _, tt := range []struct {
		name    string
		rttMs   float32
		wantHit bool
	}{
		{"without latency the runner is out of range", 0, false},
		{"with 700ms of latency the tagger saw it in range", 600, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			url := serve(t, room.Config{TickRate: 20, MaxPlayers: 2}, func() *Arena {
				a := NewMap(Standard)
				a.Spawn = func(id uint32) (int32, int32) { return q(100 + 40*int32(id-1)), q(400) }
				return a
			})
			tagger, runner := join(t, url), join(t, url)
			// The tagger reports its latency: RTT plus 100 ms interpolation.
			if err := tagger.c.SendRaw(&tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Ping{Ping: &tickwirev1.Ping{RttMs: tt.rttMs, InterpDelayMs: 100}}}); err != nil {
				t.Fatal(err)
			}
			// Let the lag history fill with both players standing 40 units apart.
			time.Sleep(1200 * time.Millisecond)
			// The runner gets 8 steps (96 units) away within 3 ticks (3 inputs
			// a tick): out of TAG_RANGE (64) now, in range 0.7 s (14 ticks) ago.
			for range 8 {
				runner.input(t, &arenav1.Input{MoveX: 127})
			}
			waitUntil(t, "runner moved", func() bool { x, _ := tagger.sees(runner.id); return x >= q(140+96) })
			tagger.input(t, &arenav1.Input{Tag: true})
			time.Sleep(300 * time.Millisecond)
			tagger.mu.Lock()
			hit := len(tagger.tagged) > 0
			tagger.mu.Unlock()
			if hit != tt.wantHit {
				t.Fatalf("tag landed = %v, want %v", hit, tt.wantHit)
			}
		})
	}
}

func TestUndecodableInputRejected(t *testing.T) {
	url := serve(t, room.Config{TickRate: 50}, func() *Arena {
		a := NewMap(Standard)
		a.Spawn = func(uint32) (int32, int32) { return q(200), q(200) }
		return a
	})
	p := join(t, url)
	waitUntil(t, "first state", func() bool { _, ok := p.sees(p.id); return ok })
	if _, err := p.c.SendInput([]byte{0xff, 0xff}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "INVALID_INPUT error frame", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.errs) == 1 && p.errs[0] == tickwirev1.ErrorCode_ERROR_CODE_INVALID_INPUT
	})
	// The player keeps playing.
	p.input(t, &arenav1.Input{MoveX: 127})
	waitUntil(t, "next input applied", func() bool { x, _ := p.sees(p.id); return x == q(212) })
}

// Players whose views coincide (the same entities in view, the same
// baseline) share one encoded state per tick: two players on one spot and
// two alone cost three encodings a tick, not four. Every player's states
// still apply (the client's tracker checks each patch against its base).
func TestCoincidingViewsShareOneEncoding(t *testing.T) {
	spots := map[uint32]int32{1: 100, 2: 100, 3: 2000, 4: 3800}
	n := tickwiretest.StartNode(t, engine.Config{}, map[string]*room.Definition{
		"t": room.Define(room.Config{TickRate: 50, MaxPlayers: 4, InterestField: "players"}, func() room.Handler[*arenav1.State, *arenav1.Input] {
			a := NewMap(Map{Width: 4000, Height: 1000, ViewRadius: 300})
			a.Spawn = func(id uint32) (int32, int32) { return q(spots[id]), q(500) }
			return a
		}),
	})
	ps := []*player{join(t, n.URL), join(t, n.URL), join(t, n.URL), join(t, n.URL)}
	waitUntil(t, "A and B see each other, C and D only themselves", func() bool {
		_, ab := ps[0].sees(ps[1].id)
		_, ba := ps[1].sees(ps[0].id)
		_, c := ps[2].sees(ps[2].id)
		_, cd := ps[2].sees(ps[3].id)
		_, d := ps[3].sees(ps[3].id)
		return ab && ba && c && d && !cd
	})
	metric := func(name string) float64 {
		var b strings.Builder
		if err := n.Engine.Metrics().WritePrometheus(&b); err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(b.String()) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+" "); ok {
				f, _ := strconv.ParseFloat(v, 64)
				return f
			}
		}
		t.Fatalf("no metric %s", name)
		return 0
	}
	encodes0, ticks0 := metric(`tickwire_state_encodes_total{kind="patch"}`), metric("tickwire_ticks_total")
	waitUntil(t, "50 more ticks", func() bool { return metric("tickwire_ticks_total") >= ticks0+50 })
	encodes, ticks := metric(`tickwire_state_encodes_total{kind="patch"}`)-encodes0, metric("tickwire_ticks_total")-ticks0
	if encodes > 3.5*ticks {
		t.Fatalf("%v patch encodings in %v ticks for 3 distinct views (4 players), want about 3 a tick", encodes, ticks)
	}
	if _, _, _, ok := ps[0].states.Latest(); !ok {
		t.Fatal("A has no state")
	}
}
