package client_test

import (
	"testing"

	"github.com/tickwire/tickwire/client"
)

func TestPredictorReplaysUnacknowledgedInputs(t *testing.T) {
	type pos struct{ X int }
	step := func(p pos, dx int) pos { p.X += dx; return p }
	tests := []struct {
		name      string
		sent      []int // inputs with seq 1..n
		authX     int   // server state
		processed uint32
		want      int
		pending   int
	}{
		{"nothing acked", []int{1, 2, 3}, 0, 0, 6, 3},
		{"some acked", []int{1, 2, 3}, 3, 2, 6, 1},
		{"all acked", []int{1, 2, 3}, 6, 3, 6, 0},
		{"server corrected", []int{5, 5, 5}, 2, 2, 7, 1}, // the server clamped the first two
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := client.NewPredictor(step, 0)
			for i, dx := range tt.sent {
				p.Push(uint32(i+1), dx)
			}
			got := p.Reconcile(pos{X: tt.authX}, tt.processed)
			if got.X != tt.want || p.Pending() != tt.pending {
				t.Fatalf("Reconcile = %d (pending %d), want %d (pending %d)", got.X, p.Pending(), tt.want, tt.pending)
			}
		})
	}
}
