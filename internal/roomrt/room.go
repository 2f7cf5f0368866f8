package roomrt

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tickwire/tickwire/internal/lograte"
	"github.com/tickwire/tickwire/netcode"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

// Info is a snapshot of a room's public description, for listings and
// matchmaking.
type Info struct {
	ID         string            `json:"id"`
	Type       string            `json:"type"`
	Players    int               `json:"players"`
	Reserved   int               `json:"reserved"`
	MaxPlayers int               `json:"maxPlayers"`
	Locked     bool              `json:"locked"`
	Private    bool              `json:"private"`
	Metadata   map[string]string `json:"metadata,omitempty"`
	Tick       uint32            `json:"tick"`
	TickRate   int               `json:"tickRate"`
	CreatedAt  time.Time         `json:"createdAt"`
}

// JoinRequest asks a room for a seat.
type JoinRequest struct {
	UserID    string
	Name      string
	SessionID string
	// Conn receives the player's frames. Required.
	Conn Conn
	// Options are the game-defined join options.
	Options []byte
	// RequestID is echoed in the Joined frame.
	RequestID uint32
}

// JoinResult describes a successful join. The Joined frame has already been
// queued on the connection when Join returns, ahead of any state.
type JoinResult struct {
	RoomID   string
	PlayerID uint32
	Tick     uint32
}

type inboundKind uint8

const (
	inInput inboundKind = iota
	inMessage
	inLatency
)

// inbound is one input, message or latency report queued for the next
// tick. A room queues a batch's inputs at once (runDue), so it is kept
// small: a latency report's two durations travel, in microseconds, in
// seq and ack.
type inbound struct {
	kind     inboundKind
	player   uint32
	seq      uint32 // input seq; a latency report's RTT (µs)
	ack      uint32 // input ack tick; a latency report's interpolation delay (µs)
	typeName string // message type
	payload  []byte
}

// micros is d in whole microseconds, within [0, MaxUint32].
func micros(d time.Duration) uint32 {
	return uint32(min(max(d.Microseconds(), 0), math.MaxUint32))
}

type controlKind uint8

const (
	ctlJoin controlKind = iota
	ctlLeave
	ctlKick
	ctlClose
	ctlCall
	ctlDisconnect
	ctlResume
)

type control struct {
	kind   controlKind
	join   *JoinRequest
	resume *ResumeRequest
	conn   Conn
	player uint32
	reason LeaveReason
	msg    string
	close  CloseReason
	fn     func()
	reply  chan joinReply
}

type joinReply struct {
	res JoinResult
	err error
}

// Room is a running room actor. Its exported methods are safe for
// concurrent use.
type Room struct {
	id      string
	typ     string
	def     *Definition
	cfg     Config
	clock   Clock
	obs     Observer
	log     *slog.Logger
	rt      Handler
	tokens  TokenIssuer
	onClose func(*Room)
	created time.Time

	// Shared with other goroutines.
	mu         sync.Mutex
	inputs     []inbound
	payloads   []byte // the queued inputs' payloads (postInbound copies them here)
	controls   []control
	closed     bool
	notify     chan struct{}
	done       chan struct{}
	seats      atomic.Int32 // players + reserved seats
	maxPlayers atomic.Int32
	locked     atomic.Bool
	private    atomic.Bool
	tickNow    atomic.Uint32
	tickRate   atomic.Int32
	players    atomic.Int32
	meta       atomic.Pointer[map[string]string]

	// Owned by the room goroutine.
	byID       map[uint32]*Player
	order      []*Player
	nextID     uint32
	tick       uint32
	spare      []inbound
	sparePay   []byte
	tickInputs []Input
	taken      []netcode.Input
	repl       *netcode.Replicator
	timers     timerHeap
	timerSeq   uint64
	emptySince time.Time
	// draining: the node is shutting down (Registry.Drain); the room closes
	// as soon as it is empty. Set from any goroutine.
	draining   atomic.Bool
	closing    CloseReason
	sendEvery  uint32
	rateChange int
	// rateChangeAt anchors the new schedule at the moment SetTickRate ran,
	// however late the loop applies it.
	rateChangeAt time.Time
	viewIDs      []uint32
	shared       sharedViews // one view and one encoding per distinct view (replicateViews)
	// helpers take a share of a big room's socket calls (parallel.go); nil
	// without a registry or with GOMAXPROCS 1. par is the round of calls
	// being spread; deferSends: this tick's state frames wait for flush.
	helpers    *helperPool
	par        parBatch
	deferSends bool
	// behindCount is the registry's count of rooms a tick or more behind
	// (nil without a registry); behind says whether this room is counted.
	behindCount *atomic.Int32
	behind      bool
	// epoch and phase place the room's ticks (see pacer): set by the
	// registry before the room starts.
	epoch time.Time
	phase int

	// behindLog keeps "room fell behind" to one line per 10 s, with the
	// ticks skipped and the times it fell behind since the last line.
	behindLog lograte.Limiter

	// Worst tick of the current and the previous tickStatsWindow (room
	// goroutine), published in lateMax and durMax for TickStats.
	statStart         time.Time
	curLate, curDur   time.Duration
	prevLate, prevDur time.Duration
	lateMax, durMax   atomic.Int64
}

