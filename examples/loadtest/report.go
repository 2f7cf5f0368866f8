package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the result of a run; it is also the -json output. Figures that
// could not be measured (no -pid, no /metrics) are null in JSON and "-" in
// the table.
type Report struct {
	Bots          int            `json:"bots"`
	Joined        int            `json:"joined"`
	JoinErrors    int            `json:"joinErrors"`
	Closes        int            `json:"closes"`     // connections the server closed during the run
	SendErrors    int            `json:"sendErrors"` // inputs that failed to write
	Errors        int            `json:"errors"`     // every counted problem (joins, error frames, closes, ...)
	ErrorReasons  map[string]int `json:"errorReasons,omitempty"`
	WindowSeconds float64        `json:"windowSeconds"`
	Rate          float64        `json:"rate"`
	ExpectedRooms int            `json:"expectedRooms"`
	Rooms         *float64       `json:"rooms"`

	InputsPerSecPerBot summary `json:"inputsPerSecPerBot"`
	StatesPerSecPerBot summary `json:"statesPerSecPerBot"`
	LatencyP50Ms       float64 `json:"latencyP50Ms"` // input seq S sent → first State with last_input_seq >= S
	LatencyP99Ms       float64 `json:"latencyP99Ms"`
	LatencyMaxMs       float64 `json:"latencyMaxMs"`
	LatencySamples     uint64  `json:"latencySamples"`
	BytesPerSecPerBot  float64 `json:"bytesPerSecPerBot"` // every frame received, mean over bots
	StateBytesPerSec   float64 `json:"stateBytesPerSecPerBot"`
	MeanStateBytes     float64 `json:"meanStateBytes"` // WebSocket payload of a State frame, envelope included
	FirstStateBytes    summary `json:"firstStateBytes"`
	FirstStateFull     float64 `json:"firstStateFullFraction"` // share of bots whose first State was a full one
	FullSnapshotBytes  float64 `json:"fullSnapshotBytes"`      // median full State requested after the window (busy rooms)
	StateToFullPercent float64 `json:"stateToFullPercent"`     // MeanStateBytes / FullSnapshotBytes

	ServerCPUPercent      *float64     `json:"serverCpuPercent"` // of one core, mean over the window
	ServerRSSMaxMB        *float64     `json:"serverRssMaxMB"`
	ToolCPUPercent        *float64     `json:"toolCpuPercent"` // this process, mean over the window
	LoadAvgStart          *float64     `json:"loadAvgStart"`   // machine 1-minute load average at the window's edges
	LoadAvgEnd            *float64     `json:"loadAvgEnd"`
	MachineBusyPercent    *float64     `json:"machineBusyPercent"` // all cores over the window; 100 = saturated, server and tool competed for CPU
	MachineCores          int          `json:"machineCores"`
	TickLatenessP99Ms     *float64     `json:"tickLatenessP99Ms"`
	TickLatenessP99Over   bool         `json:"tickLatenessP99AboveTopBucket"` // p99 is above the histogram's largest bound
	TickDurationP99Ms     *float64     `json:"tickDurationP99Ms"`             // the tick's own work (handler, encodes, sends)
	TickDurationP99Over   bool         `json:"tickDurationP99AboveTopBucket"`
	TickDurationMeanMs    *float64     `json:"tickDurationMeanMs"`      // _sum / _count: less at the mercy of a busy machine than the p99
	TicksLateOver2ms      *float64     `json:"ticksLateOver2msPercent"` // % of ticks that started more than 2 ms late (exact: a bucket bound)
	TickPhases            []phaseTimes `json:"tickPhases,omitempty"`    // where a tick's time goes (tickwire_tick_phase_seconds)
	EncodesPerRoomPerTick *float64     `json:"encodesPerRoomPerTick"`
	ServerBytesOutPerBot  *float64     `json:"serverBytesOutPerSecPerBot"`
	StateFramesDropped    *float64     `json:"stateFramesDropped"` // superseded before being written (slow clients)
	TicksSkipped          *float64     `json:"ticksSkipped"`
}

func ptr(v float64) *float64 { return &v }

// phaseTimes is one phase of the server's ticks over the window.
type phaseTimes struct {
	Phase  string  `json:"phase"`
	MeanMs float64 `json:"meanMs"`
	P99Ms  float64 `json:"p99Ms"`
}

