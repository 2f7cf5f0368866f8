package engine

import (
	"fmt"
	"math"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tickwire/tickwire/internal/roomrt"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

// Metrics holds a node's counters. Every method is safe for concurrent use
// and lock-free on the hot paths: per-message and per-tick counters are
// plain atomics (per-connection ones are summed at scrape time), read only
// when Prometheus scrapes, by Collect (see metrics_collect.go). It
// implements roomrt.Observer and prometheus.Collector.
type Metrics struct {
	connections  atomic.Int64
	readOnTick   atomic.Int64 // connections their room goroutine reads
	readInLobby  atomic.Int64 // connections the lobby reader reads
	sessionsOpen atomic.Uint64
	// closedIO holds the totals of closed connections; open ones count in
	// their own ioCounters, added up by liveIO at scrape time.
	closedIO     ioCounters
	liveIO       func(*ioTotals)
	stateDropped atomic.Uint64
	// protocolErrors counts client byte streams that broke the WebSocket
	// protocol (unmasked, reserved bits or opcodes, bad fragmentation,
	// oversize); each also closes its connection (counted by close code).
	protocolErrors atomic.Uint64
	// relayProtocolErrors counts owner-node streams that broke the
	// protocol on a relay (the upstream is closed with 1002/1007/1009).
	relayProtocolErrors atomic.Uint64
	ticks               atomic.Uint64
	skipped             atomic.Uint64
	encFull             atomic.Uint64
	encPatch            atomic.Uint64
	encBytes            atomic.Uint64
	players             atomic.Int64
	inGrace             atomic.Int64      // players in their reconnection grace
	resumes             atomic.Uint64     // seats resumed
	resumeLatency       *histogram        // resume: Join received -> Joined queued
	errors              [32]atomic.Uint64 // by tickwirev1.ErrorCode
	tickDur             *histogram
	tickLate            *histogram
	tickPhases          [numTickPhases]*histogram // by phaseRead...
	joinLatency         *histogram
	// cluster
	mmLatency     *histogram       // ticket added -> matched notice delivered
	relayFrames   [2]atomic.Uint64 // 0 client->owner, 1 owner->client
	relayBytes    [2]atomic.Uint64
	relays        atomic.Int64
	proxied       atomic.Uint64
	ownerHits     atomic.Uint64
	ownerMisses   atomic.Uint64
	ownerStale    atomic.Uint64
	dirDropped    atomic.Uint64
	clusterErrors atomic.Uint64

	// Matchmaking tickets queued again after a re-registration, and
	// tickets answered by the node's own timeout (their notice never came).
	ticketsRequeued       atomic.Uint64
	ticketsExpiredLocally atomic.Uint64
	noticesRecovered      atomic.Uint64
	// MatchmakerStatus frames sent (waiting for capacity, queued, requeued).
	ticketStatuses atomic.Uint64
	// Directory seat releases sent again after a failure.
	releasesRetried atomic.Uint64
	seatSyncs       atomic.Uint64

	// The monitor: API requests refused for a missing or wrong admin
	// token, monitor bus messages ignored (bad signature, expired), and
	// actions done, by action.
	adminAuthFailures atomic.Uint64
	adminBusRejected  atomic.Uint64

	// closesCut counts closing handshakes the node cut short: the client
	// did not answer the close frame within Config.CloseTimeout, or sent
	// too much first (closeDrainMax, closeDropMax).
	closesCut atomic.Uint64

	desc    metricDescs
	reg     *prometheus.Registry // this collector, Go runtime and process collectors
	handler http.Handler         // /metrics

	mu      sync.Mutex
	rooms   map[string]int64
	dropped map[string]*atomic.Uint64 // inputs dropped by reason
	closes  map[string]*atomic.Uint64 // connections closed by code
	// resumeFails counts refused resumes by reason (invalid, expired,
	// used, seat_gone)
	resumeFails  map[string]*atomic.Uint64
	limits       map[string]*atomic.Uint64 // requests refused by a count limit, by limit
	adminActions map[string]*atomic.Uint64 // monitor actions done, by action
}

// ioCounters counts one connection's WebSocket messages and payload bytes.
// Each connection has its own: shared counters would be updated four times
// per player per tick from the read goroutines and room goroutines of
// every core, bouncing one cache line between them.
type ioCounters struct {
	msgsIn, bytesIn atomic.Uint64 // the reader's
	// Keeps the two halves on different cache lines: the room goroutine
	// and the writer update the other half at the same time.
	_                 [48]byte
	msgsOut, bytesOut atomic.Uint64
}

type ioTotals struct{ msgsIn, bytesIn, msgsOut, bytesOut uint64 }

func (c *ioCounters) addTo(t *ioTotals) {
	t.msgsIn += c.msgsIn.Load()
	t.bytesIn += c.bytesIn.Load()
	t.msgsOut += c.msgsOut.Load()
	t.bytesOut += c.bytesOut.Load()
}

// retire moves a closed connection's counts into the closed totals.
func (m *Metrics) retire(c *ioCounters) {
	m.closedIO.msgsIn.Add(c.msgsIn.Load())
	m.closedIO.bytesIn.Add(c.bytesIn.Load())
	m.closedIO.msgsOut.Add(c.msgsOut.Load())
	m.closedIO.bytesOut.Add(c.bytesOut.Load())
}

func newMetrics() *Metrics {
	// Sub-millisecond resolution up to 5 ms, where a healthy node's tick
	// durations and lateness lie (a p99 target of 2 ms needs buckets on
	// both sides of it), then coarser up to a second for an overloaded one
	// (a room may run up to MaxCatchUp ticks behind).
	tickBuckets := []float64{.0001, .00025, .0005, .00075, .001, .0015, .002, .003, .004, .005, .0075, .01, .025, .05, .1, .25, .5, 1}
	m := &Metrics{
		desc:          newMetricDescs(),
		tickDur:       newHistogram(tickBuckets),
		tickLate:      newHistogram(tickBuckets),
		tickPhases:    [numTickPhases]*histogram{newHistogram(tickBuckets), newHistogram(tickBuckets), newHistogram(tickBuckets), newHistogram(tickBuckets)},
		joinLatency:   newHistogram([]float64{.0005, .001, .0025, .005, .01, .02, .05, .1, .25, .5, 1}),
		mmLatency:     newHistogram([]float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}),
		rooms:         map[string]int64{},
		dropped:       map[string]*atomic.Uint64{},
		closes:        map[string]*atomic.Uint64{},
		resumeFails:   map[string]*atomic.Uint64{},
		resumeLatency: newHistogram([]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}),
		limits:        map[string]*atomic.Uint64{},
		adminActions:  map[string]*atomic.Uint64{},
	}
	m.reg = prometheus.NewRegistry()
	m.reg.MustRegister(m,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	return m
}

