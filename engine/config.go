package engine

import (
	"context"
	"log/slog"
	"net/http"
	"time"

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
	// JoinTimeout bounds a join (room creation included). Default 5 s.
	JoinTimeout time.Duration
	// RateLimit is the sustained messages per second a client may send,
	// RateBurst the bucket size. Defaults 120/s and 240.
	RateLimit float64
	RateBurst int
	// MaxOffenses is how many bad messages (malformed, out of order, over
	// the rate) a client may send within a minute before it is disconnected
	// with CLOSE_CODE_TOO_MANY_ERRORS (or CLOSE_CODE_RATE_LIMITED). Default 10.
	MaxOffenses int
	// Authenticate checks a client's credentials at Hello. nil accepts
	// everyone with a random user id.
	Authenticate AuthFunc
	// CheckOrigin decides whether a browser's Origin may connect. nil allows
	// every origin.
	CheckOrigin func(r *http.Request) bool
	// EnablePprof mounts net/http/pprof under /debug/pprof/ in Handler.
	EnablePprof bool
	// Clock drives the rooms' tick loops. Default: the system clock.
	Clock room.Clock
	// DrainTimeout is how long Shutdown lets rooms finish before closing
	// them. Default 30 s (bounded by the Shutdown context).
	DrainTimeout time.Duration
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
	if c.Clock == nil {
		c.Clock = room.SystemClock()
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 30 * time.Second
	}
	return c
}
