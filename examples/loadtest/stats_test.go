package main

import (
	"errors"
	"math"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

func TestBucketRoundTrip(t *testing.T) {
	vals := []uint64{0, 1, 31, 63, 64, 65, 66, 127, 128, 1000, 1 << 20, 123456789, math.MaxInt64, math.MaxUint64}
	for _, v := range vals {
		i := bucketOf(v)
		if i < 0 || i >= histSize {
			t.Fatalf("bucketOf(%d) = %d out of range", v, i)
		}
		lo, hi := bucketBounds(i)
		if v < lo || (v >= hi && hi != 0) { // hi overflows to 0 for the top bucket
			t.Errorf("v=%d in bucket %d [%d,%d)", v, i, lo, hi)
		}
		if v >= 64 && hi != 0 && float64(hi-lo) > float64(lo)/32+1 {
			t.Errorf("bucket %d [%d,%d) wider than 1/32", i, lo, hi)
		}
	}
	// Buckets tile the line: each starts where the previous ends.
	for i := 1; i < histSize-1; i++ {
		_, prevHi := bucketBounds(i - 1)
		lo, _ := bucketBounds(i)
		if lo != prevHi {
			t.Fatalf("gap between bucket %d and %d: %d != %d", i-1, i, prevHi, lo)
		}
	}
}

func TestLatencyHistQuantile(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		vals []time.Duration
		q    float64
		want time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"single", []time.Duration{10 * ms}, 0.99, 10 * ms},
		{"median of 1..100ms", seq(1, 100, ms), 0.5, 50 * ms},
		{"p99 of 1..100ms", seq(1, 100, ms), 0.99, 99 * ms},
		{"p100 is max", seq(1, 100, ms), 1, 100 * ms},
		{"p0 is min", seq(1, 100, ms), 0, 1 * ms},
		{"small exact", []time.Duration{3, 5, 7}, 0.5, 5},
		{"negative counts as 0", []time.Duration{-5, -5, 9}, 0.5, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h latencyHist
			for _, v := range tc.vals {
				h.Record(v)
			}
			got := h.Quantile(tc.q)
			tol := time.Duration(float64(tc.want) * 0.02)
			if d := got - tc.want; d < -tol || d > tol {
				t.Errorf("Quantile(%v) = %v, want %v ± %v", tc.q, got, tc.want, tol)
			}
			if h.Count() != uint64(len(tc.vals)) {
				t.Errorf("Count = %d, want %d", h.Count(), len(tc.vals))
			}
		})
	}
}

