package client

import (
	"fmt"
	"slices"
	"testing"
)

func TestHomeReplicaIsStableAndSkipsAvoided(t *testing.T) {
	replicas := []string{"10.0.0.1:6380", "10.0.0.2:6380", "10.0.0.3:6380"}
	for seed := range uint64(50) {
		first := homeReplica(seed, replicas, nil)
		if !slices.Contains(replicas, first) {
			t.Fatalf("seed %d: home %q is not a replica", seed, first)
		}
		if again := homeReplica(seed, replicas, nil); again != first {
			t.Fatalf("seed %d: home %q then %q", seed, first, again)
		}
		// Avoiding the home passes the read to another replica, and
		// avoiding that one too leaves the third.
		second := homeReplica(seed, replicas, map[string]bool{first: true})
		if second == "" || second == first {
			t.Fatalf("seed %d: with %q avoided got %q", seed, first, second)
		}
		third := homeReplica(seed, replicas, map[string]bool{first: true, second: true})
		if third == "" || third == first || third == second {
			t.Fatalf("seed %d: with %q and %q avoided got %q", seed, first, second, third)
		}
		if got := homeReplica(seed, replicas, map[string]bool{first: true, second: true, third: true}); got != "" {
			t.Fatalf("seed %d: every replica avoided, got %q", seed, got)
		}
	}
	if got := homeReplica(1, nil, nil); got != "" {
		t.Fatalf("no replicas: got %q", got)
	}
}

// TestHomeReplicaIsOneNodeAcrossGroups: a client's top node overall is its
// home in every group that node replicates, so its stale reads share one
// connection; other groups go to its next choice.
func TestHomeReplicaIsOneNodeAcrossGroups(t *testing.T) {
	nodes := []string{"a:1", "b:1", "c:1", "d:1", "e:1"}
	for seed := range uint64(200) {
		top := homeReplica(seed, nodes, nil)
		for i := range nodes {
			group := []string{nodes[i], nodes[(i+1)%5], nodes[(i+2)%5]}
			got := homeReplica(seed, group, nil)
			if slices.Contains(group, top) && got != top {
				t.Fatalf("seed %d: group %v chose %q, not the client's top node %q", seed, group, got, top)
			}
		}
	}
}

// TestHomeReplicaSpreadsClients: clients with their own seeds spread
// evenly over the replicas, including addresses that differ in one digit.
func TestHomeReplicaSpreadsClients(t *testing.T) {
	replicas := []string{"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"}
	counts := map[string]int{}
	const clients = 3000
	for range clients {
		counts[homeReplica(newHomeSeed(), replicas, nil)]++
	}
	for _, a := range replicas {
		// Expected 1000 each; 800 is over 7 standard deviations below.
		if counts[a] < 800 {
			t.Fatalf("homes over %d clients: %v", clients, counts)
		}
	}
	t.Log(fmt.Sprint(counts))
}
