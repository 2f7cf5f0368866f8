package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tickwire/tickwire/engine"
	"github.com/tickwire/tickwire/examples/arena/game"
	"github.com/tickwire/tickwire/room"
	"github.com/tickwire/tickwire/tickwiretest"
)

// startArena serves an in-process arena node on 127.0.0.1 and returns its
// address; the node stops when the test ends.
func startArena(t *testing.T) *tickwiretest.Node {
	t.Helper()
	return tickwiretest.StartNode(t, engine.Config{DrainTimeout: time.Second}, map[string]*room.Definition{
		"arena": room.Define(room.Config{TickRate: 20, MaxPlayers: 10}, game.New),
	})
}

func TestRunAgainstArena(t *testing.T) {
	n := startArena(t)
	var progress bytes.Buffer
	cfg := Config{
		URL:        n.URL,
		MetricsURL: n.Admin.URL + "/metrics",
		RoomsURL:   n.Admin.URL + "/rooms",
		PID:        os.Getpid(), // samples this test process: exercises the /proc path
		Bots:       20,
		Rate:       20,
		Ramp:       200 * time.Millisecond,
		Duration:   2 * time.Second,
		Grace:      300 * time.Millisecond,
		Tag:        true,
		Progress:   &progress,
	}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if rep.Joined != 20 || rep.JoinErrors != 0 {
		t.Fatalf("joined %d, join errors %d (%v)", rep.Joined, rep.JoinErrors, rep.ErrorReasons)
	}
	if rep.Closes != 0 {
		t.Errorf("server closed %d connections: %v", rep.Closes, rep.ErrorReasons)
	}
	if rep.StatesPerSecPerBot.Min <= 0 {
		t.Errorf("a bot got no states: %+v", rep.StatesPerSecPerBot)
	}
	if rep.InputsPerSecPerBot.Min <= 0 {
		t.Errorf("a bot sent no inputs: %+v", rep.InputsPerSecPerBot)
	}
	// Bots move between senders to follow their room's tick; a move must
	// neither skip nor double an input.
	if m := rep.InputsPerSecPerBot.Mean; m < 19 || m > 21 {
		t.Errorf("mean inputs/s per bot %v, want 20: %+v", m, rep.InputsPerSecPerBot)
	}
	if rep.LatencySamples == 0 || rep.LatencyP50Ms <= 0 || rep.LatencyP99Ms < rep.LatencyP50Ms {
		t.Errorf("latency: %d samples, p50 %v p99 %v", rep.LatencySamples, rep.LatencyP50Ms, rep.LatencyP99Ms)
	}
	if rep.MeanStateBytes <= 0 || rep.FullSnapshotBytes <= rep.MeanStateBytes {
		t.Errorf("sizes: mean state %v, full snapshot %v", rep.MeanStateBytes, rep.FullSnapshotBytes)
	}
	if rep.FirstStateFull != 1 {
		t.Errorf("first states full fraction = %v, want 1", rep.FirstStateFull)
	}
	if rep.Rooms == nil || *rep.Rooms != 2 {
		t.Errorf("rooms = %v, want 2 (20 bots, rooms of 10)", rep.Rooms)
	}
	if rep.EncodesPerRoomPerTick == nil || *rep.EncodesPerRoomPerTick <= 0 {
		t.Errorf("encodes per room per tick = %v", rep.EncodesPerRoomPerTick)
	}
	if rep.TickLatenessP99Ms == nil {
		t.Error("no tick lateness from /metrics")
	}
	var phases []string
	for _, ph := range rep.TickPhases {
		phases = append(phases, ph.Phase)
		if ph.MeanMs <= 0 || ph.P99Ms <= 0 {
			t.Errorf("tick phase %+v", ph)
		}
	}
	if !slices.Equal(phases, tickPhases()) {
		t.Errorf("tick phases %q, want %q", phases, tickPhases())
	}
	if rep.ServerCPUPercent == nil || rep.ServerRSSMaxMB == nil {
		t.Error("no /proc figures")
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("progress:\n%s\nreport:\n%s", progress.String(), table.String())
	for _, want := range []string{"state msgs/s per bot", "input→state latency", "server CPU", "tick phases mean (p99), ms", "read ", "write "} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
}

func TestRunRefusesRemote(t *testing.T) {
	_, err := Run(context.Background(), Config{URL: "ws://192.0.2.1:8080/ws", Bots: 1})
	if !errors.Is(err, ErrRemoteTarget) {
		t.Fatalf("err = %v, want ErrRemoteTarget", err)
	}
}

func TestRunTooFewJoined(t *testing.T) {
	n := startArena(t)
	// Unknown room type: every join fails.
	rep, err := Run(context.Background(), Config{
		URL: n.URL, RoomType: "nope", Bots: 3,
		Duration: 100 * time.Millisecond, Grace: 10 * time.Millisecond,
	})
	if !errors.Is(err, ErrTooFewJoined) {
		t.Fatalf("err = %v, want ErrTooFewJoined", err)
	}
	if rep == nil || rep.Joined != 0 || rep.JoinErrors != 3 {
		t.Fatalf("report = %+v", rep)
	}
	if rep.ErrorReasons["join: ERROR_CODE_UNKNOWN_ROOM_TYPE"] != 3 {
		t.Errorf("reasons = %v", rep.ErrorReasons)
	}
}

func TestLeadWorker(t *testing.T) {
	r := &runner{cfg: Config{Rate: 20, Workers: 8}.withDefaults(), start: time.Unix(100, 0)}
	at := func(ms float64) time.Time { return r.start.Add(time.Duration(ms * float64(time.Millisecond))) }
	// Period 50 ms, senders every 6.25 ms.
	tests := []struct {
		name string
		cur  int
		at   time.Time
		want int
	}{
		{"on a sender's phase", 0, at(12.5), 2},
		{"nearest sender", 0, at(30), 5},
		{"later periods map to the same phase", 0, at(5030), 5},
		{"before the start", 0, at(-20), 5},
		{"wraps to sender 0", 3, at(49), 0},
		{"stays within three quarters of a slot", 4, at(29.5), 4},
		{"moves beyond it", 4, at(30.5), 5},
		{"stays across the wrap", 0, at(-4), 0},
		{"stays across the wrap the other way", 7, at(48), 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.leadWorker(tt.cur, tt.at); got != tt.want {
				t.Fatalf("leadWorker(%d, start%+v) = %d, want %d", tt.cur, tt.at.Sub(r.start), got, tt.want)
			}
		})
	}
}
