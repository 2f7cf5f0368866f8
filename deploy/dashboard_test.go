package deploy

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tickwire/tickwire/engine"
)

// dashboardPath is the Grafana dashboard, relative to the repository root.
const dashboardPath = "deploy/grafana/dashboards/tickwire.json"

// dashboard is the part of Grafana's dashboard JSON model the test reads.
type dashboard struct {
	UID        string  `json:"uid"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Title   string  `json:"title"`
	Type    string  `json:"type"`
	Panels  []panel `json:"panels"` // a collapsed row's
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// queries returns every PromQL expression of the dashboard, by panel title.
func (d *dashboard) queries() map[string][]string {
	out := map[string][]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, t := range p.Targets {
				out[p.Title] = append(out[p.Title], t.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		switch q := v.Query.(type) {
		case string:
			if strings.Contains(q, "(") {
				out["variable "+v.Name] = append(out["variable "+v.Name], q)
			}
		case map[string]any:
			if s, ok := q["query"].(string); ok {
				out["variable "+v.Name] = append(out["variable "+v.Name], s)
			}
		}
	}
	return out
}

var (
	promqlString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promqlMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promqlRange    = regexp.MustCompile(`\[[^\]]*\]`)
	promqlGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlNumber   = regexp.MustCompile(`\b\d[\d.]*(?:e[+-]?\d+)?(?:ms|[smhdwy])*\b`)
	promqlIdent    = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*\s*\(?`)
	promqlKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true}
)

// metricNames returns the metric names a PromQL expression selects: every
// identifier that is not a function or aggregation (followed by "("), a
// keyword, or inside a string, a label matcher, a range or a grouping
// clause. Grafana's label_values(metric, label) counts as selecting metric.
func metricNames(expr string) []string {
	if rest, ok := strings.CutPrefix(strings.TrimSpace(expr), "label_values("); ok {
		metric, _, _ := strings.Cut(rest, ",")
		expr = metric
	}
	s := promqlString.ReplaceAllString(expr, " ")
	s = promqlMatchers.ReplaceAllString(s, " ")
	s = promqlRange.ReplaceAllString(s, " ")
	s = promqlGrouping.ReplaceAllString(s, " ")
	s = promqlNumber.ReplaceAllString(s, " ")
	var names []string
	for _, tok := range promqlIdent.FindAllString(s, -1) {
		tok = strings.TrimSpace(tok)
		if strings.HasSuffix(tok, "(") || promqlKeywords[strings.ToLower(tok)] {
			continue
		}
		names = append(names, tok)
	}
	return names
}

func TestMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`tickwire_players`, []string{"tickwire_players"}},
		{`sum by (instance) (tickwire_players{instance=~"$instance"})`, []string{"tickwire_players"}},
		{`histogram_quantile(0.99, sum by (le) (rate(tickwire_tick_lateness_seconds_bucket{instance=~"$instance", x="a{b}"}[$__rate_interval])))`, []string{"tickwire_tick_lateness_seconds_bucket"}},
		{`sum(rate(a_sum[5m])) / sum(rate(a_count[5m])) > 0`, []string{"a_sum", "a_count"}},
		{`a and on (instance) b offset 5m`, []string{"a", "b"}},
		{`max by (instance) (go_gc_duration_seconds{quantile="1"})`, []string{"go_gc_duration_seconds"}},
		{`label_values(tickwire_players, instance)`, []string{"tickwire_players"}},
		{`vector(1)`, nil},
		{`rate(x_total[1h30m]) * 1e3 + 0.5`, []string{"x_total"}},
	} {
		if got := metricNames(tc.expr); !slices.Equal(got, tc.want) {
			t.Errorf("metricNames(%q) = %q, want %q", tc.expr, got, tc.want)
		}
	}
}

var descName = regexp.MustCompile(`fqName: "([^"]+)"`)

// exportedSeries returns the series names a node's /metrics can carry: the
// tickwire_ families it describes (present or not yet, like per-label
// counters before their first event) and what it exposes right now (the
// go_ and process_ families), with _bucket, _sum and _count for histograms
// and summaries. tickwire says which names are tickwire_ families.
func exportedSeries(t *testing.T) (series map[string]bool, tickwire []string) {
	t.Helper()
	e, err := engine.New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	m := e.Metrics()
	series = map[string]bool{}
	ch := make(chan *prometheus.Desc, 64)
	go func() { m.Describe(ch); close(ch) }()
	for d := range ch {
		match := descName.FindStringSubmatch(d.String())
		if match == nil {
			t.Fatalf("no fqName in %s", d)
		}
		tickwire = append(tickwire, match[1])
		for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
			series[match[1]+suffix] = true
		}
	}
	var b strings.Builder
	if err := m.WritePrometheus(&b); err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	for name := range families {
		for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
			series[name+suffix] = true
		}
	}
	return series, tickwire
}

// Every query in the Grafana dashboard names a series the node exports,
// and every tickwire_ family is on the dashboard.
func TestDashboardQueriesNameExportedSeries(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), dashboardPath))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	if d.UID == "" {
		t.Error("dashboard has no uid (provisioning and links need a stable one)")
	}
	series, tickwire := exportedSeries(t)
	used := map[string]bool{}
	queries := d.queries()
	if len(queries) == 0 {
		t.Fatal("no queries in the dashboard")
	}
	for title, exprs := range queries {
		for _, expr := range exprs {
			names := metricNames(expr)
			if len(names) == 0 {
				t.Errorf("panel %q: query %q names no series", title, expr)
			}
			for _, n := range names {
				if !series[n] {
					t.Errorf("panel %q: query %q names %s, which the node does not export", title, expr, n)
				}
				used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")] = true
				used[n] = true
			}
		}
	}
	for _, name := range tickwire {
		if !used[name] {
			t.Errorf("%s is on no panel of the dashboard", name)
		}
	}
}

// The monitoring profile's Prometheus scrapes every node of the compose
// file on its admin address (where /metrics is), and Grafana mounts the
// dashboard directory the provider reads.
func TestMonitoringProvisioning(t *testing.T) {
	root := repoRoot(t)
	prom, err := os.ReadFile(filepath.Join(root, "deploy/prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, composePath))
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseCompose(data)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range c.Services {
		if s.Build == nil {
			continue
		}
		admin := s.Environment["TICKWIRE_ADMIN_ADDR"]
		_, port, err := net.SplitHostPort(admin)
		if err != nil || port == "" {
			t.Errorf("node %s: TICKWIRE_ADMIN_ADDR %q: /metrics is on the admin address, which Prometheus must reach", name, admin)
			continue
		}
		if !strings.Contains(string(prom), `"`+net.JoinHostPort(name, port)+`"`) {
			t.Errorf("deploy/prometheus.yml does not scrape node %s's admin address %s", name, net.JoinHostPort(name, port))
		}
	}
	provider, err := os.ReadFile(filepath.Join(root, "deploy/grafana/provisioning/dashboards/tickwire.yml"))
	if err != nil {
		t.Fatal(err)
	}
	g := c.Services["grafana"]
	if g == nil {
		t.Fatal("no grafana service")
	}
	var mounted bool
	for _, v := range g.Volumes {
		if v.Source == "./deploy/grafana/dashboards" && strings.Contains(string(provider), "path: "+v.Target) {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("grafana does not mount ./deploy/grafana/dashboards where the provider reads (volumes %+v)", g.Volumes)
	}
}
