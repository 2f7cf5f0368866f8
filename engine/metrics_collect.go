package engine

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

// metricDescs describes every tickwire_ series. Collect reads the atomics
// into constant metrics with these descriptions at scrape time, so the hot
// paths pay nothing for the export.
type metricDescs struct {
	rooms, players, connections, readOnTick, readInLobby, connectionsTotal   *prometheus.Desc
	ticks, skipped, tickDuration, tickLateness, tickPhase, join              *prometheus.Desc
	messagesIn, messagesOut, bytesIn, bytesOut, protocolErrors, stateDropped *prometheus.Desc
	encodes, encodedBytes, errors                                            *prometheus.Desc
	matchmaking, relayFrames, relayBytes, relays, proxied, ownerCache        *prometheus.Desc
	directoryDropped, clusterErrors, inputsDropped, closes, closesCut        *prometheus.Desc
	playersInGrace, resumes, resumeLatency, resumeFailures                   *prometheus.Desc
	relayProtocolErrors, limitRefusals                                       *prometheus.Desc
	ticketsRequeued, ticketsExpiredLocally, noticesRecovered                 *prometheus.Desc
	adminAuthFailures, adminActions, adminBusRejected                        *prometheus.Desc
	ticketStatuses                                                           *prometheus.Desc
	releasesRetried, seatSyncs                                               *prometheus.Desc
}

func newMetricDescs() metricDescs {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("tickwire_"+name, help, labels, nil)
	}
	return metricDescs{
		rooms:                 d("rooms", "Open rooms by type.", "type"),
		players:               d("players", "Players in rooms."),
		connections:           d("connections", "Open WebSocket connections."),
		readOnTick:            d("connections_read_on_tick", "Connections whose room goroutine reads them once per tick (no read goroutine)."),
		readInLobby:           d("connections_read_in_lobby", "Connections in no room read by the node's shared lobby reader (no read goroutine)."),
		connectionsTotal:      d("connections_total", "WebSocket connections accepted."),
		ticks:                 d("ticks_total", "Room ticks run."),
		skipped:               d("ticks_skipped_total", "Ticks skipped because a room fell behind."),
		tickDuration:          d("tick_duration_seconds", "Time spent in a room tick, all its phases (tick_phase_seconds)."),
		tickLateness:          d("tick_lateness_seconds", "How late a tick started against its schedule."),
		tickPhase:             d("tick_phase_seconds", "Time spent in each phase of a room tick: read (the players' sockets, on ticks that read them), rules (inputs, messages, timers and the handler's Tick), state (snapshot, views, encodings), write (what the tick sent, to the sockets).", "phase"),
		join:                  d("join_seconds", "Join and join-or-create latency."),
		messagesIn:            d("messages_in_total", "WebSocket messages received."),
		messagesOut:           d("messages_out_total", "WebSocket messages sent."),
		bytesIn:               d("bytes_in_total", "Payload bytes received."),
		bytesOut:              d("bytes_out_total", "Payload bytes sent."),
		protocolErrors:        d("websocket_protocol_errors_total", "Client connections closed for breaking the WebSocket protocol (also counted by close code)."),
		stateDropped:          d("state_frames_dropped_total", "Unsent state frames replaced by a newer one (slow clients)."),
		encodes:               d("state_encodes_total", "State encodings (one per distinct baseline per send tick).", "kind"),
		encodedBytes:          d("state_encoded_bytes_total", "Bytes of state encodings."),
		errors:                d("errors_total", "Error frames sent to clients, by code.", "reason"),
		matchmaking:           d("matchmaking_seconds", "Ticket matchmaking latency, from MatchmakerAdd to the match notice on this node."),
		relayFrames:           d("relay_frames_total", "Frames forwarded by relayed sessions (entry node side), by direction.", "dir"),
		relayBytes:            d("relay_bytes_total", "Bytes forwarded by relayed sessions, by direction.", "dir"),
		relays:                d("relays", "Sessions currently relayed to another node."),
		proxied:               d("proxied_upgrades_total", "WebSocket upgrades reverse-proxied to the owner node."),
		ownerCache:            d("owner_cache_total", "Room owner cache lookups, by result.", "result"),
		directoryDropped:      d("directory_updates_dropped_total", "Directory updates dropped because the queue was full."),
		clusterErrors:         d("cluster_errors_total", "Failed calls to the cluster backend."),
		inputsDropped:         d("inputs_dropped_total", "Inputs and messages refused by rooms, by reason.", "reason"),
		closes:                d("closes_total", "Connections closed by the server, by close code.", "code"),
		closesCut:             d("close_handshakes_cut_total", "Closing handshakes the server cut short, closing the socket: the client did not answer its close frame within CloseTimeout, or sent more than 64 KiB (or one MaxMessageSize message) first."),
		playersInGrace:        d("players_in_grace", "Players whose connection ended, their seat kept for the reconnection grace."),
		resumes:               d("resumes_total", "Seats resumed with a resume token."),
		resumeLatency:         d("resume_seconds", "Resume latency on the room's node: Join with a resume token received to Joined queued."),
		resumeFailures:        d("resume_failures_total", "Seat resumes refused, by reason.", "reason"),
		relayProtocolErrors:   d("relay_protocol_errors_total", "Owner-node connections of relays closed for breaking the WebSocket protocol."),
		limitRefusals:         d("limit_refusals_total", "Frames, requests and connections refused by a configured limit (Config.Limits), by limit.", "limit"),
		ticketsRequeued:       d("tickets_requeued_total", "Matchmaking tickets queued again after the node re-registered (e.g. Redis restarted)."),
		ticketsExpiredLocally: d("tickets_expired_locally_total", "Matchmaking tickets timed out by their node because no notice came."),
		noticesRecovered:      d("matchmaker_notices_recovered_total", "Match notices missed on the bus and fetched from the backend by the ticket holder's node."),
		adminAuthFailures:     d("admin_auth_failures_total", "Monitor API requests refused for a missing or wrong admin token."),
		adminActions:          d("admin_actions_total", "Monitor actions done on this node's rooms (kick, lock, unlock, dispose), by action.", "action"),
		adminBusRejected:      d("admin_bus_rejected_total", "Monitor messages from the cluster bus ignored (bad signature, malformed or expired)."),
		releasesRetried:       d("directory_updates_retried_total", "Directory removals of closed rooms sent again after they failed to reach the cluster store."),
		seatSyncs:             d("directory_seat_syncs_total", "Seat syncs applied: this node's rooms' occupancy sent to the directory, which sets their seat counts to it (counts lost to a failed seat release converge within one)."),
		ticketStatuses:        d("ticket_status_sent_total", "MatchmakerStatus frames sent to ticket holders (waiting for capacity, queued again, re-queued)."),
	}
}