// limited counts one refusal by the named limit.
func (m *Metrics) limited(name string) { m.labeled(m.limits, name).Add(1) }

// The phases of a tick (roomrt.TickTimes): tickwire_tick_phase_seconds'
// phase label is read, rules, state and write.
const (
	phaseRead = iota
	phaseRules
	phaseState
	phaseWrite
	numTickPhases
)

// ObserveTick implements roomrt.Observer.
func (m *Metrics) ObserveTick(_ string, t roomrt.TickTimes) {
	m.ticks.Add(1)
	m.tickDur.observe(t.Total.Seconds())
	m.tickLate.observe(max(0, t.Lateness.Seconds()))
	if t.Polled {
		m.tickPhases[phaseRead].observe(t.Read.Seconds())
	}
	m.tickPhases[phaseRules].observe(t.Rules.Seconds())
	m.tickPhases[phaseState].observe(t.State.Seconds())
	m.tickPhases[phaseWrite].observe(t.Write.Seconds())
}

// TicksSkipped implements roomrt.Observer.
func (m *Metrics) TicksSkipped(_ string, n int) { m.skipped.Add(uint64(n)) }

// InputDropped implements roomrt.Observer.
func (m *Metrics) InputDropped(_ string, reason string) { m.labeled(m.dropped, reason).Add(1) }

