package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tickwire/tickwire/client"
	arenav1 "github.com/tickwire/tickwire/examples/arena/proto/arena/v1"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/proto/wire"
)

// Config is one load-test run. The zero value of every optional field has a
// working default (see withDefaults).
type Config struct {
	// URL of the node's WebSocket endpoint. Default ws://127.0.0.1:8080/ws.
	URL string
	// Bots is the number of simulated players. Default 10.
	Bots int
	// RoomType joined with join-or-create. Default "arena".
	RoomType string
	// RoomSize is the expected number of seats per room (the arena room
	// has 10). It sends no filter: the server decides room size; the tool
	// only uses it to report the expected room count next to the real one.
	// Default 10.
	RoomSize int
	// Rate is inputs per second per bot. Default 20.
	Rate float64
	// Ramp spreads the joins evenly over this long. 0 joins all bots at
	// once (MaxJoining at a time).
	Ramp time.Duration
	// Duration of the steady measurement window. It starts when the ramp
	// is over and every join attempt has finished, so a run lasts about
	// Ramp + Duration + Grace. Default 10 s.
	Duration time.Duration
	// Grace after the window, while inputs have stopped: in-flight states
	// arrive and a few bots fetch a full snapshot for the size comparison.
	// Default 1 s.
	Grace time.Duration
	// Tag makes a bot set Input.tag on about one input per second.
	Tag bool
	// MetricsURL is the server's Prometheus endpoint, "" for none.
	MetricsURL string
	// RoomsURL is the server's JSON room list, "" for none.
	RoomsURL string
	// PID of the server process for CPU and RSS sampling, 0 for none.
	PID int
	// AllowRemote permits non-loopback URLs.
	AllowRemote bool
	// JoinTimeout bounds dial, handshake and join of one bot. Default 10 s.
	JoinTimeout time.Duration
	// MaxJoining bounds concurrent join attempts. Default 64.
	MaxJoining int
	// Workers is the number of sender goroutines; each drives 1/Workers of
	// the bots from one ticker, phase-shifted by period/Workers so sends
	// are spread over the period. Default 8.
	Workers int
	// Lead times each bot's inputs to reach the server this long before
	// its room's next tick, as the SDKs' clients do (Client.NextInputAt,
	// the browser game's input loop). The tick timeline comes from the
	// bot's state arrivals; about once a second each bot moves to the
	// sender whose phase is nearest its send time. Default 20 ms.
	Lead time.Duration
	// FixedPhase turns Lead off: bot i is sent by sender i % Workers for
	// the whole run, at a phase unrelated to its room's tick (the tool's
	// behaviour before Lead; older figures in docs/performance.md).
	FixedPhase bool
	// FullProbes is how many bots request a full state after the window
	// to measure the full snapshot of a busy room. Default 10.
	FullProbes int
	// Progress receives one line per second; nil for none.
	Progress io.Writer
	// Logger for unexpected conditions. Default: discard.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.URL == "" {
		c.URL = "ws://127.0.0.1:8080/ws"
	}
	if c.Bots <= 0 {
		c.Bots = 10
	}
	if c.RoomType == "" {
		c.RoomType = "arena"
	}
	if c.RoomSize <= 0 {
		c.RoomSize = 10
	}
	if c.Rate <= 0 {
		c.Rate = 20
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Grace <= 0 {
		c.Grace = time.Second
	}
	if c.JoinTimeout <= 0 {
		c.JoinTimeout = 10 * time.Second
	}
	if c.MaxJoining <= 0 {
		c.MaxJoining = 64
	}
	if c.Workers <= 0 {
		c.Workers = 8
	}
	if c.FullProbes <= 0 {
		c.FullProbes = 10
	}
	if c.Lead <= 0 {
		c.Lead = 20 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// ErrTooFewJoined is returned (with the report) when fewer than 95% of the
// bots joined a room.
var ErrTooFewJoined = errors.New("loadtest: fewer than 95% of the bots joined")

// ringSize is how many sent inputs a bot remembers for latency matching:
// 6.4 s at 20 Hz. An input not answered within that is not counted.
const ringSize = 128

type sentInput struct {
	seq uint32
	at  time.Duration // since run start
}

// bot is one simulated player. The sender fields are owned by one worker
// goroutine; the receive side runs on the client's read goroutine; mu
// guards the ring both touch.
type bot struct {
	r  *runner
	id int
	c  *client.Client

	active atomic.Bool // joined; workers send for it
	// worker is the sender that owns the sender fields; want is where Lead
	// would move it. Only the owner moves it, so the handoff is ordered.
	worker, want atomic.Int32
	closed       atomic.Bool

	// Sender-owned.
	lastPeriod int64 // the last send period (see sender)
	lastSeq    uint32
	dir        int
	dirTicks   int

	mu       sync.Mutex
	ring     [ringSize]sentInput
	resolved uint32

	states     atomic.Uint64
	stateBytes atomic.Uint64
	otherBytes atomic.Uint64
	inputs     atomic.Uint64
	firstSize  atomic.Int64 // frame size of the first state, 0 before it
	firstFull  atomic.Bool
	wantFull   atomic.Bool
	fullSize   atomic.Int64 // frame size of the requested full state
}

// stateFrameSize is the WebSocket payload size of the frame that carried
// st: the frame is exactly ServerMessage{state: st} (field 1, so a one-byte
// tag, then the varint length, then the State), which is what
// proto.Size(&ServerMessage{...}) returns; the server writes no other field
// in state frames (engine/frame.go).
func stateFrameSize(st *tickwirev1.State) int {
	return wire.SizeState(wire.State{Tick: st.Tick, Baseline: st.BaselineTick, LastInputSeq: st.LastInputSeq, Payload: st.Payload})
}

func (b *bot) onState(st *tickwirev1.State) {
	now := b.r.since()
	size := stateFrameSize(st)
	if n := b.states.Add(1); n%20 == 10 && !b.r.cfg.FixedPhase && b.active.Load() {
		if at, ok := b.c.NextInputAt(b.r.cfg.Lead); ok {
			b.want.Store(int32(b.r.leadWorker(int(b.want.Load()), at)))
		}
	}
	b.stateBytes.Add(uint64(size))
	if b.firstSize.Load() == 0 {
		b.firstSize.Store(int64(size))
		b.firstFull.Store(st.BaselineTick == 0)
	}
	if st.BaselineTick == 0 && b.wantFull.Load() {
		b.fullSize.Store(int64(size))
		b.wantFull.Store(false)
	}
	last := st.LastInputSeq
	b.mu.Lock()
	if last > b.resolved {
		from := b.resolved + 1
		if last-from >= ringSize {
			from = last - ringSize + 1
		}
		winStart, winEnd := b.r.winStart.Load(), b.r.winEnd.Load()
		for s := from; s <= last; s++ {
			e := b.ring[s%ringSize]
			if e.seq == s && int64(e.at) >= winStart && int64(e.at) < winEnd {
				b.r.latency.Record(now - e.at)
			}
		}
		b.resolved = last
	}
	b.mu.Unlock()
}

func (b *bot) onEvent(m *tickwirev1.ServerMessage) {
	b.otherBytes.Add(uint64(proto.Size(m)))
	if e := m.GetError(); e != nil {
		b.r.countErr("error frame " + e.Code.String())
	}
	if l := m.GetLeft(); l != nil {
		b.r.countErr("left " + l.Reason.String())
	}
}

func (b *bot) onClose(err error) {
	b.closed.Store(true)
	if !b.r.stopping.Load() {
		b.r.closes.Add(1)
		reason := "closed"
		var ce *client.CloseError
		if errors.As(err, &ce) {
			reason = fmt.Sprintf("closed %d %s", ce.Code, ce.Reason)
		}
		b.r.countErr(reason)
	}
}

// directions are the payloads of the random walk: 16 headings at full
// stick, without and with the tag flag.
type payloads struct {
	move [16][]byte
	tag  [16][]byte
}

func newPayloads() (*payloads, error) {
	p := &payloads{}
	for i := range 16 {
		a := 2 * math.Pi * float64(i) / 16
		in := &arenav1.Input{MoveX: int32(math.Round(127 * math.Cos(a))), MoveY: int32(math.Round(127 * math.Sin(a)))}
		var err error
		if p.move[i], err = proto.Marshal(in); err != nil {
			return nil, err
		}
		in.Tag = true
		if p.tag[i], err = proto.Marshal(in); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// runner is the state of one Run.
type runner struct {
	cfg      Config
	start    time.Time
	bots     []*bot
	latency  latencyHist
	payloads *payloads

	winStart atomic.Int64 // ns since start; latency counts inputs sent in [winStart, winEnd)
	winEnd   atomic.Int64
	stopping atomic.Bool

	joined    atomic.Int64
	joinErrs  atomic.Int64
	closes    atomic.Int64
	sendErrs  atomic.Int64
	errMu     sync.Mutex
	errCounts map[string]int

	procMu  sync.Mutex
	maxRSS  int64
	lastCPU float64
}

func (r *runner) since() time.Duration { return time.Since(r.start) }

func (r *runner) countErr(reason string) {
	r.errMu.Lock()
	r.errCounts[reason]++
	r.errMu.Unlock()
}

// Run runs one load test: ramp-up, steady window, grace, close. It returns
// the report even with ErrTooFewJoined. ctx cancels the run early (the
// report then covers the shortened window).
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	if !cfg.AllowRemote {
		for _, u := range []string{cfg.URL, cfg.MetricsURL, cfg.RoomsURL} {
			if u == "" {
				continue
			}
			if err := checkLoopback(u); err != nil {
				return nil, err
			}
		}
	}
	pl, err := newPayloads()
	if err != nil {
		return nil, fmt.Errorf("loadtest: payloads: %w", err)
	}
	r := &runner{cfg: cfg, start: time.Now(), payloads: pl, errCounts: map[string]int{}}
	r.winStart.Store(math.MaxInt64)
	r.winEnd.Store(math.MaxInt64)
	r.bots = make([]*bot, cfg.Bots)
	for i := range r.bots {
		b := &bot{r: r, id: i, lastPeriod: -1}
		b.worker.Store(int32(i % cfg.Workers))
		b.want.Store(int32(i % cfg.Workers))
		r.bots[i] = b
	}
	return r.run(ctx)
}

func (r *runner) run(ctx context.Context) (*Report, error) {
	cfg := r.cfg
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Senders run until stopSend is closed.
	stopSend := make(chan struct{})
	var sendWG sync.WaitGroup
	for w := range cfg.Workers {
		sendWG.Add(1)
		go func() {
			defer sendWG.Done()
			r.sender(w, stopSend)
		}()
	}

	// Progress and process sampling, once per second, until stopProg.
	stopProg := make(chan struct{})
	var progWG sync.WaitGroup
	progWG.Add(1)
	go func() {
		defer progWG.Done()
		r.progress(stopProg)
	}()

	// Ramp: bot i starts joining at Ramp*i/Bots.
	var joinWG sync.WaitGroup
	sem := make(chan struct{}, cfg.MaxJoining)
ramp:
	for i, b := range r.bots {
		at := time.Duration(int64(cfg.Ramp) * int64(i) / int64(cfg.Bots))
		if d := at - r.since(); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				break ramp
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break ramp
		}
		joinWG.Add(1)
		go func() {
			defer joinWG.Done()
			defer func() { <-sem }()
			r.join(ctx, b)
		}()
	}
	joinWG.Wait()

	// Steady window.
	winStart := r.since()
	r.winStart.Store(int64(winStart))
	before := r.snapshot(ctx)
	select {
	case <-time.After(cfg.Duration):
	case <-ctx.Done():
	}
	winEnd := r.since()
	r.winEnd.Store(int64(winEnd))
	after := r.snapshot(context.WithoutCancel(ctx))
	close(stopSend)
	sendWG.Wait()

	// Grace: in-flight states land; a few bots fetch a full snapshot.
	probes := 0
	for _, b := range r.bots {
		if probes >= cfg.FullProbes {
			break
		}
		if b.active.Load() && !b.closed.Load() {
			b.wantFull.Store(true)
			if err := b.c.RequestFullState(); err == nil {
				probes++
			}
		}
	}
	select {
	case <-time.After(cfg.Grace):
	case <-ctx.Done():
	}
	r.stopping.Store(true)
	r.closeAll()
	close(stopProg)
	progWG.Wait()

	rep := r.report(before, after, winEnd-winStart)
	if float64(rep.Joined) < 0.95*float64(rep.Bots) {
		return rep, fmt.Errorf("%w: %d of %d", ErrTooFewJoined, rep.Joined, rep.Bots)
	}
	return rep, nil
}

func (r *runner) join(ctx context.Context, b *bot) {
	cfg := r.cfg
	jctx, cancel := context.WithTimeout(ctx, cfg.JoinTimeout)
	defer cancel()
	name := fmt.Sprintf("bot%d", b.id)
	c, err := client.Dial(jctx, cfg.URL, client.Options{
		Name:    name,
		OnState: b.onState,
		OnEvent: b.onEvent,
		OnClose: b.onClose,
	})
	if err != nil {
		r.joinErrs.Add(1)
		r.countErr("dial: " + errReason(err))
		return
	}
	opts, err := proto.Marshal(&arenav1.JoinOptions{Name: name})
	if err != nil {
		r.joinErrs.Add(1)
		r.countErr("join options: " + errReason(err))
		r.closeClient(c)
		return
	}
	if _, err := c.JoinOrCreate(jctx, cfg.RoomType, client.JoinOptions{Options: opts}); err != nil {
		r.joinErrs.Add(1)
		r.countErr("join: " + errReason(err))
		r.closeClient(c)
		return
	}
	b.c = c
	b.dirTicks = 0
	b.active.Store(true) // publishes b.c to the sender
	r.joined.Add(1)
}

// errReason shortens an error to a stable category for counting.
func errReason(err error) string {
	var se *client.ServerError
	if errors.As(err, &se) {
		return se.Code.String()
	}
	var ce *client.CloseError
	if errors.As(err, &ce) {
		return fmt.Sprintf("closed %d", ce.Code)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	s := err.Error()
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

// leadWorker is the sender for a bot that should send at "at" (see
// Client.NextInputAt): the one whose phase is nearest, unless the current
// sender cur is within three quarters of a sender slot of it, so a bot
// whose send time sits between two senders does not move back and forth
// (each move shortens or stretches one gap between its inputs). Sender w
// fires at w×period/Workers past each period from the run's start.
func (r *runner) leadWorker(cur int, at time.Time) int {
	period := time.Duration(float64(time.Second) / r.cfg.Rate)
	slot := period / time.Duration(r.cfg.Workers)
	phase := (at.Sub(r.start)%period + period) % period
	dist := func(w int) time.Duration {
		d := (phase - time.Duration(w)*slot + period) % period
		return min(d, period-d)
	}
	if dist(cur) <= slot*3/4 {
		return cur
	}
	return int((phase+slot/2)/slot) % r.cfg.Workers
}

// sender drives the bots it owns (w, w+Workers, w+2*Workers, ... unless Lead
// moved them) from one ticker.
func (r *runner) sender(w int, stop <-chan struct{}) {
	cfg := r.cfg
	period := time.Duration(float64(time.Second) / cfg.Rate)
	select {
	case <-time.After(period * time.Duration(w) / time.Duration(cfg.Workers)):
	case <-stop:
		return
	}
	rng := rand.New(rand.NewPCG(uint64(w)+1, uint64(r.start.UnixNano())))
	t := time.NewTicker(period)
	defer t.Stop()
	ticksPerTurn := max(1, int(cfg.Rate)) // ~1 s between direction changes
	offset := period * time.Duration(w) / time.Duration(cfg.Workers)
	for {
		var fired time.Time
		select {
		case <-stop:
			return
		case fired = <-t.C:
		}
		// The period this firing belongs to: the k of start + offset +
		// k×period nearest to it, the same k for every sender, so a bot
		// moved to another sender sends once per period.
		k := int64((fired.Sub(r.start) - offset + period/2) / period)
		for _, b := range r.bots {
			if b.worker.Load() != int32(w) {
				continue
			}
			if k > b.lastPeriod && b.active.Load() && !b.closed.Load() {
				b.lastPeriod = k
				r.send(b, rng, ticksPerTurn)
			}
			if to := b.want.Load(); to != int32(w) {
				b.worker.Store(to) // hands the sender fields over
			}
		}
	}
}

// send sends one input for b.
func (r *runner) send(b *bot, rng *rand.Rand, ticksPerTurn int) {
	if b.dirTicks <= 0 {
		b.dir = rng.IntN(16)
		b.dirTicks = ticksPerTurn/2 + rng.IntN(ticksPerTurn+1)
	}
	b.dirTicks--
	payload := r.payloads.move[b.dir]
	if r.cfg.Tag && rng.IntN(ticksPerTurn) == 0 {
		payload = r.payloads.tag[b.dir]
	}
	seq := b.lastSeq + 1
	b.mu.Lock()
	b.ring[seq%ringSize] = sentInput{seq: seq, at: r.since()}
	b.mu.Unlock()
	got, err := b.c.SendInput(payload)
	if err != nil {
		r.sendErrs.Add(1)
		return
	}
	b.lastSeq = got
	b.inputs.Add(1)
}

// closeAll closes every connection, 32 at a time, each bounded by 3 s.
// client.Close waits for the server's close reply with no deadline of its
// own, so a close that does not finish is abandoned (the process exits
// soon after) and counted.
func (r *runner) closeAll() {
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for _, b := range r.bots {
		if b.c == nil || !b.active.Load() {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r.closeClient(b.c)
		}()
	}
	wg.Wait()
}

func (r *runner) closeClient(c *client.Client) {
	done := make(chan struct{})
	go func() {
		_ = c.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		r.countErr("close timed out")
	}
}

// snapshot is the state of counters at one edge of the window.
type snapshot struct {
	states, stateBytes, other, inputs []uint64
	proc                              *procSample
	self                              *procSample
	loadAvg                           float64 // 1-minute load average, -1 if unknown
	machine                           *machineSample
	metrics                           promSample
	rooms                             int
}

func (r *runner) snapshot(ctx context.Context) snapshot {
	s := snapshot{
		states: make([]uint64, len(r.bots)), stateBytes: make([]uint64, len(r.bots)),
		other: make([]uint64, len(r.bots)), inputs: make([]uint64, len(r.bots)),
	}
	for i, b := range r.bots {
		s.states[i] = b.states.Load()
		s.stateBytes[i] = b.stateBytes.Load()
		s.other[i] = b.otherBytes.Load()
		s.inputs[i] = b.inputs.Load()
	}
	if r.cfg.PID > 0 {
		if p, err := readProc(r.cfg.PID); err == nil {
			s.proc = &p
		} else {
			r.cfg.Logger.Warn("sample server process", "err", err)
		}
	}
	if p, err := readProc(os.Getpid()); err == nil {
		s.self = &p
	}
	s.loadAvg = readLoadAvg()
	if m, err := readMachine(); err == nil {
		s.machine = &m
	}
	if r.cfg.MetricsURL != "" {
		if m, err := scrape(ctx, r.cfg.MetricsURL); err == nil {
			s.metrics = m
		} else {
			r.cfg.Logger.Warn("scrape metrics", "err", err)
		}
	}
	s.rooms = -1
	if r.cfg.RoomsURL != "" {
		if n, err := countRooms(ctx, r.cfg.RoomsURL, r.cfg.RoomType); err == nil {
			s.rooms = n
		} else {
			r.cfg.Logger.Warn("list rooms", "err", err)
		}
	}
	return s
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

func get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return body, nil
}

func scrape(ctx context.Context, u string) (promSample, error) {
	body, err := get(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("loadtest: scrape: %w", err)
	}
	return parseProm(string(body))
}

// progress prints one line per second and tracks the server's RSS.
func (r *runner) progress(stop <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var prev *procSample
	var prevStates uint64
	prevAt := r.since()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		var states uint64
		for _, b := range r.bots {
			states += b.states.Load()
		}
		now := r.since()
		rate := float64(states-prevStates) / (now - prevAt).Seconds()
		prevStates, prevAt = states, now
		cpu, rss := "-", "-"
		if r.cfg.PID > 0 {
			if p, err := readProc(r.cfg.PID); err == nil {
				r.procMu.Lock()
				r.maxRSS = max(r.maxRSS, p.rssKiB)
				if prev != nil {
					r.lastCPU = cpuPercent(*prev, p)
					cpu = fmt.Sprintf("%.1f%%", r.lastCPU)
				}
				r.procMu.Unlock()
				rss = fmt.Sprintf("%.1fMB", float64(p.rssKiB)/1024)
				prev = &p
			}
		}
		if r.cfg.Progress != nil {
			phase := "ramp"
			if ws := r.winStart.Load(); int64(now) >= ws {
				phase = "steady"
				if int64(now) >= r.winEnd.Load() {
					phase = "grace"
				}
			}
			fmt.Fprintf(r.cfg.Progress, "%6.1fs %-6s joined=%d/%d joinErr=%d errors=%d closes=%d states/s=%.0f cpu=%s rss=%s\n",
				now.Seconds(), phase, r.joined.Load(), len(r.bots), r.joinErrs.Load(), r.errTotal(), r.closes.Load(), rate, cpu, rss)
		}
	}
}

func (r *runner) errTotal() int {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	n := 0
	for _, c := range r.errCounts {
		n += c
	}
	return n
}

// sortedReasons returns the error reasons, most frequent first.
func (r *runner) sortedReasons() map[string]int {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	out := make(map[string]int, len(r.errCounts))
	for k, v := range r.errCounts {
		out[k] = v
	}
	return out
}

func reasonsLine(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || (m[keys[i]] == m[keys[j]] && keys[i] < keys[j]) })
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s×%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
