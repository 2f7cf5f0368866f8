package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tickwire/tickwire/engine/cluster"
	"github.com/tickwire/tickwire/internal/roomrt"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/room"
)

// Config configures an Engine. The zero value runs a single node with
// sensible limits and no authentication.
type Config struct {
	// NodeID names this node. Default: a random id.
	NodeID string
	// Logger. Default: slog.Default().
	Logger *slog.Logger
	// Path of the WebSocket endpoint in Handler. Default "/ws".
	Path string
	// TLSCertFile and TLSKeyFile, when set, make ListenAndServe and Serve
	// serve HTTPS, so clients connect with wss:// (PEM files, as
	// http.Server.ServeTLS takes them). Alternatively terminate TLS at a
	// load balancer or proxy in front of the nodes (docs/security.md).
	// Node-to-node traffic (relays, proxied upgrades) stays ws:// on the
	// private network.
	TLSCertFile string
	TLSKeyFile  string
	// MaxMessageSize is the largest frame a client may send; bigger frames
	// close the connection with 1009. Default 16 KiB.
	MaxMessageSize int
	// OutboundQueue bounds the frames (other than state) waiting to be
	// written to one connection; overflow closes it with
	// CLOSE_CODE_SLOW_CONSUMER. Default 256.
	OutboundQueue int
	// SlowConsumerFrames is how many state frames in a row may be replaced
	// before being written (the client is not keeping up) before the
	// connection is closed with CLOSE_CODE_SLOW_CONSUMER. Default 100.
	SlowConsumerFrames int
	// PingInterval: a connection silent this long gets a WebSocket ping.
	// Default 10 s.
	PingInterval time.Duration
	// IdleTimeout: a connection silent this long (no frame, no pong) is
	// closed with CLOSE_CODE_IDLE_TIMEOUT. Default 30 s.
	IdleTimeout time.Duration
	// HandshakeTimeout: time allowed between connect and Hello. Default 10 s.
	HandshakeTimeout time.Duration
	// CloseTimeout: once the node has sent a close frame it waits this
	// long for the client to answer with its own and end the connection,
	// reading and dropping what the client still sends, before it closes
	// the socket itself. Default 2 s.
	CloseTimeout time.Duration
	// JoinTimeout bounds a join (room creation included). Default 5 s.
	JoinTimeout time.Duration
	// RateLimit is the sustained frames per second a client may send (of
	// every kind, counted before decoding), RateBurst the token bucket's
	// size. Defaults 120/s and 240. See Limits.FloodTimeout.
	RateLimit float64
	RateBurst int
	// MaxOffenses is how many bad messages (malformed, out of order, over
	// the rate) a client may send within a minute before it is disconnected
	// with CLOSE_CODE_TOO_MANY_ERRORS (or CLOSE_CODE_RATE_LIMITED). Default 10.
	MaxOffenses int
	// Authenticate checks a client's credentials at Hello. nil accepts
	// everyone with a random user id.
	Authenticate AuthFunc
	// CheckOrigin decides whether a browser's Origin may connect. nil
	// applies the same-origin default: see AllowedOrigins.
	CheckOrigin func(r *http.Request) bool
	// ResumeTokenTTL is how long a resume token is valid after it was
	// issued (each Joined issues one; every token is single-use and resumes
	// only while the seat is held). Default 1 h.
	ResumeTokenTTL time.Duration
	// AdminAddr, when set, is where Serve and ListenAndServe also serve
	// AdminHandler (metrics, room list, health, pprof, the monitor). Keep
	// it private, e.g. "127.0.0.1:9090". Empty: the embedder mounts
	// AdminHandler itself.
	AdminAddr string
	// AdminToken turns on the monitor (/monitor/ on AdminHandler): its
	// API, the player lists and the actions (kick, lock, unlock, dispose)
	// answer only requests with "Authorization: Bearer <AdminToken>"
	// (compared in constant time; refusals answer 401 and are counted in
	// tickwire_admin_auth_failures_total). Use a long random secret: New
	// refuses one shorter than 16 bytes. Empty (the default): the monitor
	// answers 403 and no action is available. /healthz, /readyz, /metrics,
	// /rooms and /cluster/rooms never need it (docs/operations.md).
	AdminToken string
	// AllowedOrigins lists the browser origins ("https://game.example.com",
	// scheme and host as the Origin header has them) allowed to connect
	// besides the request's own host. A request whose Origin header names
	// another site is refused with 403: with cookie-based authentication,
	// any page the player visits could otherwise open a WebSocket carrying
	// the player's cookies (cross-site WebSocket hijacking). Requests with
	// no Origin (non-browser clients, other servers) are allowed; browsers
	// always send one. "*" allows every origin. Ignored when CheckOrigin
	// is set.
	AllowedOrigins []string
	// Limits bounds what one client, one IP address or the whole node may
	// make the node hold. The zero value has safe defaults.
	Limits Limits
	// Clock drives the rooms' tick loops. Default: the system clock; tests
	// use tickwiretest.NewClock to run ticks by hand.
	Clock room.Clock
	// DrainTimeout is how long Shutdown lets rooms finish before closing
	// them. Default 30 s (bounded by the Shutdown context).
	DrainTimeout time.Duration
	// Cluster configures coordination with other nodes. The zero value is
	// an embedded single node (in-memory matchmaker, local joins).
	Cluster ClusterConfig
}