// Handler serves the node's metrics to Prometheus: the tickwire_ series,
// the Go runtime's (go_) and the process's (process_). Engine.Handler
// mounts it at /metrics.
func (m *Metrics) Handler() http.Handler { return m.handler }

// Registerer returns the registry behind Handler, to add a game's own
// collectors to the node's /metrics.
func (m *Metrics) Registerer() prometheus.Registerer { return m.reg }

// WritePrometheus writes what Handler serves in the Prometheus text format.
func (m *Metrics) WritePrometheus(w io.Writer) error {
	families, err := m.reg.Gather()
	if err != nil {
		return fmt.Errorf("gather metrics: %w", err)
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			return fmt.Errorf("write metrics: %w", err)
		}
	}
	return nil
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		m.desc.rooms, m.desc.players, m.desc.connections, m.desc.readOnTick, m.desc.readInLobby, m.desc.connectionsTotal,
		m.desc.ticks, m.desc.skipped, m.desc.tickDuration, m.desc.tickLateness, m.desc.tickPhase, m.desc.join,
		m.desc.messagesIn, m.desc.messagesOut, m.desc.bytesIn, m.desc.bytesOut, m.desc.protocolErrors, m.desc.stateDropped,
		m.desc.encodes, m.desc.encodedBytes, m.desc.errors,
		m.desc.matchmaking, m.desc.relayFrames, m.desc.relayBytes, m.desc.relays, m.desc.proxied, m.desc.ownerCache,
		m.desc.directoryDropped, m.desc.clusterErrors, m.desc.inputsDropped, m.desc.closes, m.desc.closesCut,
		m.desc.playersInGrace, m.desc.resumes, m.desc.resumeLatency, m.desc.resumeFailures,
		m.desc.relayProtocolErrors, m.desc.limitRefusals,
		m.desc.ticketsRequeued, m.desc.ticketsExpiredLocally, m.desc.noticesRecovered,
		m.desc.adminAuthFailures, m.desc.adminActions, m.desc.adminBusRejected,
		m.desc.ticketStatuses,
		m.desc.releasesRetried, m.desc.seatSyncs,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: it reads the counters into
