package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tickwire/tickwire/engine"
	"github.com/tickwire/tickwire/examples/arena/game"
	"github.com/tickwire/tickwire/room"
)

// startArena serves an in-process arena node on 127.0.0.1 and returns its
// address; the node stops when the test ends.
func startArena(t *testing.T) string {
	t.Helper()
	e := engine.New(engine.Config{Logger: slog.New(slog.DiscardHandler), DrainTimeout: time.Second})
	if err := e.RegisterRoom("arena", room.Define(room.Config{TickRate: 20, MaxPlayers: 10}, game.New)); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Serve(ctx, ln, e.Handler()) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return ln.Addr().String()
}

func TestRunAgainstArena(t *testing.T) {
	addr := startArena(t)
	var progress bytes.Buffer
	cfg := Config{
		URL:        "ws://" + addr + "/ws",
		MetricsURL: "http://" + addr + "/metrics",
		RoomsURL:   "http://" + addr + "/rooms",
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
	if rep.ServerCPUPercent == nil || rep.ServerRSSMaxMB == nil {
		t.Error("no /proc figures")
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("progress:\n%s\nreport:\n%s", progress.String(), table.String())
	for _, want := range []string{"state msgs/s per bot", "input→state latency", "server CPU"} {
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
	addr := startArena(t)
	// Unknown room type: every join fails.
	rep, err := Run(context.Background(), Config{
		URL: "ws://" + addr + "/ws", RoomType: "nope", Bots: 3,
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