// Limits bound every resource an unauthenticated client can make a node
// hold, by count. Each refusal is counted in
// tickwire_limit_refusals_total{limit="..."} and answered as documented on
// the field. Zero means the default; a negative value turns the limit off.
type Limits struct {
	// FloodTimeout: a client that keeps sending frames over RateLimit (of
	// any kind: data, ping, pong, continuation; checked before any
	// decoding) is closed with CLOSE_CODE_RATE_LIMITED once its frames
	// have been refused for this long without a second's pause, whatever
	// share of them passes. Frames over the rate are dropped meanwhile
	// (limit "frames_per_second"). Default 2 s.
	FloodTimeout time.Duration
	// RoomsPerConnPerMinute and RoomsPerIPPerMinute bound the rooms one
	// connection and one IP address may create in a minute (by a create
	// join, or a join-or-create that created); over it a join that would
	// create gets ERROR_CODE_RATE_LIMITED (limits "rooms_per_connection",
	// "rooms_per_ip"). Defaults 10 and 60.
	RoomsPerConnPerMinute int
	RoomsPerIPPerMinute   int
	// MaxRooms bounds the rooms open on the node; a join that would create
	// one more gets ERROR_CODE_ROOM_BUSY (limit "rooms"). Default 10,000.
	MaxRooms int
	// MaxFilterEntries and MaxFilterBytes bound a join's filter, which
	// becomes a created room's metadata (listed by /rooms): entries, and
	// the bytes of keys and values together. Over either the join gets
	// ERROR_CODE_BAD_REQUEST (limit "filter"). Defaults 8 and 512.
	MaxFilterEntries int
	MaxFilterBytes   int
	// MaxTicketsPerSession bounds a connection's open matchmaking tickets;
	// over it MatchmakerAdd gets ERROR_CODE_RATE_LIMITED (limit
	// "tickets"). Default 4.
	MaxTicketsPerSession int
	// MaxConnsPerIP bounds the open connections from one IP address; over
	// it the upgrade is refused with HTTP 429 (limit "connections_per_ip").
	// The address is the TCP peer's, or, when the peer is a TrustedProxies
	// address, the last one in its X-Forwarded-For header. A loopback peer
	// without that header (a load tool, tests) is not limited. Default 64.
	MaxConnsPerIP int
	// TrustedProxies lists the proxies and load balancers (CIDRs or
	// addresses) whose X-Forwarded-For names the client. Default: loopback
	// and the private ranges (10/8, 172.16/12, 192.168/16, fc00::/7), where
	// a node's load balancer lives and no internet client comes from.
	TrustedProxies []string
	// MaxRoomless bounds the node's connections that are not in a room
	// (handshake, lobby, matchmaking); over it the upgrade is refused with
	// HTTP 503 (limit "roomless"). Default 10,000.
	MaxRoomless int
	// SlowConsumerTimeout: a client in a room whose acknowledged tick
	// falls this far behind the room's, or whose socket accepts no byte
	// for this long, is closed with CLOSE_CODE_SLOW_CONSUMER; it is also
	// the deadline of every blocking write (limit "slow_consumer").
	// Default 5 s.
	SlowConsumerTimeout time.Duration
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.RoomsPerConnPerMinute, 10)
	def(&l.RoomsPerIPPerMinute, 60)
	def(&l.MaxRooms, 10_000)
	def(&l.MaxFilterEntries, 8)
	def(&l.MaxFilterBytes, 512)
	def(&l.MaxTicketsPerSession, 4)
	def(&l.MaxConnsPerIP, 64)
	def(&l.MaxRoomless, 10_000)
	if l.FloodTimeout == 0 {
		l.FloodTimeout = 2 * time.Second
	}
	if l.SlowConsumerTimeout == 0 {
		l.SlowConsumerTimeout = 5 * time.Second
	}
	return l
}

