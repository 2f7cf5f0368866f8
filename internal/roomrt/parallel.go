package roomrt

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Spreading a big room's socket work over the cores.
//
// A room of 200 players spends most of its tick in the kernel: 200 socket
// reads at the start of the tick (Poller) and 200 socket writes at the end
// (Conn.SendState, Batcher.Release), each a system call, all on the room
// goroutine while the other cores may idle. A room with at least
// Config.ParallelIOPlayers connected players hands those calls to a
// registry's helpers: it does all its own work first (the handler, the
// views, the encodings: everything that touches room state stays on the
// room goroutine), lists the calls, offers the list to idle helpers, takes
// chunks of it itself like they do, and waits for the helpers it enlisted
// before the tick goes on. A helper works for one room at a time; a room
// that finds no helper idle does the whole list itself. A room waits only
// for work it handed out and that a helper has already taken, so rooms
// never wait for one another and cannot deadlock however many tick at once.
// A helper makes only calls the room goroutine would have made itself,
// while that goroutine waits for it: whatever such a call waits for
// (a connection's locks), the room goroutine waited for before.

// defaultParallelIOPlayers is Config.ParallelIOPlayers' default: from
// about this many players, a tick's socket calls take longer than waking
// a helper (a few microseconds against ~10 µs a call on loopback).
const defaultParallelIOPlayers = 64

// callsPerHelper: a room enlists at most one helper per this many calls.
const callsPerHelper = 32

// helperPool is a registry's helpers: goroutines that take a share of a
// big room's socket calls (a parBatch). They start at the first offer and
// stop at stop, which waits for them.
type helperPool struct {
	n       int
	work    chan *parBatch // unbuffered: an offer succeeds only if a helper is idle
	started atomic.Bool
	mu      sync.Mutex
	stopped bool
	quit    chan struct{}
	wg      sync.WaitGroup
}

// newHelperPool returns a pool of n helpers; nil when n < 1 (rooms then do
// all their socket work themselves).
func newHelperPool(n int) *helperPool {
	if n < 1 {
		return nil
	}
	return &helperPool{n: n, work: make(chan *parBatch), quit: make(chan struct{})}
}

// helpersFor turns RegistryConfig.Helpers into a pool size: 0 means
// GOMAXPROCS-1, negative none.
func helpersFor(n int) int {
	switch {
	case n < 0:
		return 0
	case n == 0:
		return runtime.GOMAXPROCS(0) - 1
	}
	return n
}

// offer hands b to an idle helper, if there is one, and reports whether
// one took it. It never blocks. The caller has added 1 to b.wg; the helper
// calls Done when it is through.
func (hp *helperPool) offer(b *parBatch) bool {
	if !hp.started.Load() {
		hp.start()
	}
	select {
	case hp.work <- b:
		return true
	default:
		return false
	}
}

func (hp *helperPool) start() {
	hp.mu.Lock()
	defer hp.mu.Unlock()
	if hp.stopped || hp.started.Load() {
		return
	}
	hp.wg.Add(hp.n)
	for range hp.n {
		go hp.help()
	}
	hp.started.Store(true)
}

func (hp *helperPool) help() {
	defer hp.wg.Done()
	for {
		select {
		case b := <-hp.work:
			b.run()
			b.wg.Done()
		case <-hp.quit:
			return
		}
	}
}

// stop ends the helpers and waits for them. Offers fail from then on (no
// helper receives), so rooms still running do their socket work
// themselves.
func (hp *helperPool) stop() {
	if hp == nil {
		return
	}
	hp.mu.Lock()
	if !hp.stopped {
		hp.stopped = true
		close(hp.quit)
	}
	hp.mu.Unlock()
	hp.wg.Wait()
}

// flushJob is one player's share of the end of a tick: its state frame
// (if state) and the end of its Hold (if batch is not nil), in that order,
// as the serial path does them.
type flushJob struct {
	conn  Conn
	batch Batcher
	frame StateFrame
	state bool
}

type parKind uint8

const (
	parPoll parKind = iota
	parFlush
)

// parBatch is one round of a room's socket calls: its Polls or its flush
// jobs, taken in chunks by the room goroutine and the helpers it enlisted.
// Every field but next is written by the room goroutine before it offers
// the batch (the channel send orders it before the helpers' reads) and not
// touched again until wg.Wait returns.
type parBatch struct {
	kind  parKind
	room  *Room
	polls []Poller
	jobs  []flushJob
	chunk int
	// enlisted counts the helpers offered the batch, then those that took
	// it (tests read it).
	enlisted atomic.Int32
	next     atomic.Int64
	wg       sync.WaitGroup
}

