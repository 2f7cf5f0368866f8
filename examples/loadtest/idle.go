package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tickwire/tickwire/internal/wsframe"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

// IdleConfig is an idle-lobby run (-idle): Conns clients connect and send
// Hello, then stay in no room, as players waiting for a match do. The run
// reports what they cost the server at rest. The zero value of every
// optional field has a working default.
type IdleConfig struct {
	// URL of the node's WebSocket endpoint.
	URL string
	// Conns is the number of idle clients.
	Conns int
	// Settle is how long to wait after the last client connected before
	// the measurement window (the hand-overs and writers end). Default 5 s.
	Settle time.Duration
	// Duration of the measurement window (server CPU). Default 30 s.
	Duration time.Duration
	// MetricsURL is the server's Prometheus endpoint ("" for none): the
	// goroutine count (go_goroutines) and the lobby gauge are read there.
	MetricsURL string
	// PID of the server process for CPU and RSS (0 for none).
	PID int
	// MaxDialing bounds concurrent connection attempts. Default 64.
	MaxDialing int
	// DialTimeout bounds the dial, upgrade and Hello of one client.
	// Default 10 s.
	DialTimeout time.Duration
	// Progress receives a line now and then; nil for none.
	Progress io.Writer
}

func (c IdleConfig) withDefaults() IdleConfig {
	if c.Settle <= 0 {
		c.Settle = 5 * time.Second
	}
	if c.Duration <= 0 {
		c.Duration = 30 * time.Second
	}
	if c.MaxDialing <= 0 {
		c.MaxDialing = 64
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	return c
}

// IdleReport is what an idle-lobby run measured. Server figures are
// missing (nil) when the PID or the metrics endpoint was not given.
type IdleReport struct {
	Conns     int            `json:"conns"`
	Connected int            `json:"connected"`
	Errors    map[string]int `json:"errors,omitempty"`
	// Server RSS (MiB) before the first client connected, and the maximum
	// sampled in the window with all connected; per connection in KiB.
	RSSEmptyMiB   *float64 `json:"rssEmptyMiB,omitempty"`
	RSSMiB        *float64 `json:"rssMiB,omitempty"`
	RSSPerConnKiB *float64 `json:"rssPerConnKiB,omitempty"`
	// go_goroutines before and at the end of the window.
	GoroutinesEmpty *float64 `json:"goroutinesEmpty,omitempty"`
	Goroutines      *float64 `json:"goroutines,omitempty"`
	// tickwire_connections_read_in_lobby at the end of the window.
	ReadInLobby *float64 `json:"readInLobby,omitempty"`
	// Server CPU over the window, percent of one core.
	CPUPercent *float64      `json:"cpuPercent,omitempty"`
	Window     time.Duration `json:"windowNs"`
}

// RunIdle connects cfg.Conns idle clients, measures the server at rest and
// closes them. Each client is a bare WebSocket whose only goroutine reads
// it to answer the server's keepalive pings, as a browser does.
func RunIdle(ctx context.Context, cfg IdleConfig) (*IdleReport, error) {
	cfg = cfg.withDefaults()
	if cfg.Conns <= 0 {
		return nil, errors.New("loadtest: -idle needs a positive number of clients")
	}
	rep := &IdleReport{Conns: cfg.Conns, Errors: map[string]int{}}
	var before procSample
	if cfg.PID != 0 {
		s, err := readProc(cfg.PID)
		if err != nil {
			return nil, err
		}
		before = s
		rep.RSSEmptyMiB = ptr(float64(s.rssKiB) / 1024)
	}
	if cfg.MetricsURL != "" {
		if p, err := scrape(ctx, cfg.MetricsURL); err == nil {
			if v, ok := p.sum("go_goroutines"); ok {
				rep.GoroutinesEmpty = ptr(v)
			}
		}
	}

	hello, err := proto.Marshal(&tickwirev1.ClientMessage{RequestId: 1, Kind: &tickwirev1.ClientMessage_Hello{Hello: &tickwirev1.Hello{ProtocolVersion: tickwirev1.ProtocolVersion_PROTOCOL_VERSION_1, Name: "idle"}}})
	if err != nil {
		return nil, err
	}
	var (
		mu      sync.Mutex
		conns   []*wsframe.Conn
		readers sync.WaitGroup
		dials   sync.WaitGroup
		lost    atomic.Int64
	)
	sem := make(chan struct{}, cfg.MaxDialing)
	fail := func(reason string) {
		mu.Lock()
		rep.Errors[reason]++
		mu.Unlock()
	}
	started := time.Now()
	for range cfg.Conns {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		dials.Go(func() {
			defer func() { <-sem }()
			c, err := dialIdle(ctx, cfg, hello)
			if err != nil {
				fail(errReason(err))
				return
			}
			mu.Lock()
			conns = append(conns, c)
			n := len(conns)
			mu.Unlock()
			readers.Go(func() {
				// Answers pings (ReadMessage does) until the connection ends.
				for {
					if _, _, err := c.ReadMessage(); err != nil {
						lost.Add(1)
						return
					}
				}
			})
			if n%1000 == 0 {
				fmt.Fprintf(cfg.Progress, "%6.1fs  %d connected\n", time.Since(started).Seconds(), n)
			}
		})
	}
	dials.Wait()
	closeAll := func() {
		mu.Lock()
		for _, c := range conns {
			_ = c.WriteClose(1000, "")
			_ = c.NetConn().Close()
		}
		mu.Unlock()
		readers.Wait()
	}
	defer closeAll()
	mu.Lock()
	rep.Connected = len(conns)
	mu.Unlock()
	fmt.Fprintf(cfg.Progress, "%d of %d connected in %.1fs; settling %s, then measuring for %s\n",
		rep.Connected, cfg.Conns, time.Since(started).Seconds(), cfg.Settle, cfg.Duration)

	select {
	case <-ctx.Done():
		return rep, ctx.Err()
	case <-time.After(cfg.Settle):
	}
	var a procSample
	if cfg.PID != 0 {
		if a, err = readProc(cfg.PID); err != nil {
			return rep, err
		}
	}
	maxRSS := a.rssKiB
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	end := time.Now().Add(cfg.Duration)
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return rep, ctx.Err()
		case <-tick.C:
		}
		if cfg.PID != 0 {
			if s, err := readProc(cfg.PID); err == nil {
				maxRSS = max(maxRSS, s.rssKiB)
			}
		}
	}
	if cfg.PID != 0 {
		b, err := readProc(cfg.PID)
		if err != nil {
			return rep, err
		}
		maxRSS = max(maxRSS, b.rssKiB)
		rep.Window = b.at.Sub(a.at)
		rep.CPUPercent = ptr(cpuPercent(a, b))
		rep.RSSMiB = ptr(float64(maxRSS) / 1024)
		if rep.Connected > 0 {
			rep.RSSPerConnKiB = ptr(float64(maxRSS-before.rssKiB) / float64(rep.Connected))
		}
	}
	if cfg.MetricsURL != "" {
		p, err := scrape(ctx, cfg.MetricsURL)
		if err != nil {
			return rep, err
		}
		if v, ok := p.sum("go_goroutines"); ok {
			rep.Goroutines = ptr(v)
		}
		if v, ok := p.sum("tickwire_connections_read_in_lobby"); ok {
			rep.ReadInLobby = ptr(v)
		}
	}
	if n := lost.Load(); n > 0 {
		rep.Errors["lost_during_run"] = int(n)
	}
	return rep, nil
}

