// Command arena is the sample games' server: the Tickwire engine with the
// arena room types and connect four's, serving the browser games (embedded
// bundle: the arena at /, connect four at /connect4/) on the same port. With no flags it runs a single node on :8080 with no Redis.
package main

import (
	"context"
	"crypto/rand"
	"embed"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/tickwire/tickwire/engine"
	"github.com/tickwire/tickwire/engine/cluster"
	"github.com/tickwire/tickwire/examples/arena/game"
	connect4 "github.com/tickwire/tickwire/examples/connect4/game"
)

//go:embed all:web/dist
var webFS embed.FS

// defaultGCPercent is the server's GC target. Go's default (100) lets the
// heap grow to twice the live heap plus goroutine stacks between
// collections. Tickwire's steady state allocates little (inputs and state
// payloads reuse their memory: one collection in 30 s at 1,000 players),
// so collecting at +25% costs next to nothing and saves about a quarter of
// the process's memory at 3,000 players (docs/performance.md).
const defaultGCPercent = 25

// defaultGCHeadroomMB is the heap growth allowed between collections while
// the live heap is small (gcTuner). Off by default: the arena allocates so
// little that -gc-percent alone collects about twice a minute at 1,000
// players, and 8 MiB of headroom cost 3–4 MB of RSS there without moving
// the tick lateness (docs/performance.md). A game whose handler allocates
// a lot per tick may want it.
const defaultGCHeadroomMB = 0