func (b *parBatch) len() int {
	if b.kind == parPoll {
		return len(b.polls)
	}
	return len(b.jobs)
}

// run takes chunks until none is left. Each call of a chunk is for a
// different connection, and every connection is in one chunk only.
func (b *parBatch) run() {
	n := b.len()
	for {
		hi := int(b.next.Add(int64(b.chunk)))
		lo := hi - b.chunk
		if lo >= n {
			return
		}
		hi = min(hi, n)
		if b.kind == parPoll {
			for _, p := range b.polls[lo:hi] {
				p.Poll(b.room)
			}
			continue
		}
		for i := range b.jobs[lo:hi] {
			j := &b.jobs[lo+i]
			if j.state {
				j.conn.SendState(j.frame)
			}
			if j.batch != nil {
				j.batch.Release()
			}
		}
	}
}

// spread runs b's calls on the room goroutine and on as many idle helpers
// as are useful, and returns when all are done.
func (r *Room) spread(b *parBatch) {
	n := b.len()
	helpers := 0
	if r.helpers != nil {
		helpers = r.helpers.n
	}
	// Chunks of a few calls: the helpers (woken as the room starts) and
	// the room share the list evenly even when a helper starts late. A
	// helper is worth its wake-up from about callsPerHelper calls on.
	b.chunk = max(4, n/(4*(helpers+1)))
	b.next.Store(0)
	b.enlisted.Store(0)
	for range min(helpers, (n-1)/b.chunk, max(1, n/callsPerHelper)) {
		b.wg.Add(1)
		b.enlisted.Add(1)
		if !r.helpers.offer(b) {
			b.enlisted.Add(-1)
			b.wg.Done()
			break
		}
	}
	b.run()
	b.wg.Wait()
}

// parallelIO reports whether this tick's socket calls are spread: the room
// has helpers and at least Config.ParallelIOPlayers connected players.
func (r *Room) parallelIO() bool {
	if !r.mayParallel() {
		return false
	}
	n := 0
	for _, p := range r.order {
		if !p.Disconnected {
			n++
		}
	}
	return n >= r.cfg.ParallelIOPlayers
}

// mayParallel reports whether the room has helpers and enough players,
// connected or not, for its socket calls to be spread.
func (r *Room) mayParallel() bool {
	return r.helpers != nil && r.cfg.ParallelIOPlayers > 0 && len(r.order) >= r.cfg.ParallelIOPlayers
}

// poll reads the connections that read on the tick (Poller), spread over
// the helpers when at least Config.ParallelIOPlayers of them do.
func (r *Room) poll() {
	if !r.mayParallel() {
		for _, p := range r.order {
			if p.poller != nil && !p.Disconnected {
				p.poller.Poll(r)
			}
		}
		return
	}
	b := &r.par
	b.kind, b.room = parPoll, r
	for _, p := range r.order {
		if p.poller != nil && !p.Disconnected {
			b.polls = append(b.polls, p.poller)
		}
	}
	if len(b.polls) >= r.cfg.ParallelIOPlayers {
		r.spread(b)
	} else {
		for _, p := range b.polls {
			p.Poll(r)
		}
	}
	clear(b.polls)
	b.polls = b.polls[:0]
}

// sendState gives p its state frame: now, or at the end of the tick
// (flush) when this tick's writes are spread.
func (r *Room) sendState(p *Player, f StateFrame) {
	if r.deferSends {
		p.out, p.hasOut = f, true
		return
	}
	p.conn.SendState(f)
}

// flush ends the tick's socket work: every player's deferred state frame
// (sendState) and the end of its Hold (Batcher), spread over the helpers
// when the tick deferred them.
//
// release is false for a tick of a batch but the last (runDue): the
// states are sent into the Holds, which stay on.
func (r *Room) flush(release bool) {
	if !r.deferSends {
		if release {
			r.releaseAll()
		}
		return
	}
	r.deferSends = false
	b := &r.par
	b.kind = parFlush
	for _, p := range r.order {
		j := flushJob{conn: p.conn, frame: p.out, state: p.hasOut}
		if p.held && release {
			j.batch, p.held = p.batch, false
		}
		p.out, p.hasOut = StateFrame{}, false
		if j.state || j.batch != nil {
			b.jobs = append(b.jobs, j)
		}
	}
	r.spread(b)
	clear(b.jobs)
	b.jobs = b.jobs[:0]
}
