package client

import (
	"fmt"
	"hash/maphash"
	"slices"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/transport/wire"
)

func TestHomeReplicaIsStableAndSkipsAvoided(t *testing.T) {
	replicas := []string{"10.0.0.1:6380", "10.0.0.2:6380", "10.0.0.3:6380"}
	for i := range 50 {
		seed := maphash.MakeSeed()
		first := homeReplica(seed, replicas, nil, nil)
		if !slices.Contains(replicas, first) {
			t.Fatalf("client %d: home %q is not a replica", i, first)
		}
		if again := homeReplica(seed, replicas, nil, nil); again != first {
			t.Fatalf("client %d: home %q then %q", i, first, again)
		}
		// Avoiding the home passes the read to another replica, and
		// avoiding that one too leaves the third.
		second := homeReplica(seed, replicas, map[string]bool{first: true}, nil)
		if second == "" || second == first {
			t.Fatalf("client %d: with %q avoided got %q", i, first, second)
		}
		third := homeReplica(seed, replicas, map[string]bool{first: true, second: true}, nil)
		if third == "" || third == first || third == second {
			t.Fatalf("client %d: with %q and %q avoided got %q", i, first, second, third)
		}
		if got := homeReplica(seed, replicas, map[string]bool{first: true, second: true, third: true}, nil); got != "" {
			t.Fatalf("client %d: every replica avoided, got %q", i, got)
		}
	}
	if got := homeReplica(maphash.MakeSeed(), nil, nil, nil); got != "" {
		t.Fatalf("no replicas: got %q", got)
	}
}

// TestHomeReplicaIsOneNodeAcrossGroups: a client's top node overall is its
// home in every group that node replicates, so its stale reads share one
// connection; other groups go to its next choice.
func TestHomeReplicaIsOneNodeAcrossGroups(t *testing.T) {
	nodes := []string{"a:1", "b:1", "c:1", "d:1", "e:1"}
	for c := range 200 {
		seed := maphash.MakeSeed()
		top := homeReplica(seed, nodes, nil, nil)
		for i := range nodes {
			group := []string{nodes[i], nodes[(i+1)%5], nodes[(i+2)%5]}
			got := homeReplica(seed, group, nil, nil)
			if slices.Contains(group, top) && got != top {
				t.Fatalf("client %d: group %v chose %q, not the client's top node %q", c, group, got, top)
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
		counts[homeReplica(maphash.MakeSeed(), replicas, nil, nil)]++
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
	seed := maphash.MakeSeed()
	home := homeReplica(seed, replicas, nil, &lag)
	lag.note(home)
	next := homeReplica(seed, replicas, nil, &lag)
	if next == home || next == "" {
		t.Fatalf("home %q lags, yet chosen again (%q)", home, next)
	}
	if want := homeReplica(seed, replicas, map[string]bool{home: true}, nil); next != want {
		t.Fatalf("with the home lagging got %q, want the next choice %q", next, want)
	}
	avoid := map[string]bool{}
	for _, a := range replicas {
		if a != home {
			avoid[a] = true
		}
	}
	if got := homeReplica(seed, replicas, avoid, &lag); got != home {
		t.Fatalf("only the lagging home is left, got %q", got)
	}
	// A stale read served by the home clears its mark at once.
	lag.clear(home)
	if got := homeReplica(seed, replicas, nil, &lag); got != home {
		t.Fatalf("after the home served again got %q, want the home %q", got, home)
	}
	lag.note(home)
	// The memory expires.
	lag.mu.Lock()
	lag.until[home] = time.Now().Add(-time.Millisecond)
	lag.mu.Unlock()
	if got := homeReplica(seed, replicas, nil, &lag); got != home {
		t.Fatalf("after lagMemory got %q, want the home %q again", got, home)
	}
	if lag.n.Load() != 0 {
		t.Fatalf("expired entry kept: n = %d", lag.n.Load())
	}
}

// TestPickStaleHomeShortcut: a stale read picked through the topology's
// common home goes where the ring lookup and homeReplica would send it,
// and the shortcut is off when the groups' homes differ or a replica
// lags.
func TestPickStaleHomeShortcut(t *testing.T) {
	ring, err := wire.NewRing(3, wire.DefaultVNodes)
	if err != nil {
		t.Fatal(err)
	}
	nodes := []string{"a:1", "b:1", "c:1", "d:1"}
	for i := range 100 {
		c := &Client{home: maphash.MakeSeed()}
		same := &topology{ring: ring, nodes: nodes[:3], groups: []groupRoute{
			{replicas: []string{"a:1", "b:1", "c:1"}},
			{replicas: []string{"b:1", "c:1", "a:1"}},
			{replicas: []string{"c:1", "a:1", "b:1"}},
		}}
		c.setTopology(same)
		if same.staleHome == "" {
			t.Fatalf("client %d: groups with the same replicas have no common home", i)
		}
		// Groups over different replicas share a home only when the
		// client's top node is in each.
		mixed := &topology{ring: ring, nodes: nodes, groups: []groupRoute{
			{replicas: []string{"a:1", "b:1", "c:1"}},
			{replicas: []string{"b:1", "c:1", "d:1"}},
			{replicas: []string{"c:1", "d:1", "a:1"}},
		}}
		c.setTopology(mixed)
		for _, tp := range []*topology{same, mixed} {
			for k := range 30 {
				rq := &request{kind: read, level: Stale, key: fmt.Sprintf("key-%d-%d", i, k)}
				want := homeReplica(c.home, tp.groups[tp.group(rq.key)].replicas, nil, nil)
				if got := c.pick(tp, rq, nil); got != want {
					t.Fatalf("client %d, %s: picked %q, want %q (staleHome %q)", i, rq.key, got, want, tp.staleHome)
				}
			}
		}
		// A lagging home turns the shortcut off: the next replica serves.
		c.lagging.note(same.staleHome)
		rq := &request{kind: read, level: Stale, key: "k"}
		if got := c.pick(same, rq, nil); got == same.staleHome || got == "" {
			t.Fatalf("client %d: home %q lags, yet picked %q", i, same.staleHome, got)
		}
	}
}
