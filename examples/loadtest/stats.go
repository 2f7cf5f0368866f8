package main

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Latency histogram: log-linear buckets over nanoseconds. Values below 64 ns
// have a bucket each; above that every power of two is split into 32
// equal sub-buckets, so a bucket is at most 1/32 (3.1%) of its lower bound
// wide and the midpoint reported for a quantile is within 1.6% of the true
// value. The 1,920 counters (15 KiB) cover every uint64.
const (
	subBits    = 5
	subBuckets = 1 << subBits // 32
	histSize   = (64 - subBits + 1) * subBuckets
)

// latencyHist is a concurrent histogram of durations. Record may be called
// from any number of goroutines at once (atomic counters, no lock);
// Quantile and Count read a consistent-enough view while recording goes on
// and an exact one after it stops.
type latencyHist struct {
	counts [histSize]atomic.Uint64
	n      atomic.Uint64
	max    atomic.Int64
}

// bucketOf returns the bucket index of v (v >= 0).
func bucketOf(v uint64) int {
	if v < 2*subBuckets {
		return int(v)
	}
	l := bits.Len64(v)          // >= subBits+2
	m := v >> uint(l-subBits-1) // top subBits+1 bits: [32, 63]
	return (l-subBits)*subBuckets + int(m-subBuckets)
}

// bucketBounds returns the [lo, hi) range of bucket i.
func bucketBounds(i int) (lo, hi uint64) {
	if i < 2*subBuckets {
		return uint64(i), uint64(i) + 1
	}
	l := i/subBuckets + subBits
	m := uint64(i%subBuckets + subBuckets)
	shift := uint(l - subBits - 1)
	return m << shift, (m + 1) << shift
}

// Record adds one duration; negative durations count as 0.
func (h *latencyHist) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))].Add(1)
	h.n.Add(1)
	for {
		old := h.max.Load()
		if int64(d) <= old || h.max.CompareAndSwap(old, int64(d)) {
			return
		}
	}
}

// Count returns the number of recorded values.
func (h *latencyHist) Count() uint64 { return h.n.Load() }

// Max returns the largest recorded value.
func (h *latencyHist) Max() time.Duration { return time.Duration(h.max.Load()) }

// Quantile returns the q-quantile (0 <= q <= 1) as the midpoint of the
// bucket that holds the ceil(q*n)-th smallest value (nearest rank), or 0
// when nothing was recorded.
func (h *latencyHist) Quantile(q float64) time.Duration {
	var counts [histSize]uint64
	var n uint64
	for i := range h.counts {
		counts[i] = h.counts[i].Load()
		n += counts[i]
	}
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = min(max(rank, 1), n)
	var cum uint64
	for i, c := range counts {
		cum += c
		if cum >= rank {
			lo, hi := bucketBounds(i)
			if hi-lo == 1 {
				return time.Duration(lo)
			}
			mid := lo + (hi-lo)/2
			return min(time.Duration(mid), h.Max())
		}
	}
	return h.Max()
}

// percentile returns the p-quantile (0..1) of sorted values by linear
// interpolation between the closest ranks (the "R-7" definition: p=0 is the
// minimum, p=1 the maximum, p=0.5 the median). Empty input gives 0.
func percentile(sorted []float64, p float64) float64 {
	switch n := len(sorted); {
	case n == 0:
		return 0
	case n == 1 || p <= 0:
		return sorted[0]
	case p >= 1:
		return sorted[n-1]
	default:
		pos := p * float64(n-1)
		i := int(pos)
		frac := pos - float64(i)
		if i+1 >= n {
			return sorted[n-1]
		}
		return sorted[i] + frac*(sorted[i+1]-sorted[i])
	}
}

// summary holds min, median, mean and max of a sample.
type summary struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Mean   float64 `json:"mean"`
	Max    float64 `json:"max"`
}

// summarize sorts vals in place and returns their summary.
func summarize(vals []float64) summary {
	if len(vals) == 0 {
		return summary{}
	}
	slices.Sort(vals)
	var sum float64
	for _, v := range vals {
		sum += v
	}
	return summary{Min: vals[0], Median: percentile(vals, 0.5), Mean: sum / float64(len(vals)), Max: vals[len(vals)-1]}
}

// --- Prometheus text format ---

// ErrBadMetrics is returned for a /metrics body that does not parse.
var ErrBadMetrics = errors.New("loadtest: bad metrics text")

// promSample is one scrape: series (name with its label set, exactly as
// written by the server) to value.
type promSample map[string]float64

