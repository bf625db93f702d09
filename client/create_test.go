package client

import (
	"slices"
	"testing"
)

// A client's creates go to one group per slice, and in consecutive slices
// to every group once, the leaders in turn: the sessions spread evenly and
// each leader gets this client's creates one slice in every len(leaders).
func TestCreateSlices(t *testing.T) {
	tp := &topology{
		leaders: []string{"a:1", "b:1", "c:1"},
		led:     map[string][]int{"a:1": {0, 3}, "b:1": {1, 4}, "c:1": {2, 5}},
	}
	const cycle = 6 // every group once
	for _, phase := range []uint64{1, 2, 12345, 1 << 40} {
		seen := map[int]int{}
		for k := range uint64(4 * cycle) {
			g := sliceGroup(tp, phase+k)
			seen[g]++
			prev := sliceGroup(tp, phase+k-1)
			if leaderOf(tp, g) == leaderOf(tp, prev) {
				t.Fatalf("phase %d: slices %d and %d both went to %s", phase, k-1, k, leaderOf(tp, g))
			}
		}
		for g := range 6 {
			if seen[g] != 4 {
				t.Fatalf("phase %d: group %d got %d of %d slices, want 4: %v", phase, g, seen[g], 4*cycle, seen)
			}
		}
	}
}

func leaderOf(tp *topology, g int) string {
	for addr, gs := range tp.led {
		if slices.Contains(gs, g) {
			return addr
		}
	}
	return ""
}