func seq(from, to int, unit time.Duration) []time.Duration {
	var out []time.Duration
	for i := from; i <= to; i++ {
		out = append(out, time.Duration(i)*unit)
	}
	return out
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		vals []float64
		p    float64
		want float64
	}{
		{nil, 0.5, 0},
		{[]float64{7}, 0.5, 7},
		{[]float64{1, 2, 3}, 0.5, 2},
		{[]float64{1, 2, 3, 4}, 0.5, 2.5},
		{[]float64{1, 2, 3, 4}, 0, 1},
		{[]float64{1, 2, 3, 4}, 1, 4},
		{[]float64{0, 10}, 0.25, 2.5},
		{[]float64{0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100}, 0.99, 99},
	}
	for _, tc := range tests {
		if got := percentile(tc.vals, tc.p); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("percentile(%v, %v) = %v, want %v", tc.vals, tc.p, got, tc.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	s := summarize([]float64{4, 1, 3, 2})
	if s != (summary{Min: 1, Median: 2.5, Mean: 2.5, Max: 4}) {
		t.Errorf("summarize = %+v", s)
	}
	if s := summarize(nil); s != (summary{}) {
		t.Errorf("summarize(nil) = %+v", s)
	}
}

const promText = `# HELP tickwire_rooms Open rooms by type.
# TYPE tickwire_rooms gauge
tickwire_rooms{type="arena"} 3
tickwire_ticks_total 1200
tickwire_state_encodes_total{kind="full"} 10
tickwire_state_encodes_total{kind="patch"} 1190
tickwire_tick_lateness_seconds_bucket{le="0.001"} 50
tickwire_tick_lateness_seconds_bucket{le="0.01"} 90
tickwire_tick_lateness_seconds_bucket{le="0.1"} 100
tickwire_tick_lateness_seconds_bucket{le="+Inf"} 100
tickwire_tick_lateness_seconds_sum 0.5
tickwire_tick_lateness_seconds_count 100
tickwire_tick_phase_seconds_bucket{phase="read",le="0.001"} 7
tickwire_tick_phase_seconds_bucket{phase="read",le="+Inf"} 8
tickwire_tick_phase_seconds_bucket{phase="write",le="0.001"} 1
tickwire_tick_phase_seconds_bucket{phase="write",le="+Inf"} 2
`

func TestParseProm(t *testing.T) {
	p, err := parseProm(promText)
	if err != nil {
		t.Fatal(err)
	}
	if v := p[`tickwire_rooms{type="arena"}`]; v != 3 {
		t.Errorf("rooms = %v", v)
	}
	if v, ok := p.sum("tickwire_state_encodes_total"); !ok || v != 1200 {
		t.Errorf("encodes sum = %v %v", v, ok)
	}
	if _, ok := p.sum("tickwire_nope"); ok {
		t.Error("sum of a missing metric reports found")
	}
	bs := p.buckets("tickwire_tick_lateness_seconds")
	if len(bs) != 4 || !math.IsInf(bs[3].le, 1) || bs[0].le != 0.001 {
		t.Fatalf("buckets = %+v", bs)
	}
	if share, ok := shareAbove(0.01, bs); !ok || share != 0.1 {
		t.Errorf("share above 10 ms = %v %v, want 0.1", share, ok)
	}
	if _, ok := shareAbove(0.002, bs); ok {
		t.Error("share above a bound the histogram does not have")
	}
	// One labelled series of a histogram with a label besides le.
	if bs := p.bucketsOf("tickwire_tick_phase_seconds", `phase="read",`); len(bs) != 2 || bs[0].count != 7 || bs[1].count != 8 {
		t.Errorf("read phase buckets = %+v", bs)
	}
	if bs := p.buckets("tickwire_tick_phase_seconds"); len(bs) != 0 {
		t.Errorf("buckets without the label = %+v, want none", bs)
	}
	for _, bad := range []string{"metric", "metric{a=\"b\"}", "metric notanumber"} {
		if _, err := parseProm(bad); !errors.Is(err, ErrBadMetrics) {
			t.Errorf("parseProm(%q) err = %v, want ErrBadMetrics", bad, err)
		}
	}
}

func TestHistQuantile(t *testing.T) {
	bs := []bucket{{0.001, 50}, {0.01, 90}, {0.1, 100}, {math.Inf(1), 100}}
	tests := []struct {
		q    float64
		want float64
	}{
		{0.5, 0.001},               // exactly fills the first bucket
		{0.25, 0.0005},             // half of the first bucket, from 0
		{0.7, 0.001 + 0.009*20/40}, // inside the second bucket
		{0.99, 0.01 + 0.09*9/10},   // inside the third
		{1, 0.1},                   // top finite bound
	}
	for _, tc := range tests {
		got, ok := histQuantile(tc.q, bs)
		if !ok || math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("histQuantile(%v) = %v %v, want %v", tc.q, got, ok, tc.want)
		}
	}
	inf := []bucket{{0.001, 0}, {math.Inf(1), 10}}
	if got, ok := histQuantile(0.99, inf); !ok || got != 0.001 || !overflows(0.99, inf) {
		t.Errorf("+Inf bucket: got %v %v overflow %v, want 0.001 true", got, ok, overflows(0.99, inf))
	}
	if overflows(0.99, bs) {
		t.Error("overflows true for a quantile inside the finite buckets")
	}
	if _, ok := histQuantile(0.5, []bucket{{1, 0}, {math.Inf(1), 0}}); ok {
		t.Error("empty histogram reports ok")
	}
	d := bucketDelta([]bucket{{1, 5}, {math.Inf(1), 6}}, []bucket{{1, 15}, {math.Inf(1), 20}})
	if d[0].count != 10 || d[1].count != 14 {
		t.Errorf("bucketDelta = %+v", d)
	}
}

func TestParseProc(t *testing.T) {
	stat := []byte("4242 (arena (x) y) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 50 0 0 20 0 12 0 9999 1000000 2000 18446744073709551615\n")
	cpu, err := parseStatCPU(stat)
	if err != nil || cpu != 3*time.Second {
		t.Errorf("parseStatCPU = %v %v, want 3s", cpu, err)
	}
	for _, bad := range []string{"", "1 (x", "1 (x) S 1 2", "1 (x) S 1 2 3 4 5 6 7 8 9 10 ab 0"} {
		if _, err := parseStatCPU([]byte(bad)); !errors.Is(err, ErrBadProc) {
			t.Errorf("parseStatCPU(%q) err = %v", bad, err)
		}
	}
	rss, err := parseStatusRSS([]byte("Name:\tarena\nVmPeak:\t  9 kB\nVmRSS:\t   31337 kB\nThreads: 5\n"))
	if err != nil || rss != 31337 {
		t.Errorf("parseStatusRSS = %v %v", rss, err)
	}
	if _, err := parseStatusRSS([]byte("Name: x\n")); !errors.Is(err, ErrBadProc) {
		t.Errorf("missing VmRSS err = %v", err)
	}
	a := procSample{at: time.Unix(0, 0), cpu: time.Second}
	b := procSample{at: time.Unix(2, 0), cpu: 2 * time.Second}
	if got := cpuPercent(a, b); got != 50 {
		t.Errorf("cpuPercent = %v, want 50", got)
	}
}