// dialIdle connects one idle client: upgrade, Hello, Welcome.
func dialIdle(ctx context.Context, cfg IdleConfig, hello []byte) (*wsframe.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	c, err := wsframe.Dial(dctx, cfg.URL, wsframe.DialOptions{})
	if err != nil {
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(cfg.DialTimeout))
	if err := c.WriteMessage(wsframe.OpBinary, hello); err != nil {
		_ = c.NetConn().Close()
		return nil, err
	}
	_, b, err := c.ReadMessage()
	if err != nil {
		_ = c.NetConn().Close()
		return nil, err
	}
	var m tickwirev1.ServerMessage
	if err := proto.Unmarshal(b, &m); err != nil || m.GetWelcome() == nil {
		_ = c.NetConn().Close()
		return nil, fmt.Errorf("loadtest: want Welcome, got %v (%v)", &m, err)
	}
	_ = c.SetReadDeadline(time.Time{})
	return c, nil
}

// WriteTable prints the idle run's figures.
func (rep *IdleReport) WriteTable(w io.Writer) error {
	f := func(p *float64, format string) string {
		if p == nil {
			return "n/a"
		}
		return fmt.Sprintf(format, *p)
	}
	_, err := fmt.Fprintf(w, `idle lobby: %d of %d clients connected (Hello done, in no room)
  server RSS empty          %s MiB
  server RSS, all connected %s MiB (max in the window; %s KiB per connection)
  server goroutines         %s empty, %s connected
  read by the lobby reader  %s connections
  server CPU at rest        %s%% of one core over %s
  errors                    %v
`, rep.Connected, rep.Conns,
		f(rep.RSSEmptyMiB, "%.1f"), f(rep.RSSMiB, "%.1f"), f(rep.RSSPerConnKiB, "%.2f"),
		f(rep.GoroutinesEmpty, "%.0f"), f(rep.Goroutines, "%.0f"), f(rep.ReadInLobby, "%.0f"),
		f(rep.CPUPercent, "%.2f"), rep.Window.Round(time.Millisecond), rep.Errors)
	return err
}