func newRoom(id, typ string, def *Definition, clock Clock, obs Observer, log *slog.Logger, private bool, meta map[string]string) *Room {
	cfg := def.cfg
	r := &Room{
		id: id, typ: typ, def: def, cfg: cfg, clock: clock, obs: obs,
		log:     log.With("room", id, "type", typ),
		created: clock.Now(),
		notify:  make(chan struct{}, 1),
		done:    make(chan struct{}),
		byID:    make(map[uint32]*Player),
		repl:    netcode.NewReplicator(netcode.ReplicatorConfig{History: cfg.History, ReuseBuffers: true, Layouts: &def.layouts}),
	}
	r.maxPlayers.Store(int32(cfg.MaxPlayers))
	r.private.Store(private)
	r.tickRate.Store(int32(cfg.TickRate))
	m := maps.Clone(meta)
	if m == nil {
		m = map[string]string{}
	}
	r.meta.Store(&m)
	r.sendEvery = uint32(max(1, cfg.TickRate/cfg.SendRate))
	r.rt = def.newHandler(r)
	return r
}

// ID returns the room id.
func (r *Room) ID() string { return r.id }

// Type returns the room type name.
func (r *Room) Type() string { return r.typ }

// Tick returns the room's current tick (cheaper than Info().Tick).
func (r *Room) Tick() uint32 { return r.tickNow.Load() }

// Done is closed when the room has closed.
func (r *Room) Done() <-chan struct{} { return r.done }

// Occupancy returns the number of players in the room, those in their
// reconnection grace included. A joining player is counted before Join
// returns; a leaving one until its Conn's Removed has returned.
func (r *Room) Occupancy() int { return int(r.players.Load()) }

// Info returns a snapshot of the room's public description.
func (r *Room) Info() Info {
	players := int(r.players.Load())
	return Info{
		ID: r.id, Type: r.typ,
		Players:    players,
		Reserved:   max(0, int(r.seats.Load())-players),
		MaxPlayers: int(r.maxPlayers.Load()),
		Locked:     r.locked.Load(),
		Private:    r.private.Load(),
		Metadata:   maps.Clone(*r.meta.Load()),
		Tick:       r.tickNow.Load(),
		TickRate:   int(r.tickRate.Load()),
		CreatedAt:  r.created,
	}
}

// matches reports whether every filter entry is in the room's metadata.
func (r *Room) matches(filter map[string]string) bool {
	m := *r.meta.Load()
	for k, v := range filter {
		if m[k] != v {
			return false
		}
	}
	return true
}

// reserveSeat takes a seat if the room is open, unlocked and not full.
func (r *Room) reserveSeat() error {
	if r.locked.Load() {
		return ErrLocked
	}
	for {
		n := r.seats.Load()
		if n >= r.maxPlayers.Load() {
			return ErrFull
		}
		if r.seats.CompareAndSwap(n, n+1) {
			return nil
		}
	}
}

func (r *Room) releaseSeat() { r.seats.Add(-1) }

// Join adds a player to the room. It returns ErrFull, ErrLocked,
// ErrRejected (wrapping a *RejectError), or ErrClosed.
func (r *Room) Join(ctx context.Context, req JoinRequest) (JoinResult, error) {
	if err := r.reserveSeat(); err != nil {
		return JoinResult{}, err
	}
	return r.joinReserved(ctx, req)
}

// joinReserved completes a join whose seat is already reserved; the seat is
// released on failure.
func (r *Room) joinReserved(ctx context.Context, req JoinRequest) (JoinResult, error) {
	reply := make(chan joinReply, 1)
	if !r.post(control{kind: ctlJoin, join: &req, reply: reply}) {
		r.releaseSeat()
		return JoinResult{}, ErrClosed
	}
	select {
	case rep := <-reply:
		return rep.res, rep.err
	case <-ctx.Done():
		// The room will still answer; make sure a late success is undone.
		go func() {
			if rep := <-reply; rep.err == nil {
				r.Leave(rep.res.PlayerID, LeaveDisconnected)
			}
		}()
		return JoinResult{}, ctx.Err()
	}
}

// Leave removes a player. It never blocks and is never dropped.
func (r *Room) Leave(playerID uint32, reason LeaveReason) {
	r.post(control{kind: ctlLeave, player: playerID, reason: reason})
}

