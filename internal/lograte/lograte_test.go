package lograte

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	t0 := time.Unix(1000, 0)
	type step struct {
		at     time.Duration // since t0
		n      int
		ok     bool
		events int
		sum    int
	}
	for _, tc := range []struct {
		name     string
		interval time.Duration
		steps    []step
		// what Flush returns after the steps
		restEvents, restSum int
	}{
		{name: "first event logs at once", steps: []step{{0, 3, true, 1, 3}}},
		{
			name: "events within the interval wait for the next line",
			steps: []step{
				{0, 1, true, 1, 1},
				{time.Second, 2, false, 0, 0},
				{9 * time.Second, 4, false, 0, 0},
				{10 * time.Second, 8, true, 3, 14},
				{11 * time.Second, 5, false, 0, 0},
			},
			restEvents: 1, restSum: 5,
		},
		{
			name:     "custom interval",
			interval: time.Second,
			steps: []step{
				{0, 1, true, 1, 1},
				{500 * time.Millisecond, 1, false, 0, 0},
				{time.Second, 1, true, 2, 2},
				{3 * time.Second, 1, true, 1, 1},
			},
		},
		{
			name: "a flood of one event per 10 ms for 20 s makes 2 lines plus the rest",
			steps: func() []step {
				var s []step
				for i := range 2000 {
					at := time.Duration(i) * 10 * time.Millisecond
					switch i {
					case 0:
						s = append(s, step{at, 1, true, 1, 1})
					case 1000:
						s = append(s, step{at, 1, true, 1000, 1000})
					default:
						s = append(s, step{at, 1, false, 0, 0})
					}
				}
				return s
			}(),
			restEvents: 999, restSum: 999,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := Limiter{Interval: tc.interval}
			for i, s := range tc.steps {
				events, sum, ok := l.Add(t0.Add(s.at), s.n)
				if ok != s.ok || events != s.events || sum != s.sum {
					t.Fatalf("step %d at %v: got (%d, %d, %v), want (%d, %d, %v)", i, s.at, events, sum, ok, s.events, s.sum, s.ok)
				}
			}
			if events, sum := l.Flush(); events != tc.restEvents || sum != tc.restSum {
				t.Errorf("Flush = (%d, %d), want (%d, %d)", events, sum, tc.restEvents, tc.restSum)
			}
			if events, _ := l.Flush(); events != 0 {
				t.Errorf("second Flush = %d events", events)
			}
		})
	}
}
