package client

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestHomeReplicaIsStableAndSkipsAvoided(t *testing.T) {
	replicas := []string{"10.0.0.1:6380", "10.0.0.2:6380", "10.0.0.3:6380"}
	for seed := range uint64(50) {
		first := homeReplica(seed, replicas, nil, nil)
		if !slices.Contains(replicas, first) {
			t.Fatalf("seed %d: home %q is not a replica", seed, first)
		}
		if again := homeReplica(seed, replicas, nil, nil); again != first {
			t.Fatalf("seed %d: home %q then %q", seed, first, again)
		}
		// Avoiding the home passes the read to another replica, and
		// avoiding that one too leaves the third.
		second := homeReplica(seed, replicas, map[string]bool{first: true}, nil)
		if second == "" || second == first {
			t.Fatalf("seed %d: with %q avoided got %q", seed, first, second)
		}
		third := homeReplica(seed, replicas, map[string]bool{first: true, second: true}, nil)
		if third == "" || third == first || third == second {
			t.Fatalf("seed %d: with %q and %q avoided got %q", seed, first, second, third)
		}
		if got := homeReplica(seed, replicas, map[string]bool{first: true, second: true, third: true}, nil); got != "" {
			t.Fatalf("seed %d: every replica avoided, got %q", seed, got)
		}
	}
	if got := homeReplica(1, nil, nil, nil); got != "" {
		t.Fatalf("no replicas: got %q", got)
	}
}

// TestHomeReplicaIsOneNodeAcrossGroups: a client's top node overall is its
// home in every group that node replicates, so its stale reads share one
// connection; other groups go to its next choice.
func TestHomeReplicaIsOneNodeAcrossGroups(t *testing.T) {
	nodes := []string{"a:1", "b:1", "c:1", "d:1", "e:1"}
	for seed := range uint64(200) {
		top := homeReplica(seed, nodes, nil, nil)
		for i := range nodes {
			group := []string{nodes[i], nodes[(i+1)%5], nodes[(i+2)%5]}
			got := homeReplica(seed, group, nil, nil)
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
		counts[homeReplica(newHomeSeed(), replicas, nil, nil)]++
	}
	for _, a := range replicas {
		// Expected 1000 each; 800 is over 7 standard deviations below.
		if counts[a] < 800 {
			t.Fatalf("homes over %d clients: %v", clients, counts)
		}
	}
	t.Log(fmt.Sprint(counts))
}

// TestHomeReplicaPutsLaggingLast: a replica that refused a stale read
// loses first place for lagMemory, but is still chosen when it is the
// only one not avoided.
func TestHomeReplicaPutsLaggingLast(t *testing.T) {
	replicas := []string{"a:1", "b:1", "c:1"}
	var lag lagging
	home := homeReplica(7, replicas, nil, &lag)
	lag.note(home)
	next := homeReplica(7, replicas, nil, &lag)
	if next == home || next == "" {
		t.Fatalf("home %q lags, yet chosen again (%q)", home, next)
	}
	if want := homeReplica(7, replicas, map[string]bool{home: true}, nil); next != want {
		t.Fatalf("with the home lagging got %q, want the next choice %q", next, want)
	}
	avoid := map[string]bool{}
	for _, a := range replicas {
		if a != home {
			avoid[a] = true
		}
	}
	if got := homeReplica(7, replicas, avoid, &lag); got != home {
		t.Fatalf("only the lagging home is left, got %q", got)
	}
	// A stale read served by the home clears its mark at once.
	lag.clear(home)
	if got := homeReplica(7, replicas, nil, &lag); got != home {
		t.Fatalf("after the home served again got %q, want the home %q", got, home)
	}
	lag.note(home)
	// The memory expires.
	lag.mu.Lock()
	lag.until[home] = time.Now().Add(-time.Millisecond)
	lag.mu.Unlock()
	if got := homeReplica(7, replicas, nil, &lag); got != home {
		t.Fatalf("after lagMemory got %q, want the home %q again", got, home)
	}
	if lag.n.Load() != 0 {
		t.Fatalf("expired entry kept: n = %d", lag.n.Load())
	}
}