// parseProm parses the Prometheus text exposition format: comment lines are
// skipped, every other line is `series value [timestamp]`. Label values
// with spaces are not supported (Tickwire's are plain words).
func parseProm(text string) (promSample, error) {
	out := promSample{}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		// The series ends at the closing brace if there are labels.
		cut := strings.LastIndexByte(s, '}')
		if cut < 0 {
			cut = strings.IndexByte(s, ' ')
		} else {
			cut++
		}
		if cut <= 0 || cut >= len(s) {
			return nil, fmt.Errorf("%w: line %d: %q", ErrBadMetrics, line, s)
		}
		fields := strings.Fields(s[cut:])
		if len(fields) == 0 {
			return nil, fmt.Errorf("%w: line %d: no value", ErrBadMetrics, line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrBadMetrics, line, err)
		}
		out[strings.TrimSpace(s[:cut])] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadMetrics, err)
	}
	return out, nil
}

// sum adds every series of the metric name (all label sets).
func (p promSample) sum(name string) (float64, bool) {
	var total float64
	found := false
	for k, v := range p {
		if k == name || (strings.HasPrefix(k, name+"{")) {
			total += v
			found = true
		}
	}
	return total, found
}

// bucket is one cumulative histogram bucket.
type bucket struct {
	le    float64 // upper bound, +Inf for the last
	count float64 // cumulative count
}

// buckets returns the cumulative buckets of histogram name, sorted by le.
func (p promSample) buckets(name string) []bucket { return p.bucketsOf(name, "") }

// bucketsOf is buckets for the series of name with the labels before le,
// written as in the exposition with a trailing comma (`phase="read",`).
func (p promSample) bucketsOf(name, labels string) []bucket {
	prefix := name + `_bucket{` + labels + `le="`
	var out []bucket
	for k, v := range p {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		leStr, _, ok := strings.Cut(k[len(prefix):], `"`)
		if !ok {
			continue
		}
		le, err := strconv.ParseFloat(leStr, 64) // accepts "+Inf"
		if err != nil {
			continue
		}
		out = append(out, bucket{le: le, count: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].le < out[j].le })
	return out
}

// bucketDelta returns after-before per bucket (matched by position; both
// come from the same server so the bounds agree).
func bucketDelta(before, after []bucket) []bucket {
	if len(before) != len(after) {
		return after
	}
	out := make([]bucket, len(after))
	for i := range after {
		out[i] = bucket{le: after[i].le, count: after[i].count - before[i].count}
	}
	return out
}

// histQuantile estimates the q-quantile from cumulative buckets the way
// Prometheus' histogram_quantile does: find the bucket holding rank q*total
// and interpolate linearly inside it (the first bucket starts at 0). A rank
// that falls in the +Inf bucket returns the largest finite bound: use
// overflows to tell that the true value is above it. ok is false when the
// histogram is empty.
func histQuantile(q float64, bs []bucket) (v float64, ok bool) {
	if len(bs) == 0 {
		return 0, false
	}
	total := bs[len(bs)-1].count
	if total <= 0 {
		return 0, false
	}
	rank := q * total
	prevLE, prevCount := 0.0, 0.0
	for _, b := range bs {
		if b.count >= rank {
			if math.IsInf(b.le, 1) {
				return prevLE, true
			}
			inBucket := b.count - prevCount
			if inBucket <= 0 {
				return b.le, true
			}
			return prevLE + (b.le-prevLE)*(rank-prevCount)/inBucket, true
		}
		prevLE, prevCount = b.le, b.count
	}
	return prevLE, true
}

// overflows reports whether the q-quantile of bs lies in the +Inf bucket,
// above every finite bound.
func overflows(q float64, bs []bucket) bool {
	if len(bs) < 2 || !math.IsInf(bs[len(bs)-1].le, 1) {
		return false
	}
	total := bs[len(bs)-1].count
	return total > 0 && bs[len(bs)-2].count < q*total
}

// shareAbove returns the share (0..1) of the observations above le, exactly,
// when bs has a bucket bounded at le; ok is false otherwise or when bs is
// empty. Unlike a quantile it needs no interpolation.
func shareAbove(le float64, bs []bucket) (share float64, ok bool) {
	if len(bs) == 0 || bs[len(bs)-1].count <= 0 {
		return 0, false
	}
	total := bs[len(bs)-1].count
	for _, b := range bs {
		if b.le == le {
			return (total - b.count) / total, true
		}
	}
	return 0, false
}