// minAdminToken is the shortest Config.AdminToken New accepts.
const minAdminToken = 16

// over says whether n is over the limit max (a negative max is no limit).
func over(n, max int) bool { return max >= 0 && n > max }

// ClusterConfig configures cluster mode. The zero value runs the embedded
// single node: an in-memory [cluster.Memory] backs the ticket matchmaker and
// reservations, and joins use the local room registry exactly as without
// it. Setting RedisAddr turns on cluster mode (see docs/cluster.md).
type ClusterConfig struct {
	// RedisAddr is host:port of the shared Redis server; empty = embedded.
	RedisAddr string
	// RedisPassword and RedisPrefix (default "tw:") are passed to the backend.
	RedisPassword string
	RedisPrefix   string
	// RedisSentinelMaster and RedisSentinelAddrs (host:port each) use Redis
	// Sentinel instead of RedisAddr: the nodes follow the primary across
	// failovers (docs/cluster.md). Either RedisAddr or these turn on
	// cluster mode; cluster.ParseSentinel reads "master@host:port,...".
	RedisSentinelMaster string
	RedisSentinelAddrs  []string
	// Secret signs reservation tokens and authenticates relay connections
	// between nodes. Required in cluster mode (every node the same);
	// embedded mode generates a random one when empty.
	Secret string
	// AdvertiseAddr is the host:port other nodes use to reach this node's
	// HTTP handler (the WebSocket path must be Config.Path on every node).
	// Default: the listener's address when the engine serves it
	// (ListenAndServe/Serve), else 127.0.0.1:8080.
	AdvertiseAddr string
	// Capacity is the max number of players placed on this node (0 =
	// unlimited).
	Capacity int
	// HeartbeatInterval (default 1 s) and NodeTTL (default 5 s): a node
	// that misses heartbeats for NodeTTL leaves the registry with its rooms.
	HeartbeatInterval time.Duration
	NodeTTL           time.Duration
	// ReservationTTL is how long a reserved seat waits (default 15 s).
	ReservationTTL time.Duration
	// Queues are the ticket matchmaking queues. Every node runs a matcher
	// per queue; a Redis lease makes one active cluster-wide.
	Queues []QueueConfig
	// OwnerCacheSize bounds the room-owner LRU cache (default 4096).
	OwnerCacheSize int
	// Backend, when set, replaces the backend built from RedisAddr (tests,
	// custom stores). A non-nil Backend with RedisAddr empty still counts
	// as cluster mode when Shared is set.
	Backend cluster.Backend
	// Shared marks Backend as shared between nodes (cluster mode).
	Shared bool
}