// Close closes the room: every player is removed (LeaveRoomClosed), the
// handler's Terminate runs, and Done is closed. It returns when the room has
// closed or ctx ends.
func (r *Room) Close(ctx context.Context, reason CloseReason) error {
	r.post(control{kind: ctlClose, close: reason})
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// PostInput queues an input for the next tick. It copies payload: the
// caller may reuse it once PostInput returns. It returns ErrMailboxFull
// when the input queue is full and ErrClosed after the room closed.
func (r *Room) PostInput(playerID, seq, ackTick uint32, payload []byte) error {
	return r.postInbound(inbound{kind: inInput, player: playerID, seq: seq, ack: ackTick, payload: payload})
}

// PostMessage queues a game message (its full protobuf type name and its
// encoding) for the next tick.
func (r *Room) PostMessage(playerID uint32, typeName string, payload []byte) error {
	return r.postInbound(inbound{kind: inMessage, player: playerID, typeName: typeName, payload: payload})
}

// ReportLatency records a player's own RTT and interpolation delay reports.
func (r *Room) ReportLatency(playerID uint32, rtt, interpDelay time.Duration) {
	_ = r.postInbound(inbound{kind: inLatency, player: playerID, seq: micros(rtt), ack: micros(interpDelay)})
}

// Disconnect reports that conn, the connection of player playerID, ended
// without a Leave. The player stays in the room, disconnected, for
// Config.ReconnectGrace (the handler hears Disconnected), then leaves with
// LeaveDisconnected unless a Resume brought it back. A Disconnect for a
// connection the player no longer uses (it resumed on another) is ignored.
// It never blocks and is never dropped.
func (r *Room) Disconnect(playerID uint32, conn Conn) {
	r.post(control{kind: ctlDisconnect, player: playerID, conn: conn})
}

// ResumeRequest asks for a disconnected (or superseded) seat back.
type ResumeRequest struct {
	PlayerID uint32
	// Gen is the generation of the resume token presented; only the newest
	// one issued resumes.
	Gen uint32
	// Conn takes the seat over. Required.
	Conn Conn
	// RequestID is echoed in the Joined frame.
	RequestID uint32
}

// Resume gives a seat back to a new connection: the player keeps its id,
// its inputs continue, its old connection (if still open) is superseded,
// and its next state is a full snapshot. It returns ErrNotInRoom when the
// seat is gone and ErrTokenUsed for a token of an older generation.
func (r *Room) Resume(ctx context.Context, req ResumeRequest) (JoinResult, error) {
	reply := make(chan joinReply, 1)
	if !r.post(control{kind: ctlResume, resume: &req, reply: reply}) {
		return JoinResult{}, ErrClosed
	}
	select {
	case rep := <-reply:
		return rep.res, rep.err
	case <-ctx.Done():
		go func() {
			// A late success leaves the seat disconnected again: the
			// connection that asked is gone.
			if rep := <-reply; rep.err == nil {
				r.Disconnect(rep.res.PlayerID, req.Conn)
			}
		}()
		return JoinResult{}, ctx.Err()
	}
}

// Call runs fn on the room goroutine (between ticks) and waits for it. Use
// it to read or change room state from outside safely.
func (r *Room) Call(ctx context.Context, fn func()) error {
	done := make(chan struct{})
	if !r.post(control{kind: ctlCall, fn: func() { defer close(done); fn() }}) {
		return ErrClosed
	}
	select {
	case <-done:
		return nil
	case <-r.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// minMailboxKeep is the input queue capacity a room always keeps (see
// runTick): a tick of a few dozen inputs never reallocates it.
const minMailboxKeep = 64

func (r *Room) postInbound(in inbound) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	if len(r.inputs) >= r.cfg.MailboxSize {
		r.mu.Unlock()
		r.obs.InputDropped(r.typ, "mailbox_full")
		return ErrMailboxFull
	}
	if in.kind == inInput && len(in.payload) > 0 {
		// Inputs are small and many: their payloads share one buffer per
		// tick (swapped with its spare like the queue) instead of one
		// allocation each. Earlier inputs keep pointing into the old array
		// if it grows.
		off := len(r.payloads)
		r.payloads = append(r.payloads, in.payload...)
		in.payload = r.payloads[off:len(r.payloads):len(r.payloads)]
	}
	if len(r.inputs) == cap(r.inputs) && len(r.inputs) >= minMailboxKeep {
		// Past the size every room keeps, grow by a quarter, not double:
		// the queues of a room's batch stay close to what it reads.
		q := make([]inbound, len(r.inputs), len(r.inputs)+len(r.inputs)/4)
		copy(q, r.inputs)
		r.inputs = q
	}
	r.inputs = append(r.inputs, in)
	r.mu.Unlock()
	return nil
}

// maxPayloadKeep is the input payload buffer a room keeps between ticks; a
// bigger one (after a burst) is dropped, as the queue is.
const maxPayloadKeep = 16 << 10

func (r *Room) post(c control) bool {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return false
	}
	r.controls = append(r.controls, c)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
	return true
}

// start runs Init on the room goroutine and then the loop. It returns Init's
// error.
func (r *Room) start(opts []byte) error {
	if r.def.err != nil {
		close(r.done)
		return r.def.err
	}
	initErr := make(chan error, 1)
	go r.run(opts, initErr)
	return <-initErr
}

func (r *Room) run(opts []byte, initErr chan<- error) {
	defer close(r.done)
	if err := r.protect(func() error { return r.rt.Init(opts) }); err != nil {
		r.shutdownQueues()
		initErr <- fmt.Errorf("room %s: init: %w", r.typ, err)
		return
	}
	r.obs.RoomOpened(r.typ)
	initErr <- nil
	r.emptySince = r.clock.Now()

	p := pacer{maxBehind: r.cfg.MaxCatchUp}
	iv := interval(r.cfg.TickRate)
	now := r.clock.Now()
	p.begin(now, r.epoch.Add(phaseOffset(r.phase, iv)), iv)
	timer := r.clock.NewTimer(p.wait(now))
	defer timer.Stop()
	for r.closing == 0 {
		select {
		case <-r.notify:
			r.drainControl()
			if r.rateChange > 0 {
				r.applyRate(&p)
				timer.Stop()
				timer.Reset(p.wait(r.clock.Now()))
			}
		case <-timer.C():
			r.runDue(&p)
			timer.Reset(p.wait(r.clock.Now()))
		}
	}
	r.markBehind(false)
	r.finish()
}

// runDue runs the ticks that are due, oldest first (see pacer): at most
// MaxCatchUp+1 in one go, after which the loop takes its mailbox and comes
// back for the rest at once.
//
// A room that is behind runs its due ticks in batches of up to
// maxBatchTicks: back to back, reading its players' sockets once before
// the first and writing each player once after the last, with every state
// of the batch (see Batcher). Its socket calls, most of a tick's cost,
// then no longer grow with how far behind it is, so a node that cannot
// keep up gets cheaper per tick instead of falling further behind
// (docs/performance.md, "Overload"). The inputs of a batch were all sent
// before it started: they are spread over its ticks, not used up by the
// first.
//
// A room that is behind yields its goroutine before each batch, and while
// any room of the registry is behind (othersBehind) so does a room on
// time: on an overloaded node every room then takes its turn in one
// queue. A goroutine woken by its timer runs ahead of those already
// waiting, so without the yield the rooms that got the CPU kept it while
// the others fell behind until they skipped ticks: at 3,000 load-test bots
// some players got 0–8 states a second while the median got 16; with the
// yield for late rooms only, the rooms on time stayed on time while the
// others ran 300–480 ms late (docs/performance.md, "Overload").
func (r *Room) runDue(p *pacer) {
	left := r.cfg.MaxCatchUp + 1
	for left > 0 && r.closing == 0 {
		now := r.clock.Now()
		late := now.Sub(p.next)
		r.markBehind(late >= p.iv)
		if late >= 0 && (left <= r.cfg.MaxCatchUp || late >= p.iv || r.othersBehind()) {
			runtime.Gosched()
			now = r.clock.Now()
		}
		n := min(p.due(now), left, maxBatchTicks)
		if n == 0 {
			return
		}
		left -= n
		for j := range n {
			if j > 0 {
				now = r.clock.Now()
			}
			late, shifted, _ := p.take(now)
			if shifted > 0 {
				r.obs.TicksSkipped(r.typ, shifted)
				if times, skipped, ok := r.behindLog.Add(now, shifted); ok {
					r.log.Warn("room fell behind; skipping ticks", "skipped", skipped, "times", times)
				}
			}
			r.runTick(late, j, n)
			if r.rateChange > 0 {
				r.applyRate(p)
				return
			}
			if r.closing != 0 {
				return
			}
		}
	}
}

// markBehind records whether the room is a tick or more behind in the
// registry's count (othersBehind).
func (r *Room) markBehind(behind bool) {
	if r.behindCount == nil || behind == r.behind {
		return
	}
	r.behind = behind
	if behind {
		r.behindCount.Add(1)
	} else {
		r.behindCount.Add(-1)
	}
}

// othersBehind reports whether another room of the registry is a tick or
// more behind.
func (r *Room) othersBehind() bool {
	if r.behindCount == nil {
		return false
	}
	n := r.behindCount.Load()
	if r.behind {
		n--
	}
	return n > 0
}

// maxBatchTicks bounds a batch (runDue): a room further behind runs its
// due ticks in several, each with its socket read and write. Most of the
// saving is in the first few ticks of a batch (a batch of k ticks makes
// 1/k of the socket calls), while what a batch reads and holds (inputs,
// states) is kept in buffers sized for the biggest batch a room ran.
const maxBatchTicks = 4

// applyRate starts the schedule of a SetTickRate: its first tick is one new
// interval after the call.
func (r *Room) applyRate(p *pacer) {
	p.begin(r.rateChangeAt, r.rateChangeAt, interval(r.rateChange))
	r.rateChange = 0
}

// protect runs fn, turning a panic into an error and closing the room.
func (r *Room) protect(fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			r.log.Error("room handler panicked; closing room", "panic", v, "stack", string(debug.Stack()))
			r.closing = ClosePanic
			err = fmt.Errorf("room: handler panic: %v", v)
		}
	}()
	return fn()
}

