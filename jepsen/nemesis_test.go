package jepsen

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/sessionraft/sessionraft/internal/testcluster"
	"github.com/sessionraft/sessionraft/internal/testcluster/netns"
)

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

// TestCutRules: a kernel cut of a -> b is a rule in b's input chain on a's
// address (a's own sends never fail), and "both" cuts both ways.
func TestCutRules(t *testing.T) {
	lab := &netns.Lab{Client: netns.Host{Name: "cl", IP: netns.ClientIP}}
	c := &Cluster{lab: lab}
	for i := range 3 {
		lab.Nodes = append(lab.Nodes, netns.Host{Name: fmt.Sprint("n", i+1), IP: netns.NodeIP(i)})
		c.Nodes = append(c.Nodes, &Node{Spec: testcluster.Spec{ID: fmt.Sprint("n", i+1)}})
	}
	n1, n2, n3 := c.Nodes[0], c.Nodes[1], c.Nodes[2]
	got := c.cutRules([]cut{{n1, n2, "out"}, {n1, n3, "in"}, {n2, n3, "both"}}, true)
	in := func(peer int) netns.Rule {
		return netns.Rule{Chain: "input", Peer: netns.NodeIP(peer), Reject: true}
	}
	want := hostRules{
		"n2": {in(0), in(2)}, // n1 -> n2 cut out on n1; n3 -> n2 by "both"
		"n1": {in(2)},        // n3 -> n1 cut in on n1
		"n3": {in(1)},        // n2 -> n3 by "both"
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cutRules:\n got %+v\nwant %+v", got, want)
	}
}