// QueueConfig is one ticket matchmaking queue.
type QueueConfig struct {
	// Name of the queue; the room type of matches (default RoomType = Name).
	Name     string
	RoomType string
	// MatchSize is the number of players per match (default 2).
	MatchSize int
	// RatingKey names the rating in the ticket's numeric properties
	// (default "rating").
	RatingKey string
	// Window: a ticket that waited w accepts a rating spread up to
	// min(BaseWindow + WidenPerSecond*w, MaxWindow). Defaults 100, 50, 1000.
	BaseWindow, WidenPerSecond, MaxWindow float64
	// TicketTimeout (default 60 s): older tickets get an Error frame with
	// ERROR_CODE_MATCHMAKING_TIMEOUT ("matchmaking timed out after N s").
	TicketTimeout time.Duration
	// Interval between matcher rounds (default 250 ms).
	Interval time.Duration
	// StatusInterval (default 5 s) is the least time between two
	// MatchmakerStatus frames of one ticket: a ticket whose match finds no
	// node with capacity is told WAITING_FOR_CAPACITY at once, then again
	// at most every StatusInterval while it waits.
	StatusInterval time.Duration
}

func (c ClusterConfig) clustered() bool {
	return c.RedisAddr != "" || c.RedisSentinelMaster != "" || (c.Backend != nil && c.Shared)
}

// Identity is who a connection is, as decided by Config.Authenticate.
type Identity struct {
	UserID string
	Name   string
}

// AuthFunc authenticates a connection at Hello. r is the WebSocket upgrade
// request (headers, cookies, query). Return an error to refuse: the
// connection is closed with CLOSE_CODE_UNAUTHORIZED. It runs on the
// connection's read goroutine and may block briefly.
type AuthFunc func(ctx context.Context, r *http.Request, hello *tickwirev1.Hello) (Identity, error)