func (r *Room) drainControl() {
	r.mu.Lock()
	batch := r.controls
	r.controls = nil
	r.mu.Unlock()
	for i := range batch {
		c := &batch[i]
		switch c.kind {
		case ctlJoin:
			res, err := r.handleJoin(c.join)
			c.reply <- joinReply{res: res, err: err}
		case ctlLeave:
			if p := r.byID[c.player]; p != nil {
				r.remove(p, c.reason, "")
			}
		case ctlKick:
			if p := r.byID[c.player]; p != nil {
				r.remove(p, LeaveKicked, c.msg)
			}
		case ctlClose:
			if r.closing == 0 {
				r.closing = c.close
			}
		case ctlCall:
			_ = r.protect(func() error { c.fn(); return nil })
		case ctlDisconnect:
			if p := r.byID[c.player]; p != nil && p.conn == c.conn {
				r.disconnect(p)
			}
		case ctlResume:
			res, err := r.handleResume(c.resume)
			c.reply <- joinReply{res: res, err: err}
		}
	}
}

func (r *Room) handleJoin(req *JoinRequest) (JoinResult, error) {
	if r.closing != 0 {
		r.releaseSeat()
		return JoinResult{}, ErrClosed
	}
	r.nextID++
	p := &Player{
		ID: r.nextID, UserID: req.UserID, Name: req.Name, SessionID: req.SessionID,
		JoinedTick: r.tick, conn: req.Conn,
		inputs: netcode.NewInputBuffer(netcode.InputBufferConfig{Capacity: r.cfg.InputBuffer, CopyPayloads: true}),
	}
	p.poller, _ = req.Conn.(Poller)
	p.batch, _ = req.Conn.(Batcher)
	var attempt error
	if err := r.protect(func() error { attempt = r.rt.JoinAttempt(p, req.Options); return nil }); err != nil {
		r.releaseSeat()
		return JoinResult{}, ErrClosed
	}
	if attempt != nil {
		r.releaseSeat()
		var rej *RejectError
		if errors.As(attempt, &rej) {
			return JoinResult{}, rej
		}
		return JoinResult{}, &RejectError{Reason: attempt.Error()}
	}
	r.byID[p.ID] = p
	r.order = append(r.order, p)
	r.players.Add(1)
	r.obs.PlayerJoined(r.typ)
	r.log.Debug("player joined", "player", p.ID, "players", len(r.order))

	r.sendJoined(p, req.RequestID, false)
	r.broadcastExcept(&tickwirev1.ServerMessage{Kind: &tickwirev1.ServerMessage_PlayerJoined{PlayerJoined: &tickwirev1.PlayerJoined{Player: p.Info()}}}, p)
	_ = r.protect(func() error { r.rt.Join(p); return nil })
	return JoinResult{RoomID: r.id, PlayerID: p.ID, Tick: r.tick}, nil
}

