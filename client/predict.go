package client

import "github.com/tickwire/tickwire/netcode"

// Predictor is client-side prediction and reconciliation: the game gives a
// step function (state, input) -> state; Push records each input sent (with
// the sequence number SendInput returned); on every authoritative state,
// Reconcile drops the inputs the server has processed (State.last_input_seq)
// and re-applies the newer ones, giving the predicted local state. Not safe
// for concurrent use.
type Predictor[S any, I any] = netcode.Predictor[S, I]

// NewPredictor returns a Predictor that keeps at most max unacknowledged
// inputs (older ones are dropped; 0 means 128).
func NewPredictor[S any, I any](step func(S, I) S, max int) *Predictor[S, I] {
	if max <= 0 {
		max = 128
	}
	return netcode.NewPredictor(step, max)
}