func main() {
	addr := flag.String("addr", envOr("TICKWIRE_ADDR", ":8080"), "listen address (env TICKWIRE_ADDR)")
	adminAddr := flag.String("admin-addr", envOr("TICKWIRE_ADMIN_ADDR", "127.0.0.1:9090"), "address of the admin endpoints (/metrics, /rooms, /healthz, /debug/pprof/, /monitor/); keep it private; empty turns them off (env TICKWIRE_ADMIN_ADDR)")
	adminToken := flag.String("admin-token", os.Getenv("TICKWIRE_ADMIN_TOKEN"), "token of the monitor page /monitor/ on -admin-addr (kick, lock, dispose); empty turns the monitor off, except with -dev, which makes a random one and logs the monitor's URL (env TICKWIRE_ADMIN_TOKEN)")
	debugLog := flag.Bool("debug", false, "debug logging")
	redisAddr := flag.String("redis", os.Getenv("TICKWIRE_REDIS_ADDR"), "Redis host:port; empty runs a single embedded node (env TICKWIRE_REDIS_ADDR)")
	sentinel := flag.String("redis-sentinel", os.Getenv("TICKWIRE_REDIS_SENTINEL"), "Redis Sentinel instead of -redis: master@host:port,host:port (env TICKWIRE_REDIS_SENTINEL)")
	nodeID := flag.String("node-id", os.Getenv("TICKWIRE_NODE_ID"), "node id, unique in the cluster; default random (env TICKWIRE_NODE_ID)")
	advertise := flag.String("advertise", os.Getenv("TICKWIRE_ADVERTISE_ADDR"), "host:port other nodes reach this node on; default the listen address (env TICKWIRE_ADVERTISE_ADDR)")
	secret := flag.String("secret", os.Getenv("TICKWIRE_CLUSTER_SECRET"), "cluster secret shared by every node, required with -redis (env TICKWIRE_CLUSTER_SECRET)")
	capacity := flag.Int("capacity", envInt("TICKWIRE_CAPACITY", 0), "max players placed on this node, 0 = unlimited (env TICKWIRE_CAPACITY)")
	drain := flag.Duration("drain-timeout", envDuration("TICKWIRE_DRAIN_TIMEOUT", 30*time.Second), "how long SIGTERM lets rooms finish (env TICKWIRE_DRAIN_TIMEOUT)")
	matchSize := flag.Int("match-size", envInt("TICKWIRE_MATCH_SIZE", 4), "players per match of the \"arena\" matchmaking queue")
	roundLen := flag.Duration("round", envDuration("TICKWIRE_ARENA_ROUND", 90*time.Second), "how long an arena round is played (env TICKWIRE_ARENA_ROUND)")
	roundBreak := flag.Duration("round-break", envDuration("TICKWIRE_ARENA_ROUND_BREAK", 8*time.Second), "how long the winner is shown between rounds (env TICKWIRE_ARENA_ROUND_BREAK)")
	turnTime := flag.Duration("connect4-turn", envDuration("TICKWIRE_CONNECT4_TURN", 30*time.Second), "connect four's time per move (env TICKWIRE_CONNECT4_TURN)")
	dev := flag.Bool("dev", envBool("TICKWIRE_DEV"), "development mode: serve the source map app.js.map; make a monitor token when -admin-token is empty (env TICKWIRE_DEV=1)")
	gcPercent := flag.Int("gc-percent", envInt("TICKWIRE_GC_PERCENT", defaultGCPercent), "garbage collector target percentage (runtime/debug.SetGCPercent); a GOGC environment variable wins (env TICKWIRE_GC_PERCENT)")
	gcHeadroom := flag.Int("gc-headroom-mb", envInt("TICKWIRE_GC_HEADROOM_MB", defaultGCHeadroomMB), "let the heap grow at least this many MiB between collections: the GC percent is raised above -gc-percent (up to 200) while the live heap is small; 0 keeps -gc-percent fixed; a GOGC environment variable turns it off (env TICKWIRE_GC_HEADROOM_MB)")
	tlsCert := flag.String("tls-cert", os.Getenv("TICKWIRE_TLS_CERT"), "PEM certificate file: serve HTTPS and wss:// (with -tls-key; env TICKWIRE_TLS_CERT)")
	tlsKey := flag.String("tls-key", os.Getenv("TICKWIRE_TLS_KEY"), "PEM private key file of -tls-cert (env TICKWIRE_TLS_KEY)")
	largePlayers := flag.Int("large-players", envInt("TICKWIRE_ARENA_LARGE_PLAYERS", 100), "seats of an \"arena-large\" room (env TICKWIRE_ARENA_LARGE_PLAYERS)")
	largeNoInterest := flag.Bool("large-no-interest", envBool("TICKWIRE_ARENA_LARGE_NO_INTEREST"), "\"arena-large\" rooms without interest management: every player gets the whole state, for comparison runs (env TICKWIRE_ARENA_LARGE_NO_INTEREST=1)")
	flag.Parse()
	var tuner *gcTuner
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(*gcPercent)
		if *gcHeadroom > 0 {
			tuner = &gcTuner{floor: *gcPercent, ceiling: max(*gcPercent, 200), headroom: uint64(*gcHeadroom) << 20, every: time.Second}
		}
	}
	var sentinelMaster string
	var sentinelAddrs []string
	if *sentinel != "" {
		var err error
		if sentinelMaster, sentinelAddrs, err = cluster.ParseSentinel(*sentinel); err != nil {
			fmt.Fprintln(os.Stderr, "arena: -redis-sentinel:", err)
			os.Exit(2)
		}
	}

	level := slog.LevelInfo
	if *debugLog {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	token := *adminToken
	if token == "" && *dev && *adminAddr != "" {
		token = rand.Text() // a new user can open the monitor at once (logged below)
	}
	e, err := engine.New(engine.Config{
		Logger: log, NodeID: *nodeID, DrainTimeout: *drain, AdminAddr: *adminAddr, AdminToken: token,
		TLSCertFile: *tlsCert, TLSKeyFile: *tlsKey,
		Cluster: engine.ClusterConfig{
			RedisAddr: *redisAddr, Secret: *secret, AdvertiseAddr: *advertise, Capacity: *capacity,
			RedisSentinelMaster: sentinelMaster, RedisSentinelAddrs: sentinelAddrs,
			Queues: []engine.QueueConfig{{Name: "arena", MatchSize: *matchSize}},
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "arena:", err)
		os.Exit(2)
	}
	rooms := game.RoomTypesOf(game.Options{Rounds: game.Rounds{Play: *roundLen, Break: *roundBreak}, LargePlayers: *largePlayers, LargeNoInterest: *largeNoInterest})
	maps.Copy(rooms, connect4.RoomTypes(connect4.Options{TurnTime: *turnTime})) // served at /connect4/
	for name, def := range rooms {
		if err := e.RegisterRoom(name, def); err != nil {
			log.Error("register room", "type", name, "err", err)
			os.Exit(1)
		}
	}
	dist, err := fs.Sub(webFS, "web/dist")
	if err != nil {
		log.Error("embedded web bundle", "err", err)
		os.Exit(1)
	}
	web, err := newAssets(dist, *dev)
	if err != nil {
		log.Error("embedded web bundle", "err", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.Handle("/", web)
	mux.Handle("/ws", e.Handler())
	mux.Handle("GET /healthz", e.AdminHandler()) // load balancers probe the game port
	mux.Handle("GET /readyz", e.AdminHandler())

	if token != "" && *adminToken == "" {
		log.Info("monitor (token made for -dev; set -admin-token to choose one)", "url", monitorURL(*adminAddr, token))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal drains; from then on a second one kills the process
	// (the default action: exit status 130 for SIGINT, 143 for SIGTERM).
	context.AfterFunc(ctx, stop)
	if tuner != nil {
		// Runs through the drain too; stopped when main returns.
		tctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); tuner.run(tctx) }()
		defer func() { cancel(); <-done }()
	}
	if err := e.ListenAndServe(ctx, *addr, mux); err != nil {
		log.Error("server", "err", err)
		os.Exit(1)
	}
}

// monitorURL is the address of the monitor page on the admin address,
// with the token in the fragment (never sent to the server, read by the
// page).
func monitorURL(adminAddr, token string) string {
	host, port, err := net.SplitHostPort(adminAddr)
	if err != nil {
		return "/monitor/#token=" + url.QueryEscape(token)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/monitor/#token=" + url.QueryEscape(token)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func envInt(key string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(key)); err == nil {
		return n
	}
	return def
}

func envDuration(key string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(key)); err == nil {
		return d
	}
	return def
}

func envBool(key string) bool {
	b, err := strconv.ParseBool(os.Getenv(key))
	return err == nil && b
}
