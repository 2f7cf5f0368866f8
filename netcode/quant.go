package netcode

import "math"

// Quantize returns v in units of step (v/step rounded to nearest, halves
// away from zero), saturating at the int32 range; NaN gives 0. step must be
// positive. For example positions in 1/4 world unit: Quantize(x, 0.25).
func Quantize(v, step float64) int32 {
	q := math.Round(v / step)
	switch {
	case q != q:
		return 0
	case q >= math.MaxInt32:
		return math.MaxInt32
	case q <= math.MinInt32:
		return math.MinInt32
	}
	return int32(q)
}

// Dequantize returns q × step, the inverse of Quantize (within step/2).
func Dequantize(q int32, step float64) float64 { return float64(q) * step }
