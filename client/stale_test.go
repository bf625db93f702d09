//go:build unix

package client

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/internal/testcluster"
)

// TestStaleReadsHitFollowers checks that with SpreadStaleReads stale reads
// spread over the group's replicas, followers included, while
// linearizable reads go to the leader.
func TestStaleReadsHitFollowers(t *testing.T) {
	log, h := newServedLog()
	c := newClient(t, Config{hooks: h, SpreadStaleReads: true})
	ctx := testCtx(t)
	s, err := c.Create(ctx, WithField("a", b("1")))
	if err != nil {
		t.Fatal(err)
	}
	leaderOf := func() string {
		tp := c.topo.Load()
		return tp.groups[tp.group(s.ID)].leader
	}

	log.reset()
	for range 20 {
		if _, err := c.Get(ctx, s.ID, WithoutTouch()); err != nil {
			t.Fatal(err)
		}
	}
	if got := log.counts("get"); got[leaderOf()] < 15 { // a leadership move may divert a few
		t.Errorf("linearizable reads served by %v, leader %s", got, leaderOf())
	}

	log.reset()
	deadline := time.Now().Add(10 * time.Second)
	for {
		// A follower that has not applied the create yet answers NOTFOUND;
		// that is a stale read doing its job, so only successes count.
		_, _ = c.Get(ctx, s.ID, WithConsistency(Stale), WithoutTouch())
		got := log.counts("get")
		followers := 0
		for addr, n := range got {
			if addr != leaderOf() {
				followers += n
			}
		}
		if followers >= 5 && len(got) >= 2 {
			t.Logf("stale reads served by %v (leader %s)", got, leaderOf())
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stale reads served by %v only (leader %s)", got, leaderOf())
		}
	}
}

// TestStaleReadsStayHome checks that by default a client's stale reads all
// go to its home replica of the group (home.go), which serves them.
func TestStaleReadsStayHome(t *testing.T) {
	log, h := newServedLog()
	c := newClient(t, Config{hooks: h})
	ctx := testCtx(t)
	s, err := c.Create(ctx, WithField("a", b("1")))
	if err != nil {
		t.Fatal(err)
	}
	tp := c.topo.Load()
	replicas := tp.groups[tp.group(s.ID)].replicas
	home := homeReplica(c.home, replicas, nil, nil)
	// Wait until every replica has applied the create, so that a read
	// sent anywhere but the home would succeed and be counted.
	for _, a := range replicas {
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := rawCmd(a, "SESSION.GET", s.ID, "CONSISTENCY", "stale", "NOTOUCH")
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %s does not serve the session: %v", a, err)
			}
			time.Sleep(10 * time.Millisecond) // polling a replica's apply
		}
	}

	log.reset()
	served := 0
	deadline := time.Now().Add(10 * time.Second)
	for served < 20 {
		if _, err := c.Get(ctx, s.ID, WithConsistency(Stale), WithoutTouch()); err == nil {
			served++
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 20 stale reads served in 10s: %v", served, log.counts("get"))
		}
	}
	if got := log.counts("get"); got[home] != served || len(got) != 1 {
		t.Fatalf("stale reads served by %v, want all %d by the home replica %s", got, served, home)
	}
}

// TestStaleReadsLeaveLaggingHome cuts the client's home replica off from
// the other nodes' raft traffic, so that its state ages past a short
// staleness bound. The home refuses a stale read and the next choice
// serves it; the reads after that go to the next choice at once
// (lagging), so the home refuses about one read per lagMemory, not every
// read.
func TestStaleReadsLeaveLaggingHome(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster of its own")
	}
	tc := startOwnCluster(t, testcluster.Options{TestMode: true})
	log, h := newServedLog()
	var refusals atomic.Int64 // by the home
	var homeAddr atomic.Pointer[string]
	h.refused = func(_, addr string) {
		if p := homeAddr.Load(); p != nil && *p == addr {
			refusals.Add(1)
		}
	}
	c := newClient(t, Config{Seeds: tc.Addrs(), hooks: h})
	ctx := testCtx(t)
	s, err := c.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tp := c.topo.Load()
	home := tc.ByAddr(homeReplica(c.home, tp.groups[tp.group(s.ID)].replicas, nil, nil))
	homeAddr.Store(&home.Client)
	fault := func(addr string, args ...string) {
		t.Helper()
		if err := rawCmd(addr, append([]string{"DEBUG.FAULT"}, args...)...); err != nil {
			t.Fatalf("DEBUG.FAULT %v on %s: %v", args, addr, err)
		}
	}
	for _, nd := range tc.Nodes {
		if nd != home {
			fault(nd.Client, "BLOCK", home.Raft, "both")
			fault(home.Client, "BLOCK", nd.Raft, "both")
		}
	}
	t.Cleanup(func() {
		for _, nd := range tc.Nodes {
			fault(nd.Client, "CLEAR")
		}
	})

	// Stale reads with a 300ms bound: once the home's state is older,
	// it refuses and another replica serves (if the home led the group,
	// once the other two have elected a leader and their state is fresh
	// again).
	read := func() error {
		_, err := c.Get(ctx, s.ID, WithConsistency(Stale), WithMaxStaleness(300*time.Millisecond), WithoutTouch())
		return err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := read()
		if err == nil && refusals.Load() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no stale read served elsewhere after the home %s refused (%d refusals, last error %v): %v",
				home.Client, refusals.Load(), err, log.counts("get"))
		}
	}
	log.reset()
	refusals.Store(0)
	const reads = 50
	start := time.Now()
	for range reads {
		if err := read(); err != nil {
			t.Fatalf("stale read with the home lagging: %v", err)
		}
	}
	took := time.Since(start)
	got := log.counts("get")
	if got[home.Client] != 0 {
		t.Errorf("the lagging home served %d reads: %v", got[home.Client], got)
	}
	// One refusal per lagMemory at most (plus one at each edge).
	if max := int64(took/lagMemory) + 2; refusals.Load() > max {
		t.Errorf("the lagging home refused %d of %d reads in %v: it was asked first each time", refusals.Load(), reads, took)
	}
	t.Logf("%d reads in %v, %d refused by the home, served by %v", reads, took, refusals.Load(), got)
}