// StateEncoded implements roomrt.Observer.
func (m *Metrics) StateEncoded(_ string, full bool, n int) {
	if full {
		m.encFull.Add(1)
	} else {
		m.encPatch.Add(1)
	}
	m.encBytes.Add(uint64(n))
}

// RoomOpened implements roomrt.Observer.
func (m *Metrics) RoomOpened(t string) { m.mu.Lock(); m.rooms[t]++; m.mu.Unlock() }

// RoomClosed implements roomrt.Observer.
func (m *Metrics) RoomClosed(t string, _ roomrt.CloseReason) {
	m.mu.Lock()
	m.rooms[t]--
	m.mu.Unlock()
}

// PlayerJoined implements roomrt.Observer.
func (m *Metrics) PlayerJoined(string) { m.players.Add(1) }

// PlayerDisconnected implements roomrt.Observer.
func (m *Metrics) PlayerDisconnected(_ string, in bool) {
	if in {
		m.inGrace.Add(1)
	} else {
		m.inGrace.Add(-1)
	}
}

// PlayerLeft implements roomrt.Observer.
func (m *Metrics) PlayerLeft(string, roomrt.LeaveReason) { m.players.Add(-1) }

func (m *Metrics) errorSent(code tickwirev1.ErrorCode) {
	if int(code) >= 0 && int(code) < len(m.errors) {
		m.errors[code].Add(1)
	}
}

func (m *Metrics) closed(code uint16) { m.labeled(m.closes, fmt.Sprint(code)).Add(1) }

func (m *Metrics) labeled(set map[string]*atomic.Uint64, label string) *atomic.Uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := set[label]
	if c == nil {
		c = new(atomic.Uint64)
		set[label] = c
	}
	return c
}

// ErrorCount returns how many Error frames with code were sent.
func (m *Metrics) ErrorCount(code tickwirev1.ErrorCode) uint64 { return m.errors[code].Load() }

// ClosesCut returns how many closing handshakes the server cut short,
// mostly because the client did not answer its close frame within
// CloseTimeout (tickwire_close_handshakes_cut_total).
func (m *Metrics) ClosesCut() uint64 { return m.closesCut.Load() }

// CloseCount returns how many connections the server closed with code.
func (m *Metrics) CloseCount(code uint16) uint64 { return m.labeled(m.closes, fmt.Sprint(code)).Load() }

// InputsDropped returns how many inputs were dropped for reason.
func (m *Metrics) InputsDropped(reason string) uint64 { return m.labeled(m.dropped, reason).Load() }

// Encodes returns the number of state encodings (full, patch).
func (m *Metrics) Encodes() (full, patch uint64) { return m.encFull.Load(), m.encPatch.Load() }

// RelayFrames returns the frames forwarded by relayed sessions: up (client
// to owner) and down (owner to client).
func (m *Metrics) RelayFrames() (up, down uint64) {
	return m.relayFrames[0].Load(), m.relayFrames[1].Load()
}

// OwnerCache returns the owner cache hits, misses and stale entries dropped.
func (m *Metrics) OwnerCache() (hits, misses, stale uint64) {
	return m.ownerHits.Load(), m.ownerMisses.Load(), m.ownerStale.Load()
}

type histogram struct {
	bounds []float64
	counts []atomic.Uint64 // len(bounds)+1, last is +Inf
	sum    atomic.Uint64   // float64 bits
}

func newHistogram(bounds []float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

func (h *histogram) observe(v float64) {
	i := sort.SearchFloat64s(h.bounds, v)
	h.counts[i].Add(1)
	for {
		old := h.sum.Load()
		if h.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// metric returns the histogram as a constant metric. The count is the sum
// of the buckets, so a scrape is consistent with itself even while ticks
// observe concurrently (the sum may lag or lead by an observation).
func (h *histogram) metric(d *prometheus.Desc, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.bounds))
	var cum uint64
	for i, bound := range h.bounds {
		cum += h.counts[i].Load()
		buckets[bound] = cum
	}
	cum += h.counts[len(h.bounds)].Load()
	return prometheus.MustNewConstHistogram(d, cum, math.Float64frombits(h.sum.Load()), buckets, labels...)
}