// validate refuses a configuration no node can run with as asked. It runs
// before the defaults fill the zero values.
func (c Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	if c.Path != "" && !strings.HasPrefix(c.Path, "/") {
		bad("Path %q must start with /", c.Path)
	}
	for name, v := range map[string]int{
		"MaxMessageSize": c.MaxMessageSize, "OutboundQueue": c.OutboundQueue,
		"SlowConsumerFrames": c.SlowConsumerFrames, "RateBurst": c.RateBurst,
		"MaxOffenses": c.MaxOffenses, "Cluster.Capacity": c.Cluster.Capacity,
		"Cluster.OwnerCacheSize": c.Cluster.OwnerCacheSize,
	} {
		if v < 0 {
			bad("%s is negative (%d)", name, v)
		}
	}
	for name, d := range map[string]time.Duration{
		"PingInterval": c.PingInterval, "IdleTimeout": c.IdleTimeout,
		"HandshakeTimeout": c.HandshakeTimeout, "JoinTimeout": c.JoinTimeout,
		"DrainTimeout": c.DrainTimeout, "ResumeTokenTTL": c.ResumeTokenTTL, "Cluster.HeartbeatInterval": c.Cluster.HeartbeatInterval,
		"Cluster.NodeTTL": c.Cluster.NodeTTL, "Cluster.ReservationTTL": c.Cluster.ReservationTTL,
	} {
		if d < 0 {
			bad("%s is negative (%s)", name, d)
		}
	}
	if c.RateLimit < 0 {
		bad("RateLimit is negative (%g)", c.RateLimit)
	}
	if c.AdminToken != "" && len(c.AdminToken) < minAdminToken {
		bad("AdminToken is %d bytes; use a random secret of at least %d", len(c.AdminToken), minAdminToken)
	}
	if c.MaxMessageSize > 64<<20 {
		bad("MaxMessageSize %d is over 64 MiB", c.MaxMessageSize)
	}
	if c.RateLimit > 0 && c.RateBurst > 0 && float64(c.RateBurst) < c.RateLimit/10 {
		bad("RateBurst %d is below a tenth of a second of RateLimit %g", c.RateBurst, c.RateLimit)
	}
	d := c.withDefaults()
	if d.Cluster.NodeTTL <= d.Cluster.HeartbeatInterval {
		bad("Cluster.NodeTTL %s must be longer than Cluster.HeartbeatInterval %s", d.Cluster.NodeTTL, d.Cluster.HeartbeatInterval)
	}
	if c.Cluster.RedisAddr != "" && c.Cluster.Secret == "" {
		bad("Cluster.RedisAddr is set but Cluster.Secret is empty: every node of a cluster needs the same secret")
	}
	if c.Cluster.RedisSentinelMaster != "" && c.Cluster.Secret == "" {
		bad("Cluster.RedisSentinelMaster is set but Cluster.Secret is empty: every node of a cluster needs the same secret")
	}
	if c.Cluster.RedisSentinelMaster != "" && (c.Cluster.RedisAddr != "" || len(c.Cluster.RedisSentinelAddrs) == 0) {
		bad("Cluster.RedisSentinelMaster needs Cluster.RedisSentinelAddrs, and excludes Cluster.RedisAddr")
	}
	if c.Cluster.Backend != nil && c.Cluster.RedisAddr != "" {
		bad("Cluster.Backend and Cluster.RedisAddr are both set")
	}
	if c.Cluster.Shared && c.Cluster.Backend != nil && c.Cluster.Secret == "" {
		bad("a shared Cluster.Backend needs Cluster.Secret")
	}
	queues := map[string]bool{}
	for i, q := range c.Cluster.Queues {
		switch {
		case q.Name == "":
			bad("Cluster.Queues[%d] has no Name", i)
		case queues[q.Name]:
			bad("Cluster.Queues[%d]: queue %q defined twice", i, q.Name)
		}
		queues[q.Name] = true
		if q.MatchSize < 0 || q.MatchSize == 1 {
			bad("Cluster.Queues[%d] (%q): MatchSize %d (want 0 for the default 2, or ≥ 2)", i, q.Name, q.MatchSize)
		}
		if q.MaxWindow != 0 && q.MaxWindow < q.BaseWindow {
			bad("Cluster.Queues[%d] (%q): MaxWindow %g below BaseWindow %g", i, q.Name, q.MaxWindow, q.BaseWindow)
		}
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.NodeID == "" {
		c.NodeID = "node-" + randomToken(6)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Path == "" {
		c.Path = "/ws"
	}
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = 16 << 10
	}
	if c.OutboundQueue <= 0 {
		c.OutboundQueue = 256
	}
	if c.SlowConsumerFrames <= 0 {
		c.SlowConsumerFrames = 100
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 10 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 30 * time.Second
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.CloseTimeout <= 0 {
		c.CloseTimeout = 2 * time.Second
	}
	if c.JoinTimeout <= 0 {
		c.JoinTimeout = 5 * time.Second
	}
	if c.RateLimit <= 0 {
		c.RateLimit = 120
	}
	if c.RateBurst <= 0 {
		c.RateBurst = 240
	}
	if c.MaxOffenses <= 0 {
		c.MaxOffenses = 10
	}
	c.Limits = c.Limits.withDefaults()
	if c.Clock == nil {
		c.Clock = roomrt.SystemClock()
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 30 * time.Second
	}
	if c.ResumeTokenTTL <= 0 {
		c.ResumeTokenTTL = time.Hour
	}
	if c.Cluster.HeartbeatInterval <= 0 {
		c.Cluster.HeartbeatInterval = time.Second
	}
	if c.Cluster.NodeTTL <= 0 {
		c.Cluster.NodeTTL = 5 * time.Second
	}
	if c.Cluster.OwnerCacheSize <= 0 {
		c.Cluster.OwnerCacheSize = 4096
	}
	if c.Cluster.Secret == "" && !c.Cluster.clustered() {
		c.Cluster.Secret = randomToken(32)
	}
	return c
}