func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"ws://127.0.0.1:8080/ws", true},
		{"ws://localhost:8080/ws", true},
		{"ws://[::1]:8080/ws", true},
		{"ws://127.1.2.3/ws", true},
		{"ws://10.0.0.1:8080/ws", false},
		{"ws://example.com/ws", false},
		{"ws://localhost.example.com/ws", false},
		{"http://192.168.1.1/metrics", false},
	}
	for _, tc := range tests {
		err := checkLoopback(tc.url)
		if (err == nil) != tc.ok {
			t.Errorf("checkLoopback(%q) = %v, want ok=%v", tc.url, err, tc.ok)
		}
		if !tc.ok && !errors.Is(err, ErrRemoteTarget) {
			t.Errorf("checkLoopback(%q) err = %v, want ErrRemoteTarget", tc.url, err)
		}
	}
	if u, _ := metricsURLFor("ws://127.0.0.1:9/ws?x=1", "/metrics"); u != "http://127.0.0.1:9/metrics" {
		t.Errorf("metricsURLFor = %q", u)
	}
}

// TestStateFrameSize checks the documented claim: the computed size equals
// the marshaled envelope, which is the WebSocket payload.
func TestStateFrameSize(t *testing.T) {
	for _, st := range []*tickwirev1.State{
		{},
		{Tick: 1},
		{Tick: 300, BaselineTick: 299, LastInputSeq: 17, Payload: make([]byte, 40)},
		{Tick: 1 << 30, Payload: make([]byte, 300)},
	} {
		b, err := proto.Marshal(&tickwirev1.ServerMessage{Kind: &tickwirev1.ServerMessage_State{State: st}})
		if err != nil {
			t.Fatal(err)
		}
		if got := stateFrameSize(st); got != len(b) {
			t.Errorf("stateFrameSize = %d, marshaled %d", got, len(b))
		}
	}
}

func FuzzParseProm(f *testing.F) {
	f.Add(promText)
	f.Add("a{b=\"c\"} 1 123\n# x\n")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseProm(s)
		if err != nil {
			if !errors.Is(err, ErrBadMetrics) {
				t.Fatalf("error not ErrBadMetrics: %v", err)
			}
			return
		}
		_, _ = histQuantile(0.99, p.buckets("a"))
	})
}

func FuzzParseProc(f *testing.F) {
	f.Add([]byte("1 (a) S 1 1 1 0 -1 0 0 0 0 0 5 6 0 0\n"))
	f.Add([]byte("VmRSS:\t 12 kB\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := parseStatCPU(b); err != nil && !errors.Is(err, ErrBadProc) {
			t.Fatalf("stat error not ErrBadProc: %v", err)
		}
		if _, err := parseStatusRSS(b); err != nil && !errors.Is(err, ErrBadProc) {
			t.Fatalf("status error not ErrBadProc: %v", err)
		}
		m, err := parseProcStat(b)
		if err != nil && !errors.Is(err, ErrBadProc) {
			t.Fatalf("/proc/stat error not ErrBadProc: %v", err)
		}
		if err == nil && m.busy > m.total {
			t.Fatalf("busy %d > total %d", m.busy, m.total)
		}
	})
}

func TestParseProcStat(t *testing.T) {
	const two = "cpu  100 5 50 800 20 1 4 10 0 0\ncpu0 50 2 25 400 10 1 2 5 0 0\ncpu1 50 3 25 400 10 0 2 5 0 0\nintr 1 2\nctxt 9\n"
	tests := []struct {
		name        string
		in          string
		busy, total uint64
		cores       int
		bad         bool
	}{
		// busy = user+nice+system+irq+softirq+steal; idle and iowait are not.
		{name: "two cores", in: two, busy: 170, total: 990, cores: 2},
		{name: "old kernel, four fields", in: "cpu 1 2 3 4\ncpu0 1 2 3 4\n", busy: 6, total: 10, cores: 1},
		{name: "no cpu line", in: "intr 1\n", bad: true},
		{name: "short cpu line", in: "cpu 1 2 3\n", bad: true},
		{name: "not a number", in: "cpu 1 x 3 4\n", bad: true},
		{name: "empty", in: "", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := parseProcStat([]byte(tt.in))
			if tt.bad {
				if !errors.Is(err, ErrBadProc) {
					t.Fatalf("err = %v, want ErrBadProc", err)
				}
				return
			}
			if err != nil || m.busy != tt.busy || m.total != tt.total || m.cores != tt.cores {
				t.Fatalf("parseProcStat = %+v, %v; want busy %d total %d cores %d", m, err, tt.busy, tt.total, tt.cores)
			}
		})
	}
	a := machineSample{busy: 100, total: 1000}
	if got := machineBusyPercent(a, machineSample{busy: 290, total: 1200}); got != 95 {
		t.Errorf("machineBusyPercent = %v, want 95", got)
	}
	if got := machineBusyPercent(a, a); got != -1 {
		t.Errorf("machineBusyPercent over no time = %v, want -1", got)
	}
}

func BenchmarkLatencyHistRecord(b *testing.B) {
	var h latencyHist
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		d := time.Duration(0)
		for pb.Next() {
			d += 7919
			h.Record(d % (100 * time.Millisecond))
		}
	})
}

func BenchmarkStateFrameSize(b *testing.B) {
	st := &tickwirev1.State{Tick: 300, BaselineTick: 299, LastInputSeq: 17, Payload: make([]byte, 40)}
	b.ReportAllocs()
	for b.Loop() {
		_ = stateFrameSize(st)
	}
}
