package engine

import (
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tickwire/tickwire/internal/roomrt"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

// busyMetrics returns Metrics with every labelled series present.
func busyMetrics() *Metrics {
	m := newMetrics()
	m.RoomOpened("arena")
	m.RoomOpened(`odd "type"\with
newline`)
	m.PlayerJoined("arena")
	m.ObserveTick("arena", roomrt.TickTimes{Lateness: 20 * time.Microsecond, Total: 300 * time.Microsecond,
		Polled: true, Read: 100 * time.Microsecond, Rules: 50 * time.Microsecond, State: 80 * time.Microsecond, Write: 60 * time.Microsecond})
	m.ObserveTick("arena", roomrt.TickTimes{Lateness: -time.Millisecond, Total: 3 * time.Millisecond, Rules: time.Millisecond, Write: 2 * time.Millisecond}) // a batch tick: no read
	m.ObserveTick("arena", roomrt.TickTimes{Lateness: 2 * time.Second, Total: 2 * time.Second, Polled: true, Rules: 2 * time.Second})                        // past the last bucket
	m.TicksSkipped("arena", 2)
	m.InputDropped("arena", "rate")
	m.StateEncoded("arena", true, 100)
	m.StateEncoded("arena", false, 10)
	m.errorSent(tickwirev1.ErrorCode_ERROR_CODE_RATE_LIMITED)
	m.closed(1008)
	m.joinLatency.observe(.002)
	m.mmLatency.observe(1.5)
	m.PlayerDisconnected("arena", true)
	m.resumes.Add(1)
	m.resumeLatency.observe(.003)
	m.labeled(m.resumeFails, "expired").Add(1)
	m.limited("rooms_per_connection")
	m.labeled(m.adminActions, "kick").Add(1)
	return m
}

// The series a node exports: renaming one breaks dashboards and alerts,
// so it is a deliberate act that changes this list.
var tickwireSeries = []string{
	"tickwire_admin_actions_total", "tickwire_admin_auth_failures_total", "tickwire_admin_bus_rejected_total",
	"tickwire_bytes_in_total", "tickwire_bytes_out_total",
	"tickwire_close_handshakes_cut_total", "tickwire_closes_total", "tickwire_cluster_errors_total",
	"tickwire_connections", "tickwire_connections_read_in_lobby", "tickwire_connections_read_on_tick", "tickwire_connections_total",
	"tickwire_directory_seat_syncs_total", "tickwire_directory_updates_dropped_total", "tickwire_directory_updates_retried_total", "tickwire_errors_total",
	"tickwire_inputs_dropped_total", "tickwire_join_seconds", "tickwire_limit_refusals_total",
	"tickwire_matchmaker_notices_recovered_total", "tickwire_matchmaking_seconds",
	"tickwire_messages_in_total", "tickwire_messages_out_total",
	"tickwire_owner_cache_total", "tickwire_players", "tickwire_players_in_grace",
	"tickwire_proxied_upgrades_total",
	"tickwire_relay_bytes_total", "tickwire_relay_frames_total", "tickwire_relay_protocol_errors_total",
	"tickwire_relays",
	"tickwire_resume_failures_total", "tickwire_resume_seconds", "tickwire_resumes_total",
	"tickwire_rooms", "tickwire_state_encoded_bytes_total", "tickwire_state_encodes_total",
	"tickwire_state_frames_dropped_total", "tickwire_tick_duration_seconds",
	"tickwire_tick_lateness_seconds", "tickwire_tick_phase_seconds",
	"tickwire_ticket_status_sent_total", "tickwire_tickets_expired_locally_total", "tickwire_tickets_requeued_total", "tickwire_ticks_skipped_total", "tickwire_ticks_total",
	"tickwire_websocket_protocol_errors_total",
}

func gather(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	families, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range families {
		out[f.GetName()] = f
	}
	return out
}

func TestMetricsLint(t *testing.T) {
	m := busyMetrics()
	problems, err := testutil.GatherAndLint(m.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func TestMetricsSeries(t *testing.T) {
	got := gather(t, busyMetrics())
	var tickwire []string
	var goSeries, process bool
	for name := range got {
		switch {
		case strings.HasPrefix(name, "tickwire_"):
			tickwire = append(tickwire, name)
		case strings.HasPrefix(name, "go_"):
			goSeries = true
		case strings.HasPrefix(name, "process_"):
			process = true
		}
	}
	slices.Sort(tickwire)
	if !slices.Equal(tickwire, tickwireSeries) {
		t.Errorf("tickwire series\n got %q\nwant %q", tickwire, tickwireSeries)
	}
	if !goSeries || !process {
		t.Errorf("go_ series: %v, process_ series: %v", goSeries, process)
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "go_gc_duration_seconds", "process_resident_memory_bytes", "process_open_fds"} {
		if got[name] == nil {
			t.Errorf("no %s", name)
		}
	}
}

func TestMetricsHistogram(t *testing.T) {
	h := gather(t, busyMetrics())["tickwire_tick_duration_seconds"].GetMetric()[0].GetHistogram()
	if h.GetSampleCount() != 3 {
		t.Errorf("count = %d, want 3", h.GetSampleCount())
	}
	if s := h.GetSampleSum(); s < 2.003 || s > 2.0034 {
		t.Errorf("sum = %v, want 2.0033", s)
	}
	buckets := h.GetBucket()
	if last := buckets[len(buckets)-1]; last.GetCumulativeCount() != 2 || last.GetUpperBound() != 1 {
		t.Errorf("last bucket %v, want le=1 count 2", last)
	}
	late := gather(t, busyMetrics())["tickwire_tick_lateness_seconds"].GetMetric()[0].GetHistogram()
	if b := late.GetBucket()[0]; b.GetCumulativeCount() != 2 { // 20µs and -1ms
		t.Errorf("a negative lateness counts as 0: first bucket %v", b)
	}
}

// Each phase of a tick has its own histogram; a tick that did not read its
// sockets (a batch's later ticks) adds nothing to the read phase's.
func TestMetricsTickPhases(t *testing.T) {
	phases := map[string]*dto.Histogram{}
	for _, mt := range gather(t, busyMetrics())["tickwire_tick_phase_seconds"].GetMetric() {
		phases[mt.GetLabel()[0].GetValue()] = mt.GetHistogram()
	}
	for _, tc := range []struct {
		phase string
		count uint64
		sum   float64
	}{
		{"read", 2, 0.0001},
		{"rules", 3, 2.00105},
		{"state", 3, 0.00008},
		{"write", 3, 0.00206},
	} {
		h := phases[tc.phase]
		if h == nil {
			t.Errorf("no %s phase", tc.phase)
			continue
		}
		if h.GetSampleCount() != tc.count || math.Abs(h.GetSampleSum()-tc.sum) > 1e-9 {
			t.Errorf("%s: count %d sum %v, want %d and %v", tc.phase, h.GetSampleCount(), h.GetSampleSum(), tc.count, tc.sum)
		}
	}
	if len(phases) != 4 {
		t.Errorf("phases %v, want read, rules, state, write", slices.Collect(maps.Keys(phases)))
	}
}

// /metrics is valid text exposition that parses back to the same label
// values, whatever a room type holds.
func TestMetricsHandlerParses(t *testing.T) {
	m := busyMetrics()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("content type %q", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, mt := range families["tickwire_rooms"].GetMetric() {
		types = append(types, mt.GetLabel()[0].GetValue())
	}
	slices.Sort(types)
	if want := []string{"arena", "odd \"type\"\\with\nnewline"}; !slices.Equal(types, want) {
		t.Errorf("room types %q, want %q", types, want)
	}
	var b strings.Builder
	if err := m.WritePrometheus(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `tickwire_errors_total{reason="rate_limited"} 1`) {
		t.Errorf("WritePrometheus lacks the error count:\n%s", b.String())
	}
}