// constant metrics.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	d := &m.desc
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	counter := func(desc *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}
	// Copy the labelled values under the lock and send them after it: the
	// receiver may be slow, and rooms take the lock to count a new label.
	type sample struct {
		desc  *prometheus.Desc
		kind  prometheus.ValueType
		v     float64
		label string
	}
	m.mu.Lock()
	samples := make([]sample, 0, len(m.rooms)+len(m.dropped)+len(m.closes)+len(m.resumeFails)+len(m.limits)+len(m.adminActions))
	for t, n := range m.rooms {
		samples = append(samples, sample{d.rooms, prometheus.GaugeValue, float64(n), t})
	}
	for _, set := range []struct {
		desc *prometheus.Desc
		m    map[string]*atomic.Uint64
	}{{d.inputsDropped, m.dropped}, {d.closes, m.closes}, {d.resumeFailures, m.resumeFails}, {d.limitRefusals, m.limits}, {d.adminActions, m.adminActions}} {
		for k, c := range set.m {
			samples = append(samples, sample{set.desc, prometheus.CounterValue, float64(c.Load()), k})
		}
	}
	m.mu.Unlock()
	for _, s := range samples {
		ch <- prometheus.MustNewConstMetric(s.desc, s.kind, s.v, s.label)
	}

	gauge(d.players, float64(m.players.Load()))
	gauge(d.connections, float64(m.connections.Load()))
	gauge(d.readOnTick, float64(m.readOnTick.Load()))
	gauge(d.readInLobby, float64(m.readInLobby.Load()))
	counter(d.connectionsTotal, m.sessionsOpen.Load())
	counter(d.ticks, m.ticks.Load())
	counter(d.skipped, m.skipped.Load())
	ch <- m.tickDur.metric(d.tickDuration)
	ch <- m.tickLate.metric(d.tickLateness)
	ch <- m.tickPhases[phaseRead].metric(d.tickPhase, "read")
	ch <- m.tickPhases[phaseRules].metric(d.tickPhase, "rules")
	ch <- m.tickPhases[phaseState].metric(d.tickPhase, "state")
	ch <- m.tickPhases[phaseWrite].metric(d.tickPhase, "write")
	ch <- m.joinLatency.metric(d.join)
	gauge(d.playersInGrace, float64(m.inGrace.Load()))
	counter(d.resumes, m.resumes.Load())
	ch <- m.resumeLatency.metric(d.resumeLatency)

	var tot ioTotals
	if m.liveIO != nil {
		m.liveIO(&tot) // adds the closed totals too, consistently with retire
	} else {
		m.closedIO.addTo(&tot)
	}
	counter(d.messagesIn, tot.msgsIn)
	counter(d.messagesOut, tot.msgsOut)
	counter(d.bytesIn, tot.bytesIn)
	counter(d.bytesOut, tot.bytesOut)
	counter(d.protocolErrors, m.protocolErrors.Load())
	counter(d.closesCut, m.closesCut.Load())
	counter(d.stateDropped, m.stateDropped.Load())
	counter(d.encodes, m.encFull.Load(), "full")
	counter(d.encodes, m.encPatch.Load(), "patch")
	counter(d.encodedBytes, m.encBytes.Load())
	codes := make([]int32, 0, len(tickwirev1.ErrorCode_name))
	for code := range tickwirev1.ErrorCode_name {
		if code > 0 && int(code) < len(m.errors) {
			codes = append(codes, code)
		}
	}
	slices.Sort(codes)
	for _, code := range codes {
		reason := strings.ToLower(strings.TrimPrefix(tickwirev1.ErrorCode_name[code], "ERROR_CODE_"))
		counter(d.errors, m.errors[code].Load(), reason)
	}

	ch <- m.mmLatency.metric(d.matchmaking)
	counter(d.relayFrames, m.relayFrames[0].Load(), "upstream")
	counter(d.relayFrames, m.relayFrames[1].Load(), "downstream")
	counter(d.relayBytes, m.relayBytes[0].Load(), "upstream")
	counter(d.relayBytes, m.relayBytes[1].Load(), "downstream")
	gauge(d.relays, float64(m.relays.Load()))
	counter(d.proxied, m.proxied.Load())
	counter(d.ownerCache, m.ownerHits.Load(), "hit")
	counter(d.ownerCache, m.ownerMisses.Load(), "miss")
	counter(d.ownerCache, m.ownerStale.Load(), "stale")
	counter(d.directoryDropped, m.dirDropped.Load())
	counter(d.clusterErrors, m.clusterErrors.Load())
	counter(d.relayProtocolErrors, m.relayProtocolErrors.Load())
	counter(d.ticketsRequeued, m.ticketsRequeued.Load())
	counter(d.ticketsExpiredLocally, m.ticketsExpiredLocally.Load())
	counter(d.noticesRecovered, m.noticesRecovered.Load())
	counter(d.adminAuthFailures, m.adminAuthFailures.Load())
	counter(d.adminBusRejected, m.adminBusRejected.Load())
	counter(d.ticketStatuses, m.ticketStatuses.Load())
	counter(d.releasesRetried, m.releasesRetried.Load())
	counter(d.seatSyncs, m.seatSyncs.Load())
}
