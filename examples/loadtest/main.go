// Command loadtest drives N bots against a Tickwire node running the arena
// sample game and reports what the players and the server saw.
//
//	go run ./examples/loadtest -spawn -bots 1000 -duration 30s
//	go run ./examples/loadtest -url ws://127.0.0.1:8080/ws -bots 1000 -pid $(pgrep -n arena)
//
// Each bot dials, joins-or-creates a room of type "arena" and sends an
// arena.v1.Input at -rate Hz, walking in a random direction that changes
// about once a second (no tags unless -tag). Joins are spread over -ramp.
// A handful of sender goroutines (-workers), each with one ticker at its
// own phase of the send period, drive all bots, so the tool costs one
// goroutine per connection (the client's reader) and no timer per bot.
// Like the SDKs' clients, a bot times its inputs to reach the server -lead
// before its room's tick (client.Client.NextInputAt): about once a second
// it moves to the sender whose phase is nearest that time. -fixed-phase
// keeps each bot on one sender instead, at a phase unrelated to the tick.
//
// The run has three phases: ramp (joins), a steady window of -duration
// that starts once every join attempt has finished, and a short grace
// period. All rates, the latency percentiles, the server CPU figure and
// the /metrics deltas cover the steady window only; RSS is the maximum
// sampled during the whole run.
//
// Measurements:
//   - state msgs/s per bot: State frames received in the window / window.
//   - input→state latency: from sending input seq S to receiving the first
//     State whose last_input_seq >= S (inputs sent in the window).
//   - state message bytes: the WebSocket payload of each State frame,
//     computed as 1 + len(varint) + proto.Size(State), which equals the
//     frame size because the server writes state frames as exactly
//     ServerMessage{state} (see stateFrameSize).
//   - full snapshot bytes: after the window a few bots ask for a full
//     state (Ack tick 0) and the median size is reported; the table also
//     shows the size of the first State each bot received on joining.
//   - server CPU% of one core: utime+stime delta from /proc/<pid>/stat over
//     the window; RSS: VmRSS from /proc/<pid>/status, sampled each second.
//   - tick lateness p99: from the tickwire_tick_lateness_seconds histogram
//     delta over the window, interpolated within buckets; with it the share
//     of ticks more than 2 ms late, exact (2 ms is a bucket bound).
//   - encodes per room per tick: tickwire_state_encodes_total delta /
//     tickwire_ticks_total delta (the latter counts every room's ticks).
//   - machine CPU busy: the share of all cores' time not idle (steal counts
//     as busy) from /proc/stat over the window. Near 100% the server and
//     the tool competed for CPU, and delivery is bounded by the machine.
//
// With -idle N the tool runs an idle-lobby measurement instead: N clients
// connect and send Hello, then stay in no room (players waiting for a
// match); after -settle it reports the server's RSS (empty and with all
// connected), its goroutines (go_goroutines on -admin's /metrics) and its
// CPU over a -duration window at rest:
//
//	go run ./examples/loadtest -spawn -idle 10000 -duration 30s
//
// Big rooms: one room of 200 players on the large map, with and without
// interest management (-tag: bots walk and tag):
//
//	go run ./examples/loadtest -spawn -server-args "-large-players 200" -room-type arena-large -room-size 200 -bots 200 -tag
//	go run ./examples/loadtest -spawn -server-args "-large-players 200 -large-no-interest" -room-type arena-large -room-size 200 -bots 200 -tag
//
// With -spawn the tool builds ./examples/arena into a temporary directory
// (or takes -server-bin, to measure a fixed build while the tree changes),
// starts it on a free 127.0.0.1 port (with -server-args added), waits for /healthz and stops it at
// the end. Only loopback targets are accepted unless -allow-remote.
//
// Exit status: 0 on success, 1 if fewer than 95% of the bots joined, 2 on
// a setup error.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
)

func main() {
	os.Exit(realMain())
}

