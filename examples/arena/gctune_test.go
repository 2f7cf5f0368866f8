package main

import "testing"

func TestGCTunerPercent(t *testing.T) {
	tu := gcTuner{floor: 25, ceiling: 200, headroom: 8 << 20}
	for _, tt := range []struct {
		live uint64
		want int
	}{
		{0, 200},        // nothing live yet
		{2 << 20, 200},  // a tiny heap: the ceiling
		{8 << 20, 100},  // headroom = live
		{12 << 20, 66},  // 1,000 players: 8 MB between collections instead of 3
		{28 << 20, 28},  // 3,000 players: about the floor, as before
		{100 << 20, 25}, // big heaps: the floor
		{1 << 40, 25},   // huge
	} {
		if got := tu.percentFor(tt.live); got != tt.want {
			t.Errorf("percentFor(%d MB) = %d, want %d", tt.live>>20, got, tt.want)
		}
	}
}