func (r *Room) remove(p *Player, reason LeaveReason, msg string) {
	if p.leaving {
		return
	}
	p.leaving = true
	if p.graceTimer != 0 {
		r.CancelTimer(p.graceTimer)
		p.graceTimer = 0
	}
	delete(r.byID, p.ID)
	r.order = slices.DeleteFunc(r.order, func(q *Player) bool { return q == p })
	r.releaseSeat()
	r.obs.PlayerLeft(r.typ, reason)
	r.log.Debug("player left", "player", p.ID, "reason", reason.String(), "players", len(r.order))
	_ = r.protect(func() error { r.rt.Leave(p, reason); return nil })
	r.broadcastExcept(&tickwirev1.ServerMessage{Kind: &tickwirev1.ServerMessage_PlayerLeft{PlayerLeft: &tickwirev1.PlayerLeft{PlayerId: p.ID, Reason: reason}}}, nil)
	r.release(p)
	p.conn.Removed(r.id, p.ID, reason, msg)
	// Counted out only after Removed: whatever Removed records about the
	// departure (the engine's directory seat release) happens before
	// Occupancy stops counting the player, never after.
	r.players.Add(-1)
	if len(r.order) == 0 {
		r.emptySince = r.clock.Now()
	}
}

// disconnect starts p's grace, or removes p when the room has none.
func (r *Room) disconnect(p *Player) {
	if p.Disconnected {
		return
	}
	if r.cfg.ReconnectGrace < 0 || r.tokens == nil {
		r.remove(p, LeaveDisconnected, "")
		return
	}
	p.Disconnected, p.DisconnectedAt = true, r.clock.Now()
	r.obs.PlayerDisconnected(r.typ, true)
	p.graceTimer = r.addTimer(r.cfg.ReconnectGrace, 0, func() {
		p.graceTimer = 0
		if r.byID[p.ID] == p && p.Disconnected {
			r.obs.PlayerDisconnected(r.typ, false)
			p.Disconnected = false
			r.remove(p, LeaveDisconnected, "reconnection grace ended")
		}
	})
	r.broadcastExcept(&tickwirev1.ServerMessage{Kind: &tickwirev1.ServerMessage_PlayerConnection{PlayerConnection: &tickwirev1.PlayerConnection{PlayerId: p.ID}}}, p)
	_ = r.protect(func() error { r.rt.Disconnected(p); return nil })
}

// handleResume moves p's seat to the new connection of req.
func (r *Room) handleResume(req *ResumeRequest) (JoinResult, error) {
	p := r.byID[req.PlayerID]
	switch {
	case r.closing != 0:
		return JoinResult{}, ErrClosed
	case p == nil || p.leaving:
		return JoinResult{}, ErrNotInRoom
	case req.Gen != p.resumeGen:
		return JoinResult{}, ErrTokenUsed
	}
	r.release(p)
	old := p.conn
	if !p.Disconnected {
		// A ghost: the old connection is still open (a silent drop). It
		// goes at once, so that no frame ever shows two copies of one
		// player.
		old.Superseded(r.id, p.ID)
	} else {
		p.Disconnected = false
		r.obs.PlayerDisconnected(r.typ, false)
		if p.graceTimer != 0 {
			r.CancelTimer(p.graceTimer)
			p.graceTimer = 0
		}
	}
	p.conn = req.Conn
	p.poller, _ = req.Conn.(Poller)
	p.batch, _ = req.Conn.(Batcher)
	p.views = nil // a new connection has no baseline: its first state is full
	r.sendJoined(p, req.RequestID, true)
	r.sendSnapshotNow(p)
	r.broadcastExcept(&tickwirev1.ServerMessage{Kind: &tickwirev1.ServerMessage_PlayerConnection{PlayerConnection: &tickwirev1.PlayerConnection{PlayerId: p.ID, Connected: true}}}, p)
	_ = r.protect(func() error { r.rt.Reconnected(p); return nil })
	return JoinResult{RoomID: r.id, PlayerID: p.ID, Tick: r.tick}, nil
}

// sendSnapshotNow gives a resumed player the newest snapshot at once, in
// full, instead of at the next send tick: a player coming back sees the game
// half a tick sooner on average. (Rooms with interest management build
// views per player at send ticks; theirs comes then.)
func (r *Room) sendSnapshotNow(p *Player) {
	if r.cfg.NoState || r.def.view != nil {
		return
	}
	tick, _ := r.repl.Latest()
	if tick == 0 {
		return
	}
	payload, used, err := r.repl.Encode(0)
	if err != nil {
		r.log.Error("encode state", "err", err)
		return
	}
	r.obs.StateEncoded(r.typ, true, len(payload))
	p.conn.SendState(StateFrame{Tick: tick, Baseline: used, LastSeq: p.inputs.LastProcessed(), Payload: payload})
}

// sendJoined queues the Joined reply of a join or a resume on p's
// connection, with everyone in the room and p's next resume token.
func (r *Room) sendJoined(p *Player, requestID uint32, resumed bool) {
	infos := make([]*tickwirev1.PlayerInfo, len(r.order))
	for i, q := range r.order {
		infos[i] = q.Info()
	}
	j := &tickwirev1.Joined{
		RoomId: r.id, RoomType: r.typ, PlayerId: p.ID, Tick: r.tick,
		TickRate: uint32(r.tickRate.Load()), SendRate: uint32(int(r.tickRate.Load()) / int(r.sendEvery)),
		Players: infos, ResumeToken: r.issueToken(p), ReconnectGraceMs: r.graceMs(),
	}
	if resumed {
		j.Resumed, j.LastInputSeq = true, p.inputs.LastProcessed()
	}
	if b, err := proto.Marshal(&tickwirev1.ServerMessage{RequestId: requestID, Kind: &tickwirev1.ServerMessage_Joined{Joined: j}}); err == nil {
		p.conn.SendFrame(b)
	}
}