// tickPhases are the phase label's values, in the order a tick runs them.
func tickPhases() []string { return []string{"read", "rules", "state", "write"} }

func (r *runner) report(before, after snapshot, window time.Duration) *Report {
	cfg := r.cfg
	secs := window.Seconds()
	rep := &Report{
		Bots: len(r.bots), Joined: int(r.joined.Load()), JoinErrors: int(r.joinErrs.Load()),
		Closes: int(r.closes.Load()), SendErrors: int(r.sendErrs.Load()),
		ErrorReasons: r.sortedReasons(), WindowSeconds: secs, Rate: cfg.Rate,
		ExpectedRooms: (len(r.bots) + cfg.RoomSize - 1) / cfg.RoomSize,
	}
	for _, n := range rep.ErrorReasons {
		rep.Errors += n
	}
	rep.Errors += rep.SendErrors

	var statesRate, inputsRate, firsts, fulls []float64
	var totStates, totStateBytes, totOther uint64
	nFirstFull := 0
	for i, b := range r.bots {
		if !b.active.Load() {
			continue
		}
		ds := after.states[i] - before.states[i]
		totStates += ds
		totStateBytes += after.stateBytes[i] - before.stateBytes[i]
		totOther += after.other[i] - before.other[i]
		if secs > 0 {
			statesRate = append(statesRate, float64(ds)/secs)
			inputsRate = append(inputsRate, float64(after.inputs[i]-before.inputs[i])/secs)
		}
		if f := b.firstSize.Load(); f > 0 {
			firsts = append(firsts, float64(f))
			if b.firstFull.Load() {
				nFirstFull++
			}
		}
		if f := b.fullSize.Load(); f > 0 {
			fulls = append(fulls, float64(f))
		}
	}
	rep.StatesPerSecPerBot = summarize(statesRate)
	rep.InputsPerSecPerBot = summarize(inputsRate)
	rep.FirstStateBytes = summarize(firsts)
	if len(firsts) > 0 {
		rep.FirstStateFull = float64(nFirstFull) / float64(len(firsts))
	}
	if len(fulls) > 0 {
		rep.FullSnapshotBytes = summarize(fulls).Median
	}
	if active := len(statesRate); active > 0 && secs > 0 {
		rep.StateBytesPerSec = float64(totStateBytes) / secs / float64(active)
		rep.BytesPerSecPerBot = float64(totStateBytes+totOther) / secs / float64(active)
	}
	if totStates > 0 {
		rep.MeanStateBytes = float64(totStateBytes) / float64(totStates)
	}
	if rep.FullSnapshotBytes > 0 {
		rep.StateToFullPercent = 100 * rep.MeanStateBytes / rep.FullSnapshotBytes
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	rep.LatencySamples = r.latency.Count()
	rep.LatencyP50Ms = ms(r.latency.Quantile(0.50))
	rep.LatencyP99Ms = ms(r.latency.Quantile(0.99))
	rep.LatencyMaxMs = ms(r.latency.Max())

	if before.proc != nil && after.proc != nil {
		rep.ServerCPUPercent = ptr(cpuPercent(*before.proc, *after.proc))
	}
	if before.self != nil && after.self != nil {
		rep.ToolCPUPercent = ptr(cpuPercent(*before.self, *after.self))
	}
	if before.loadAvg >= 0 {
		rep.LoadAvgStart = ptr(before.loadAvg)
	}
	if after.loadAvg >= 0 {
		rep.LoadAvgEnd = ptr(after.loadAvg)
	}
	if before.machine != nil && after.machine != nil {
		if p := machineBusyPercent(*before.machine, *after.machine); p >= 0 {
			rep.MachineBusyPercent = ptr(p)
			rep.MachineCores = after.machine.cores
		}
	}
	r.procMu.Lock()
	maxRSS := r.maxRSS
	r.procMu.Unlock()
	for _, p := range []*procSample{before.proc, after.proc} {
		if p != nil {
			maxRSS = max(maxRSS, p.rssKiB)
		}
	}
	if maxRSS > 0 {
		rep.ServerRSSMaxMB = ptr(float64(maxRSS) / 1024)
	}

	if after.rooms >= 0 {
		rep.Rooms = ptr(float64(after.rooms))
	} else if after.metrics != nil {
		if v, ok := after.metrics[fmt.Sprintf("tickwire_rooms{type=%q}", cfg.RoomType)]; ok {
			rep.Rooms = ptr(v)
		}
	}
	if before.metrics != nil && after.metrics != nil {
		delta := func(name string) (float64, bool) {
			a, ok1 := after.metrics.sum(name)
			b, ok2 := before.metrics.sum(name)
			return a - b, ok1 && ok2
		}
		// window is histogram name's series with labels (`phase="read"`,
		// "" for none) over the window: its buckets, and its mean in ms.
		window := func(name, labels string) (hist []bucket, meanMs float64, hasMean bool) {
			sel, prefix := "", ""
			if labels != "" {
				sel, prefix = "{"+labels+"}", labels+","
			}
			hist = bucketDelta(before.metrics.bucketsOf(name, prefix), after.metrics.bucketsOf(name, prefix))
			sum, ok1 := delta(name + "_sum" + sel)
			n, ok2 := delta(name + "_count" + sel)
			if !ok1 || !ok2 || n <= 0 {
				return hist, 0, false
			}
			return hist, 1000 * sum / n, true
		}
		lat, _, _ := window("tickwire_tick_lateness_seconds", "")
		if q, ok := histQuantile(0.99, lat); ok {
			rep.TickLatenessP99Ms = ptr(q * 1000)
			rep.TickLatenessP99Over = overflows(0.99, lat)
		}
		dur, mean, ok := window("tickwire_tick_duration_seconds", "")
		if q, ok := histQuantile(0.99, dur); ok {
			rep.TickDurationP99Ms = ptr(q * 1000)
			rep.TickDurationP99Over = overflows(0.99, dur)
		}
		if ok {
			rep.TickDurationMeanMs = ptr(mean)
		}
		if share, ok := shareAbove(0.002, lat); ok {
			rep.TicksLateOver2ms = ptr(100 * share)
		}
		for _, ph := range tickPhases() {
			hist, mean, ok := window("tickwire_tick_phase_seconds", fmt.Sprintf("phase=%q", ph))
			if q, ok2 := histQuantile(0.99, hist); ok && ok2 {
				rep.TickPhases = append(rep.TickPhases, phaseTimes{Phase: ph, MeanMs: mean, P99Ms: q * 1000})
			}
		}
		enc, ok1 := delta("tickwire_state_encodes_total")
		ticks, ok2 := delta("tickwire_ticks_total")
		if ok1 && ok2 && ticks > 0 {
			// tickwire_ticks_total counts the ticks of every room, so
			// encodes/ticks is already per room per tick.
			rep.EncodesPerRoomPerTick = ptr(enc / ticks)
		}
		if out, ok := delta("tickwire_bytes_out_total"); ok && rep.Joined > 0 && secs > 0 {
			rep.ServerBytesOutPerBot = ptr(out / secs / float64(rep.Joined))
		}
		if d, ok := delta("tickwire_state_frames_dropped_total"); ok {
			rep.StateFramesDropped = ptr(d)
		}
		if d, ok := delta("tickwire_ticks_skipped_total"); ok {
			rep.TicksSkipped = ptr(d)
		}
	}
	return rep
}

// countRooms returns how many rooms of roomType the node's JSON room list
// ({"rooms":[{"type":...},...]}) holds.
func countRooms(ctx context.Context, u, roomType string) (int, error) {
	body, err := get(ctx, u)
	if err != nil {
		return 0, fmt.Errorf("loadtest: rooms: %w", err)
	}
	var list struct {
		Rooms []struct {
			Type string `json:"type"`
		} `json:"rooms"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return 0, fmt.Errorf("loadtest: rooms: %w", err)
	}
	n := 0
	for _, rm := range list.Rooms {
		if rm.Type == roomType {
			n++
		}
	}
	return n, nil
}

// WriteTable prints the report as an aligned two-column table.
func (rep *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	opt := func(p *float64, format string) string {
		if p == nil || math.IsNaN(*p) {
			return "-"
		}
		return fmt.Sprintf(format, *p)
	}
	sum := func(s summary, format string) string {
		return fmt.Sprintf("min "+format+"  median "+format+"  mean "+format+"  max "+format, s.Min, s.Median, s.Mean, s.Max)
	}
	rows := [][2]string{
		{"bots", fmt.Sprint(rep.Bots)},
		{"joined", fmt.Sprint(rep.Joined)},
		{"join errors", fmt.Sprint(rep.JoinErrors)},
		{"errors / server closes", fmt.Sprintf("%d / %d", rep.Errors, rep.Closes)},
		{"window", fmt.Sprintf("%.1f s", rep.WindowSeconds)},
		{"rooms (expected)", fmt.Sprintf("%s (%d)", opt(rep.Rooms, "%.0f"), rep.ExpectedRooms)},
		{"inputs/s per bot", sum(rep.InputsPerSecPerBot, "%.2f")},
		{"state msgs/s per bot", sum(rep.StatesPerSecPerBot, "%.2f")},
		{"input→state latency", fmt.Sprintf("p50 %.1f ms  p99 %.1f ms  max %.1f ms  (%d samples)", rep.LatencyP50Ms, rep.LatencyP99Ms, rep.LatencyMaxMs, rep.LatencySamples)},
		{"bytes/s per bot received", fmt.Sprintf("%.0f (states %.0f)", rep.BytesPerSecPerBot, rep.StateBytesPerSec)},
		{"mean state msg bytes", fmt.Sprintf("%.1f", rep.MeanStateBytes)},
		{"first state bytes", fmt.Sprintf("median %.0f  max %.0f  (%.0f%% full)", rep.FirstStateBytes.Median, rep.FirstStateBytes.Max, 100*rep.FirstStateFull)},
		{"full snapshot bytes (busy room)", fmt.Sprintf("%.0f  (mean state = %.1f%% of it)", rep.FullSnapshotBytes, rep.StateToFullPercent)},
		{"server CPU (% of one core)", opt(rep.ServerCPUPercent, "%.1f%%")},
		{"server RSS max", opt(rep.ServerRSSMaxMB, "%.1f MB")},
		{"load-test tool CPU", opt(rep.ToolCPUPercent, "%.1f%%")},
		{"machine load avg (start / end)", opt(rep.LoadAvgStart, "%.2f") + " / " + opt(rep.LoadAvgEnd, "%.2f")},
		{"machine CPU busy", machineText(rep)},
		{"tick lateness p99", latenessText(rep)},
		{"tick duration p99 / mean", p99Text(rep.TickDurationP99Ms, rep.TickDurationP99Over) + " / " + opt(rep.TickDurationMeanMs, "%.2f ms")},
		{"tick phases mean (p99), ms", phasesText(rep.TickPhases)},
		{"state encodes per room per tick", opt(rep.EncodesPerRoomPerTick, "%.3f")},
		{"server bytes out/s per bot", opt(rep.ServerBytesOutPerBot, "%.0f")},
		{"state frames dropped / ticks skipped", opt(rep.StateFramesDropped, "%.0f") + " / " + opt(rep.TicksSkipped, "%.0f")},
	}
	if len(rep.ErrorReasons) > 0 {
		rows = append(rows, [2]string{"error reasons", reasonsLine(rep.ErrorReasons)})
	}
	for _, row := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", row[0], row[1])
	}
	return tw.Flush()
}

func phasesText(phases []phaseTimes) string {
	if len(phases) == 0 {
		return "-"
	}
	parts := make([]string, len(phases))
	for i, ph := range phases {
		parts[i] = fmt.Sprintf("%s %.2f (%.2f)", ph.Phase, ph.MeanMs, ph.P99Ms)
	}
	return strings.Join(parts, "  ")
}

func latenessText(rep *Report) string {
	s := p99Text(rep.TickLatenessP99Ms, rep.TickLatenessP99Over)
	if rep.TicksLateOver2ms != nil {
		s += fmt.Sprintf("  (%.2f%% of ticks > 2 ms late)", *rep.TicksLateOver2ms)
	}
	return s
}

// p99Text shows a histogram's p99 in ms (over: above its top bucket).
func p99Text(ms *float64, over bool) string {
	if ms == nil {
		return "-"
	}
	if over {
		return fmt.Sprintf("> %.2f ms (above the top bucket)", *ms)
	}
	return fmt.Sprintf("%.2f ms", *ms)
}

// machineText shows how busy the machine's cores were over the window.
func machineText(rep *Report) string {
	if rep.MachineBusyPercent == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f%% of %d cores", *rep.MachineBusyPercent, rep.MachineCores)
}
