package engine

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickwire/tickwire/internal/roomrt"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

// Metrics holds a node's counters and writes them in the Prometheus text
// exposition format. Every method is safe for concurrent use and lock-free on
// the hot paths (per-message and per-tick counters are atomics). It
// implements roomrt.Observer.
type Metrics struct {
	connections  atomic.Int64
	readOnTick   atomic.Int64 // connections their room goroutine reads
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

	mu      sync.Mutex
	rooms   map[string]int64
	dropped map[string]*atomic.Uint64 // inputs dropped by reason
	closes  map[string]*atomic.Uint64 // connections closed by code
	// resumeFails counts refused resumes by reason (invalid, expired,
	// used, seat_gone)
	resumeFails map[string]*atomic.Uint64
	limits      map[string]*atomic.Uint64 // requests refused by a count limit, by limit
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
	tickBuckets := []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1}
	return &Metrics{
		tickDur:       newHistogram(tickBuckets),
		tickLate:      newHistogram(tickBuckets),
		joinLatency:   newHistogram([]float64{.0005, .001, .0025, .005, .01, .02, .05, .1, .25, .5, 1}),
		mmLatency:     newHistogram([]float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}),
		rooms:         map[string]int64{},
		dropped:       map[string]*atomic.Uint64{},
		closes:        map[string]*atomic.Uint64{},
		resumeFails:   map[string]*atomic.Uint64{},
		resumeLatency: newHistogram([]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}),
		limits:        map[string]*atomic.Uint64{},
	}
}

// limited counts one refusal by the named limit.
func (m *Metrics) limited(name string) { m.labeled(m.limits, name).Add(1) }