// issueToken returns a new resume token for p (its generation advances:
// every older token is spent).
func (r *Room) issueToken(p *Player) string {
	if r.tokens == nil || r.cfg.ReconnectGrace < 0 {
		return ""
	}
	p.resumeGen++
	return r.tokens.Issue(r.id, p.ID, p.resumeGen)
}

func (r *Room) graceMs() uint32 {
	if r.tokens == nil || r.cfg.ReconnectGrace < 0 {
		return 0
	}
	return uint32(r.cfg.ReconnectGrace / time.Millisecond)
}

func (r *Room) broadcastExcept(m *tickwirev1.ServerMessage, except *Player) {
	if len(r.order) == 0 || (len(r.order) == 1 && r.order[0] == except) {
		return
	}
	b, err := proto.Marshal(m)
	if err != nil {
		r.log.Error("marshal broadcast", "err", err)
		return
	}
	for _, p := range r.order {
		if p != except {
			p.conn.SendFrame(b)
		}
	}
}

// runTick runs tick i (from 0) of a batch of n (see runDue; a tick on
// its own is 0 of 1): the first of a batch reads the sockets, the last
// (or one after which the room closes or changes its rate, which ends the
// batch) writes them.
func (r *Room) runTick(late time.Duration, i, n int) {
	start := time.Now()
	t := TickTimes{Lateness: late, Polled: i == 0}
	// Read the connections that read on the tick (Poller) first, so what
	// they bring is used at this tick (and those after it in the batch).
	mark := start
	if t.Polled {
		r.poll()
		mark = lap(&t.Read, start)
	}
	r.drainControl()
	if r.closing != 0 {
		r.releaseAll()
		return
	}
	ticksLeft := n - i
	r.tick++
	r.tickNow.Store(r.tick)
	// From here to the end of the tick (of the batch), what the room sends
	// a player (messages, the states) goes out in one write (Batcher).
	for _, p := range r.order {
		if p.batch != nil && !p.held {
			p.batch.Hold()
			p.held = true
		}
	}
	now := r.clock.Now()
	r.runTimers(now)

	// Swap the input queue out under the lock, then work without it.
	r.mu.Lock()
	batch, batchPay := r.inputs, r.payloads
	r.inputs, r.payloads = r.spare[:0], r.sparePay[:0]
	r.mu.Unlock()
	for i := range batch {
		in := &batch[i]
		p := r.byID[in.player]
		if p == nil {
			continue
		}
		switch in.kind {
		case inInput:
			if in.ack > r.tick {
				r.obs.InputDropped(r.typ, "bad_ack")
				p.conn.Reject(tickwirev1.ErrorCode_ERROR_CODE_INVALID_INPUT, "ack of a tick never sent")
				continue
			}
			if in.ack > p.AckTick {
				p.AckTick = in.ack
			}
			if err := p.inputs.Push(in.seq, in.payload); err != nil {
				r.inputRefused(p, err)
			}
		case inMessage:
			var merr error
			_ = r.protect(func() error { merr = r.rt.Message(p, in.typeName, in.payload); return nil })
			if merr != nil {
				r.obs.InputDropped(r.typ, "unknown_message")
				p.conn.Reject(tickwirev1.ErrorCode_ERROR_CODE_UNKNOWN_MESSAGE, merr.Error())
			}
		case inLatency:
			p.RTT, p.InterpDelay = time.Duration(in.seq)*time.Microsecond, time.Duration(in.ack)*time.Microsecond
		}
	}
	clear(batch)
	// A burst (inputs queued in the sockets during a stalled tick, a flood
	// up to MailboxSize) must not leave both queues at its size for the
	// life of the room: a queue far bigger than this tick needed is
	// dropped, and the next one grows from nothing. A tick that got no
	// input (one of a batch after the first, which read the sockets)
	// says nothing about what the room needs.
	if c := cap(batch); c > minMailboxKeep && len(batch) > 0 && c > 8*len(batch) {
		batch = nil
	}
	r.spare = batch
	// The payloads were copied (InputBufferConfig.CopyPayloads) or handed
	// to the handler: the buffer is free for the tick after next.
	if cap(batchPay) > maxPayloadKeep {
		batchPay = nil
	}
	r.sparePay = batchPay

	inputs := r.tickInputs[:0]
	for _, p := range r.order {
		take := r.cfg.MaxInputsPerTick
		if ticksLeft > 1 {
			// This tick's share of what the player sent for the batch.
			take = min(take, (p.inputs.Pending()+ticksLeft-1)/ticksLeft)
		}
		if take == 0 {
			continue
		}
		r.taken = p.inputs.Take(take, r.taken[:0])
		for _, in := range r.taken {
			inputs = append(inputs, Input{Player: p, Seq: in.Seq, Payload: in.Payload})
		}
	}
	_ = r.protect(func() error { r.rt.Tick(inputs); return nil })
	clear(inputs)
	r.tickInputs = inputs[:0]

	// A big room defers its state frames to flush, which spreads them
	// and the Releases over the helpers (parallel.go).
	r.deferSends = r.parallelIO()
	mark = lap(&t.Rules, mark)
	if !r.cfg.NoState && r.tick%r.sendEvery == 0 && len(r.order) > 0 && r.closing == 0 {
		r.replicate()
	}
	mark = lap(&t.State, mark)
	r.flush(ticksLeft == 1 || r.closing != 0 || r.rateChange > 0)
	r.checkEmpty(now)
	mark = lap(&t.Write, mark)
	t.Total = mark.Sub(start)
	r.noteTick(now, t.Total, late)
	r.obs.ObserveTick(r.typ, t)
}

// lap sets *phase to the time since mark and returns now, the next
// phase's mark.
func lap(phase *time.Duration, mark time.Time) time.Time {
	now := time.Now()
	*phase = now.Sub(mark)
	return now
}