func realMain() int {
	var cfg Config
	flag.StringVar(&cfg.URL, "url", "ws://127.0.0.1:8080/ws", "WebSocket URL of the node")
	flag.IntVar(&cfg.Bots, "bots", 100, "number of bots")
	flag.IntVar(&cfg.RoomSize, "room-size", 10, "expected seats per room (reporting only; the server decides)")
	flag.StringVar(&cfg.RoomType, "room-type", "arena", "room type to join-or-create")
	flag.Float64Var(&cfg.Rate, "rate", 20, "inputs per second per bot")
	flag.DurationVar(&cfg.Duration, "duration", 30e9, "steady measurement window")
	flag.DurationVar(&cfg.Ramp, "ramp", 5e9, "spread joins over this long")
	flag.DurationVar(&cfg.Grace, "grace", 1e9, "wait after the window before closing")
	flag.BoolVar(&cfg.Tag, "tag", false, "tag about once a second")
	flag.IntVar(&cfg.PID, "pid", 0, "server process id for CPU and RSS sampling")
	flag.BoolVar(&cfg.AllowRemote, "allow-remote", false, "allow non-loopback targets")
	flag.IntVar(&cfg.Workers, "workers", 8, "sender goroutines")
	flag.DurationVar(&cfg.Lead, "lead", 20e6, "time each bot's inputs to reach the server this long before its room's tick")
	flag.BoolVar(&cfg.FixedPhase, "fixed-phase", false, "send each bot's inputs at a fixed phase unrelated to its room's tick (the tool before -lead)")
	admin := flag.String("admin", "http://127.0.0.1:9090", "the server's admin endpoints (its -admin-addr); /metrics and /rooms are read there")
	metrics := flag.String("metrics", "", `Prometheus endpoint (default: -admin's /metrics; "none" to skip)`)
	rooms := flag.String("rooms", "", `JSON room list (default: -admin's /rooms; "none" to skip)`)
	spawn := flag.Bool("spawn", false, "build and start the arena server on a free loopback port")
	serverArgs := flag.String("server-args", "", `with -spawn: more arena flags, space-separated (e.g. "-large-players 200 -large-no-interest")`)
	serverBin := flag.String("server-bin", "", "with -spawn: run this arena binary instead of building ./examples/arena")
	cpuProfile := flag.String("cpuprofile", "", "write the tool's own CPU profile to this file")
	jsonOut := flag.String("json", "", "also write the report as JSON to this file")
	quiet := flag.Bool("quiet", false, "no progress lines")
	idle := flag.Int("idle", 0, "idle-lobby run: connect this many clients that stay in no room and report the server's cost at rest (instead of bots)")
	settle := flag.Duration("settle", 5e9, "with -idle: wait this long after the last connection before the -duration window")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg.Logger = log
	if !*quiet {
		cfg.Progress = os.Stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *spawn {
		srv, err := spawnArena(ctx, *serverBin, strings.Fields(*serverArgs), os.Stderr)
		if err != nil {
			log.Error("spawn", "err", err)
			return 2
		}
		defer srv.Stop(os.Stderr)
		cfg.URL = "ws://" + srv.addr + "/ws"
		cfg.PID = srv.PID()
		*admin = "http://" + srv.admin
		fmt.Fprintf(os.Stderr, "arena server pid %d on %s (admin %s)\n", cfg.PID, srv.addr, srv.admin)
		fmt.Fprintf(os.Stderr, "profile: go tool pprof 'http://%s/debug/pprof/profile?seconds=10'\n", srv.admin)
	}
	if !cfg.AllowRemote {
		if err := checkLoopback(cfg.URL); err != nil {
			log.Error("target", "err", err)
			return 2
		}
	}
	var err error
	if cfg.MetricsURL, err = derive(*metrics, *admin, "/metrics"); err != nil {
		log.Error("metrics url", "err", err)
		return 2
	}
	if cfg.RoomsURL, err = derive(*rooms, *admin, "/rooms"); err != nil {
		log.Error("rooms url", "err", err)
		return 2
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			log.Error("cpu profile", "err", err)
			return 2
		}
		defer func() {
			pprof.StopCPUProfile()
			_ = f.Close()
		}()
	}
	if *idle > 0 {
		return runIdle(ctx, IdleConfig{
			URL: cfg.URL, Conns: *idle, Settle: *settle, Duration: cfg.Duration,
			MetricsURL: cfg.MetricsURL, PID: cfg.PID, Progress: cfg.Progress,
		}, *jsonOut, log)
	}
	rep, err := Run(ctx, cfg)
	if rep == nil {
		log.Error("run", "err", err)
		return 2
	}
	if werr := rep.WriteTable(os.Stdout); werr != nil {
		log.Error("write table", "err", werr)
	}
	if *jsonOut != "" {
		b, jerr := json.MarshalIndent(rep, "", "  ")
		if jerr == nil {
			jerr = os.WriteFile(*jsonOut, append(b, '\n'), 0o644)
		}
		if jerr != nil {
			log.Error("write json", "err", jerr)
		}
	}
	if errors.Is(err, ErrTooFewJoined) {
		log.Error("run", "err", err)
		return 1
	}
	if err != nil {
		log.Error("run", "err", err)
		return 2
	}
	return 0
}

// derive returns flag if set ("none" → ""), else the admin URL with path.
func derive(flagVal, adminURL, path string) (string, error) {
	switch flagVal {
	case "none":
		return "", nil
	case "":
		return metricsURLFor(adminURL, path)
	default:
		return flagVal, nil
	}
}

// runIdle runs an idle-lobby measurement and prints its report.
func runIdle(ctx context.Context, cfg IdleConfig, jsonOut string, log *slog.Logger) int {
	rep, err := RunIdle(ctx, cfg)
	if rep == nil {
		log.Error("idle run", "err", err)
		return 2
	}
	if werr := rep.WriteTable(os.Stdout); werr != nil {
		log.Error("write table", "err", werr)
	}
	if jsonOut != "" {
		b, jerr := json.MarshalIndent(rep, "", "  ")
		if jerr == nil {
			jerr = os.WriteFile(jsonOut, append(b, '\n'), 0o644)
		}
		if jerr != nil {
			log.Error("write json", "err", jerr)
		}
	}
	if err != nil {
		log.Error("idle run", "err", err)
		return 2
	}
	if rep.Connected < rep.Conns*95/100 {
		log.Error("idle run: fewer than 95% of the clients connected", "connected", rep.Connected, "of", rep.Conns)
		return 1
	}
	return 0
}