// ObserveTick implements roomrt.Observer.
func (m *Metrics) ObserveTick(_ string, d, late time.Duration) {
	m.ticks.Add(1)
	m.tickDur.observe(d.Seconds())
	m.tickLate.observe(max(0, late.Seconds()))
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

// WritePrometheus writes every metric in the Prometheus text format.
func (m *Metrics) WritePrometheus(w io.Writer) {
	var b strings.Builder
	gauge := func(name, help string, v float64) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n%s %g\n", name, help, name, name, v)
	}
	counter := func(name, help string, v uint64) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	m.mu.Lock()
	types := make([]string, 0, len(m.rooms))
	for t := range m.rooms {
		types = append(types, t)
	}
	sort.Strings(types)
	b.WriteString("# HELP tickwire_rooms Open rooms by type.\n# TYPE tickwire_rooms gauge\n")
	for _, t := range types {
		fmt.Fprintf(&b, "tickwire_rooms{type=%q} %d\n", t, m.rooms[t])
	}
	m.mu.Unlock()
	gauge("tickwire_players", "Players in rooms.", float64(m.players.Load()))
	gauge("tickwire_connections", "Open WebSocket connections.", float64(m.connections.Load()))
	gauge("tickwire_connections_read_on_tick", "Connections whose room goroutine reads them once per tick (no read goroutine).", float64(m.readOnTick.Load()))
	counter("tickwire_connections_total", "WebSocket connections accepted.", m.sessionsOpen.Load())
	counter("tickwire_ticks_total", "Room ticks run.", m.ticks.Load())
	counter("tickwire_ticks_skipped_total", "Ticks skipped because a room fell behind.", m.skipped.Load())
	m.tickDur.write(&b, "tickwire_tick_duration_seconds", "Time spent in a room tick (handler and replication).")
	m.tickLate.write(&b, "tickwire_tick_lateness_seconds", "How late a tick started against its schedule.")
	m.joinLatency.write(&b, "tickwire_join_seconds", "Join and join-or-create latency.")
	gauge("tickwire_players_in_grace", "Players whose connection ended, their seat kept for the reconnection grace.", float64(m.inGrace.Load()))
	counter("tickwire_resumes_total", "Seats resumed with a resume token.", m.resumes.Load())
	m.resumeLatency.write(&b, "tickwire_resume_seconds", "Resume latency on the room's node: Join with a resume token received to Joined queued.")
	var tot ioTotals
	if m.liveIO != nil {
		m.liveIO(&tot) // adds the closed totals too, consistently with retire
	} else {
		m.closedIO.addTo(&tot)
	}
	counter("tickwire_messages_in_total", "WebSocket messages received.", tot.msgsIn)
	counter("tickwire_messages_out_total", "WebSocket messages sent.", tot.msgsOut)
	counter("tickwire_bytes_in_total", "Payload bytes received.", tot.bytesIn)
	counter("tickwire_bytes_out_total", "Payload bytes sent.", tot.bytesOut)
	counter("tickwire_websocket_protocol_errors_total", "Client connections closed for breaking the WebSocket protocol (also counted by close code).", m.protocolErrors.Load())
	counter("tickwire_state_frames_dropped_total", "Unsent state frames replaced by a newer one (slow clients).", m.stateDropped.Load())
	b.WriteString("# HELP tickwire_state_encodes_total State encodings (one per distinct baseline per send tick).\n# TYPE tickwire_state_encodes_total counter\n")
	fmt.Fprintf(&b, "tickwire_state_encodes_total{kind=\"full\"} %d\ntickwire_state_encodes_total{kind=\"patch\"} %d\n", m.encFull.Load(), m.encPatch.Load())
	counter("tickwire_state_encoded_bytes_total", "Bytes of state encodings.", m.encBytes.Load())
	b.WriteString("# HELP tickwire_errors_total Error frames sent to clients, by code.\n# TYPE tickwire_errors_total counter\n")
	codes := make([]int32, 0, len(tickwirev1.ErrorCode_name))
	for code := range tickwirev1.ErrorCode_name {
		if code > 0 && int(code) < len(m.errors) {
			codes = append(codes, code)
		}
	}
	slices.Sort(codes)
	for _, code := range codes {
		name := strings.ToLower(strings.TrimPrefix(tickwirev1.ErrorCode_name[code], "ERROR_CODE_"))
		fmt.Fprintf(&b, "tickwire_errors_total{reason=%q} %d\n", name, m.errors[code].Load())
	}
	writeLabeled := func(name, help, label string, set map[string]*atomic.Uint64) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s counter\n", name, help, name)
		m.mu.Lock()
		keys := make([]string, 0, len(set))
		for k := range set {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "%s{%s=%q} %d\n", name, label, k, set[k].Load())
		}
		m.mu.Unlock()
	}
	m.mmLatency.write(&b, "tickwire_matchmaking_seconds", "Ticket matchmaking latency, from MatchmakerAdd to the match notice on this node.")
	b.WriteString("# HELP tickwire_relay_frames_total Frames forwarded by relayed sessions (entry node side), by direction.\n# TYPE tickwire_relay_frames_total counter\n")
	fmt.Fprintf(&b, "tickwire_relay_frames_total{dir=\"upstream\"} %d\ntickwire_relay_frames_total{dir=\"downstream\"} %d\n", m.relayFrames[0].Load(), m.relayFrames[1].Load())
	b.WriteString("# HELP tickwire_relay_bytes_total Bytes forwarded by relayed sessions, by direction.\n# TYPE tickwire_relay_bytes_total counter\n")
	fmt.Fprintf(&b, "tickwire_relay_bytes_total{dir=\"upstream\"} %d\ntickwire_relay_bytes_total{dir=\"downstream\"} %d\n", m.relayBytes[0].Load(), m.relayBytes[1].Load())
	gauge("tickwire_relays", "Sessions currently relayed to another node.", float64(m.relays.Load()))
	counter("tickwire_proxied_upgrades_total", "WebSocket upgrades reverse-proxied to the owner node.", m.proxied.Load())
	b.WriteString("# HELP tickwire_owner_cache_total Room owner cache lookups, by result.\n# TYPE tickwire_owner_cache_total counter\n")
	fmt.Fprintf(&b, "tickwire_owner_cache_total{result=\"hit\"} %d\ntickwire_owner_cache_total{result=\"miss\"} %d\ntickwire_owner_cache_total{result=\"stale\"} %d\n", m.ownerHits.Load(), m.ownerMisses.Load(), m.ownerStale.Load())
	counter("tickwire_directory_updates_dropped_total", "Directory updates dropped because the queue was full.", m.dirDropped.Load())
	counter("tickwire_cluster_errors_total", "Failed calls to the cluster backend.", m.clusterErrors.Load())
	counter("tickwire_tickets_requeued_total", "Matchmaking tickets queued again after the node re-registered (e.g. Redis restarted).", m.ticketsRequeued.Load())
	counter("tickwire_tickets_expired_locally_total", "Matchmaking tickets timed out by their node because no notice came.", m.ticketsExpiredLocally.Load())
	writeLabeled("tickwire_inputs_dropped_total", "Inputs and messages refused by rooms, by reason.", "reason", m.dropped)
	counter("tickwire_relay_protocol_errors_total", "Owner-node connections of relays closed for breaking the WebSocket protocol.", m.relayProtocolErrors.Load())
	writeLabeled("tickwire_limit_refusals_total", "Frames, requests and connections refused by a configured limit (Config.Limits), by limit.", "limit", m.limits)
	writeLabeled("tickwire_closes_total", "Connections closed by the server, by close code.", "code", m.closes)
	writeLabeled("tickwire_resume_failures_total", "Seat resumes refused, by reason.", "reason", m.resumeFails)
	_, _ = io.WriteString(w, b.String())
}

type histogram struct {
	bounds []float64
	counts []atomic.Uint64 // len(bounds)+1, last is +Inf
	sum    atomic.Uint64   // float64 bits
	n      atomic.Uint64
}

func newHistogram(bounds []float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

func (h *histogram) observe(v float64) {
	i := sort.SearchFloat64s(h.bounds, v)
	h.counts[i].Add(1)
	h.n.Add(1)
	for {
		old := h.sum.Load()
		if h.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

func (h *histogram) write(b *strings.Builder, name, help string) {
	fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name)
	var cum uint64
	for i, bound := range h.bounds {
		cum += h.counts[i].Load()
		fmt.Fprintf(b, "%s_bucket{le=\"%g\"} %d\n", name, bound, cum)
	}
	cum += h.counts[len(h.bounds)].Load()
	fmt.Fprintf(b, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %g\n%s_count %d\n", name, cum, name, math.Float64frombits(h.sum.Load()), name, cum)
}