// releaseAll ends every player's Hold.
func (r *Room) releaseAll() {
	for _, p := range r.order {
		r.release(p)
	}
}

// release ends p's Hold (see Batcher) if one is on.
func (r *Room) release(p *Player) {
	if p.held {
		p.held = false
		p.batch.Release()
	}
}

// tickStatsWindow: TickStats reports the worst tick of the last one to two
// of these windows.
const tickStatsWindow = 5 * time.Second

// noteTick keeps the worst lateness and duration of the recent ticks for
// TickStats (room goroutine).
func (r *Room) noteTick(now time.Time, dur, late time.Duration) {
	if age := now.Sub(r.statStart); age >= tickStatsWindow {
		r.prevLate, r.prevDur = r.curLate, r.curDur
		if age >= 2*tickStatsWindow {
			r.prevLate, r.prevDur = 0, 0
		}
		r.curLate, r.curDur, r.statStart = 0, 0, now
	}
	r.curLate = max(r.curLate, late)
	r.curDur = max(r.curDur, dur)
	r.lateMax.Store(int64(max(r.curLate, r.prevLate)))
	r.durMax.Store(int64(max(r.curDur, r.prevDur)))
}

// TickStats returns the worst lateness (how late a tick started against
// its schedule) and the longest duration of the room's ticks over the
// last 5 to 10 seconds. Safe from any goroutine.
func (r *Room) TickStats() (lateMax, durMax time.Duration) {
	return time.Duration(r.lateMax.Load()), time.Duration(r.durMax.Load())
}

// KickPlayer removes player id from the room with LeaveKicked and reason,
// as Kick does from a handler: the engine sends the player Left and closes
// its connection with CLOSE_CODE_KICKED. It runs on the room goroutine and
// returns once the player is gone: ErrNotInRoom when the room has no such
// player, ErrClosed when the room closed. Safe from any goroutine (not
// from the room's own: see Call).
func (r *Room) KickPlayer(ctx context.Context, id uint32, reason string) error {
	found := false
	err := r.Call(ctx, func() {
		if p := r.byID[id]; p != nil && !p.leaving {
			found = true
			r.remove(p, LeaveKicked, reason)
		}
	})
	switch {
	case err != nil:
		return err
	case !found:
		return ErrNotInRoom
	}
	return nil
}

func (r *Room) inputRefused(p *Player, err error) {
	switch {
	case errors.Is(err, netcode.ErrDuplicateInput):
		r.obs.InputDropped(r.typ, "duplicate")
	case errors.Is(err, netcode.ErrStaleInput):
		r.obs.InputDropped(r.typ, "stale")
	case errors.Is(err, netcode.ErrInputBufferFull), errors.Is(err, netcode.ErrInputOverflow):
		r.obs.InputDropped(r.typ, "buffer_full")
	case errors.Is(err, netcode.ErrInputTooFarAhead):
		r.obs.InputDropped(r.typ, "too_far_ahead")
		p.conn.Reject(tickwirev1.ErrorCode_ERROR_CODE_INVALID_INPUT, "input sequence too far ahead")
	default:
		r.obs.InputDropped(r.typ, "invalid")
		p.conn.Reject(tickwirev1.ErrorCode_ERROR_CODE_INVALID_INPUT, err.Error())
	}
}

func (r *Room) replicate() {
	r.repl.Commit(r.tick, r.rt.State())
	if r.def.view != nil {
		r.replicateViews()
		return
	}
	before := r.repl.Stats().Encodes
	for _, p := range r.order {
		if p.Disconnected {
			continue
		}
		payload, used, err := r.repl.Encode(p.conn.Baseline())
		if err != nil {
			r.log.Error("encode state", "err", err)
			return
		}
		if after := r.repl.Stats().Encodes; after != before {
			before = after
			r.obs.StateEncoded(r.typ, used == 0, len(payload))
		}
		r.sendState(p, StateFrame{Tick: r.tick, Baseline: used, LastSeq: p.inputs.LastProcessed(), Payload: payload})
	}
}

// replicateViews sends each player its own view of the state (interest
// management), encoded against that player's own baseline chain. Players
// whose views coincide share the work: one payload is encoded per
// distinct (set of entity ids, baseline, view of the baseline). Payloads
// are appended to one buffer the room reuses every send tick (Conn copies
// what it keeps), so a send tick allocates nothing per player.
func (r *Room) replicateViews() {
	_, snap := r.repl.Latest()
	sv := &r.shared
	sv.reset()
	for _, p := range r.order {
		if p.Disconnected {
			continue
		}
		var ids []uint32
		if err := r.protect(func() error { ids = r.rt.InView(p, r.viewIDs[:0]); return nil }); err != nil {
			return
		}
		r.viewIDs = ids
		v := sv.find(ids)
		if v == nil {
			v = sv.add(ids)
		}
		if p.views == nil {
			p.views = netcode.NewViewEncoder(r.def.view, netcode.ViewEncoderConfig{History: r.cfg.History, Layouts: &r.def.layouts})
			p.views.SetCache(&sv.cache)
		}
		baseline := p.conn.Baseline()
		used, baseKey := p.views.Base(r.tick, baseline)
		k := encodingKey{view: v.index, used: used, baseKey: baseKey}
		payload, ok := sv.payloads[k]
		if ok {
			p.views.Keep(r.tick, snap, ids, v.key)
		} else {
			start := len(sv.buf)
			out, used2, err := p.views.AppendEncode(sv.buf, r.tick, snap, ids, v.key, baseline)
			if err != nil {
				r.log.Error("encode view", "err", err)
				return
			}
			sv.buf, used = out, used2
			payload = out[start:len(out):len(out)]
			sv.payloads[k] = payload
			r.obs.StateEncoded(r.typ, used == 0, len(payload))
		}
		r.sendState(p, StateFrame{Tick: r.tick, Baseline: used, LastSeq: p.inputs.LastProcessed(), Payload: payload})
	}
}

