package roomrt

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
)

// logRecorder is a slog.Handler that keeps every record.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.records = append(l.records, r.Clone())
	l.mu.Unlock()
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// find returns the records with message msg and the int value of attr in
// each (0 when absent).
func (l *logRecorder) find(msg, attr string) (levels []slog.Level, values []int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.records {
		if r.Message != msg {
			continue
		}
		levels = append(levels, r.Level)
		v := 0
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == attr {
				switch a.Value.Kind() {
				case slog.KindInt64:
					v = int(a.Value.Int64())
				case slog.KindUint64:
					v = int(a.Value.Uint64())
				}
			}
			return true
		})
		values = append(values, v)
	}
	return levels, values
}

func newLoggedHarness(t *testing.T, cfg Config) (*harness, *logRecorder) {
	t.Helper()
	rec := &logRecorder{}
	hs := &harness{t: t, clock: NewManualClock(time.Unix(1000, 0)), h: &counter{}, obs: &recObserver{}}
	hs.reg = NewRegistry(RegistryConfig{Clock: hs.clock, Observer: hs.obs, Logger: slog.New(rec)})
	if err := hs.reg.Register("counter", Define(cfg, func() THandler[*structpb.Struct] { return hs.h })); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		_ = hs.reg.Shutdown(ctx)
	})
	return hs, rec
}

// A room that keeps falling behind logs one line per 10 s with the ticks
// skipped since the previous line, and the rest when it closes: 25 falls
// in 25 s make 4 lines, not 25, and they add up to every skipped tick.
func TestFellBehindLogIsRateLimited(t *testing.T) {
	hs, rec := newLoggedHarness(t, Config{TickRate: 10, MaxCatchUp: 1})
	r := hs.create(CreateOptions{})
	hs.step(r, 1)
	skipped := func() int {
		hs.obs.mu.Lock()
		defer hs.obs.mu.Unlock()
		return hs.obs.skipped
	}
	const falls = 25
	for i := range falls {
		before := skipped()
		hs.waitFor(func() bool { return hs.clock.Timers() > 0 }, "timer")
		hs.clock.Advance(time.Second)
		hs.waitFor(func() bool { return skipped() > before }, "skip report")
		hs.sync(r)
		if i == 0 {
			if _, values := rec.find("room fell behind; skipping ticks", "skipped"); len(values) != 1 {
				t.Fatalf("first fall: %d lines, want 1 at once", len(values))
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Close(ctx, CloseRequested); err != nil {
		t.Fatal(err)
	}
	hs.waitClosed(r, "room closed")

	levels, values := rec.find("room fell behind; skipping ticks", "skipped")
	// at 1 s, 11 s, 21 s, and the falls at 22..25 s when the room closes
	if len(values) != 4 {
		t.Fatalf("%d fell-behind lines for %d falls in %d s, want 4", len(values), falls, falls)
	}
	sum := 0
	for i, v := range values {
		sum += v
		if levels[i] != slog.LevelWarn {
			t.Errorf("line %d at %v, want WARN", i, levels[i])
		}
	}
	if sum != skipped() {
		t.Errorf("lines report %d skipped ticks, the observer counted %d", sum, skipped())
	}
	_, times := rec.find("room fell behind; skipping ticks", "times")
	if want := []int{1, 10, 10, 4}; !equalInts(times, want) {
		t.Errorf("times per line %v, want %v", times, want)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestJoinAndLeaveLogAtDebug(t *testing.T) {
	hs, rec := newLoggedHarness(t, Config{TickRate: 10})
	r := hs.create(CreateOptions{})
	p := hs.join(r, &fakeConn{})
	r.Leave(p.PlayerID, LeaveLeft)
	hs.sync(r)
	for _, msg := range []string{"player joined", "player left"} {
		levels, players := rec.find(msg, "player")
		if len(levels) != 1 || levels[0] != slog.LevelDebug || players[0] != int(p.PlayerID) {
			t.Errorf("%q: levels %v players %v, want one DEBUG line for player %d", msg, levels, players, p.PlayerID)
		}
	}
}
