package jepsen

import "testing"

// TestRingCuts: in the majorities ring every node sees a majority
// (itself included) and no two nodes see the same set.
func TestRingCuts(t *testing.T) {
	for _, n := range []int{5, 7, 9} {
		_, cuts := ringCuts(n)
		sees := make([]map[int]bool, n)
		for i := range n {
			sees[i] = map[int]bool{}
			for j := range n {
				sees[i][j] = true
			}
		}
		for _, c := range cuts {
			delete(sees[c[0]], c[1])
			delete(sees[c[1]], c[0])
		}
		seen := map[string]bool{}
		for i, s := range sees {
			if len(s) < n/2+1 {
				t.Errorf("n=%d: node %d sees %d nodes, not a majority", n, i, len(s))
			}
			if len(s) == n {
				t.Errorf("n=%d: node %d is not cut from anyone", n, i)
			}
			key := ""
			for j := range n {
				if s[j] {
					key += string(rune('a' + j))
				}
			}
			if seen[key] {
				t.Errorf("n=%d: two nodes see the same set %s", n, key)
			}
			seen[key] = true
		}
	}
	if _, cuts := ringCuts(5); len(cuts) != 5 {
		t.Errorf("5 nodes: %d cut pairs, want 5 (distance 2)", len(cuts))
	}
}