// sharedViews holds one send tick's distinct views and encodings. Its
// maps and slices are reused from tick to tick.
type sharedViews struct {
	byHash   map[uint64]int // view hash -> index in views of the newest view with it
	views    []sharedView
	ids      []uint32 // the views' ids, back to back
	payloads map[encodingKey][]byte
	buf      []byte            // the tick's payloads, back to back
	cache    netcode.DiffCache // the patches of the fields and entities views share
}

type sharedView struct {
	index      int
	key        uint64 // tells the tick's views apart: the hash of the ids
	start, end int    // ids[start:end]
	next       int    // the previous view with the same hash, -1 for none
}

type encodingKey struct {
	view    int
	used    uint32
	baseKey uint64
}

func (sv *sharedViews) reset() {
	if sv.byHash == nil {
		sv.byHash = map[uint64]int{}
		sv.payloads = map[encodingKey][]byte{}
	}
	clear(sv.byHash)
	clear(sv.payloads)
	sv.cache.Reset()
	sv.views, sv.ids, sv.buf = sv.views[:0], sv.ids[:0], sv.buf[:0]
}

// hashIDs is FNV-1a over the ids.
func hashIDs(ids []uint32) uint64 {
	h := uint64(14695981039346656037)
	for _, id := range ids {
		h ^= uint64(id)
		h *= 1099511628211
	}
	return h ^ uint64(len(ids))
}

func (sv *sharedViews) find(ids []uint32) *sharedView {
	i, ok := sv.byHash[hashIDs(ids)]
	for ok && i >= 0 {
		v := &sv.views[i]
		if slices.Equal(sv.ids[v.start:v.end], ids) {
			return v
		}
		i = v.next
	}
	return nil
}

func (sv *sharedViews) add(ids []uint32) *sharedView {
	h := hashIDs(ids)
	start := len(sv.ids)
	sv.ids = append(sv.ids, ids...)
	// The key tells this tick's views apart (baselines are matched by tick
	// and key): ids whose hashes collide get different keys.
	next, ok := sv.byHash[h]
	if !ok {
		next = -1
	}
	key := h
	if ok {
		key += uint64(sv.views[next].key-h) + 1
	}
	sv.views = append(sv.views, sharedView{index: len(sv.views), key: key, start: start, end: len(sv.ids), next: next})
	sv.byHash[h] = len(sv.views) - 1
	return &sv.views[len(sv.views)-1]
}

func (r *Room) checkEmpty(now time.Time) {
	if len(r.order) > 0 || r.seats.Load() > 0 {
		r.emptySince = now
		return
	}
	if r.draining.Load() {
		// Draining lets rooms with players finish; an empty one has
		// nothing to finish and would only hold the shutdown up until its
		// dispose grace (or, never disposed, the drain timeout) ran out.
		r.closing = CloseShutdown
		return
	}
	if r.cfg.DisposeAfter < 0 {
		r.emptySince = now
		return
	}
	if now.Sub(r.emptySince) >= r.cfg.DisposeAfter {
		r.closing = CloseEmpty
	}
}

func (r *Room) shutdownQueues() {
	r.mu.Lock()
	r.closed = true
	pending := r.controls
	r.controls = nil
	r.inputs, r.payloads = nil, nil
	r.mu.Unlock()
	for _, c := range pending {
		if c.kind == ctlJoin {
			r.releaseSeat()
			c.reply <- joinReply{err: ErrClosed}
		}
	}
}

func (r *Room) finish() {
	// Let queued leaves and joins settle first, then refuse new ones.
	r.drainControl()
	r.shutdownQueues()
	for len(r.order) > 0 {
		r.remove(r.order[0], LeaveRoomClosed, "room closed")
	}
	_ = r.protect(func() error { r.rt.Terminate(r.closing); return nil })
	r.obs.RoomClosed(r.typ, r.closing)
	if times, skipped := r.behindLog.Flush(); times > 0 {
		r.log.Warn("room fell behind; skipping ticks", "skipped", skipped, "times", times)
	}
	r.log.Debug("room closed", "reason", r.closing.String())
	if r.onClose != nil {
		r.onClose(r)
	}
}

// timers

type roomTimer struct {
	id     uint64
	due    time.Time
	period time.Duration
	fn     func()
	index  int
	dead   bool
}

type timerHeap []*roomTimer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].due.Equal(h[j].due) {
		return h[i].id < h[j].id
	}
	return h[i].due.Before(h[j].due)
}
func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i]; h[i].index = i; h[j].index = j }
func (h *timerHeap) Push(x any)   { t := x.(*roomTimer); t.index = len(*h); *h = append(*h, t) }
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return t
}

func (r *Room) runTimers(now time.Time) {
	for len(r.timers) > 0 && !r.timers[0].due.After(now) && r.closing == 0 {
		t := heap.Pop(&r.timers).(*roomTimer)
		if t.dead {
			continue
		}
		_ = r.protect(func() error { t.fn(); return nil })
		if t.period > 0 && !t.dead {
			t.due = t.due.Add(t.period)
			if !t.due.After(now) {
				t.due = now.Add(t.period)
			}
			heap.Push(&r.timers, t)
		}
	}
}

// CallState is Call with the room's state passed to fn (test harnesses read
// it on the room goroutine).
func (r *Room) CallState(ctx context.Context, fn func(state proto.Message)) error {
	return r.Call(ctx, func() { fn(r.rt.State()) })
}
