package roomrt

import "testing"

// History defaults to four send intervals, in ticks: the same number of
// snapshots whatever the send rate, and a given History is kept.
func TestHistoryDefault(t *testing.T) {
	tests := []struct {
		name              string
		tick, send, given int
		wantHistory       int
	}{
		{"every tick sent", 20, 20, 0, 4},
		{"defaults", 0, 0, 0, 4},
		{"every third tick sent", 60, 20, 0, 12},
		{"uneven rates round the send interval down", 20, 7, 0, 8},
		{"given", 20, 20, 32, 32},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{TickRate: tc.tick, SendRate: tc.send, History: tc.given}.withDefaults()
			if c.History != tc.wantHistory {
				t.Fatalf("History %d, want %d", c.History, tc.wantHistory)
			}
		})
	}
}
