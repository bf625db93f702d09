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
// linearizable reads go to the leader with LinearizableReadsToLeader.
func TestStaleReadsHitFollowers(t *testing.T) {
	log, h := newServedLog()
	c := newClient(t, Config{hooks: h, SpreadStaleReads: true, LinearizableReadsToLeader: true})
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

// TestLinearizableReadsStayHome: linearizable reads go to the client's
// home replica of the group, except right after this client wrote to the
// group, when they go to the leader (leaderAfterWrite).
func TestLinearizableReadsStayHome(t *testing.T) {
	log, h := newServedLog()
	c := newClient(t, Config{hooks: h})
	ctx := testCtx(t)
	// A session of a group whose leader is not this client's home, so
	// that the two routes differ.
	var s *Session
	var g int
	var home string
	for i := 0; ; i++ {
		var err error
		if s, err = c.Create(ctx, WithField("a", b("1"))); err != nil {
			t.Fatal(err)
		}
		tp := c.topo.Load()
		g = tp.group(s.ID)
		home = homeReplica(c.home, tp.groups[g].replicas, nil, nil)
		if home != tp.groups[g].leader {
			break
		}
		if i == 50 {
			t.Fatal("every group's leader is this client's home")
		}
	}

	// Right after a write: the leader, if the read came soon enough.
	log.reset()
	if _, err := c.Set(ctx, s.ID, map[string][]byte{"a": b("2")}); err != nil {
		t.Fatal(err)
	}
	wrote := time.Now()
	got, err := c.Get(ctx, s.ID, WithoutTouch())
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := got.String("a"); v != "2" {
		t.Fatalf("read after the write saw a = %q", v)
	}
	if leader := c.topo.Load().groups[g].leader; time.Since(wrote) < leaderAfterWrite && log.counts("get")[leader] != 1 {
		t.Fatalf("read right after a write served by %v, want the leader %s", log.counts("get"), leader)
	}

	// Later: the home replica, every time.
	deadline := time.Now().Add(10 * time.Second)
	for !c.linearizableHome(g) {
		if time.Now().After(deadline) {
			t.Fatal("the group's reads never went home after the write")
		}
		time.Sleep(time.Millisecond) // polling the end of leaderAfterWrite
	}
	log.reset()
	for range 20 {
		if _, err := c.Get(ctx, s.ID, WithoutTouch()); err != nil {
			t.Fatal(err)
		}
	}
	if got := log.counts("get"); got[home] != 20 || len(got) != 1 {
		t.Fatalf("linearizable reads served by %v, want all 20 by the home replica %s", got, home)
	}
}

// TestLinearizableHome: which groups' linearizable reads go home.
func TestLinearizableHome(t *testing.T) {
	c := &Client{}
	if !c.linearizableHome(3) {
		t.Error("a group never written to does not read at home")
	}
	c.wrote[3].Store(time.Now().UnixNano())
	if c.linearizableHome(3) || !c.linearizableHome(4) {
		t.Error("a group just written to reads at home, or another group does not")
	}
	c.wrote[3].Store(time.Now().Add(-2 * leaderAfterWrite).UnixNano())
	if !c.linearizableHome(3) {
		t.Error("a group written to long ago does not read at home")
	}
	if c.linearizableHome(maxGroups) {
		t.Error("a group past maxGroups reads at home")
	}
	c.cfg.LinearizableReadsToLeader = true
	if c.linearizableHome(4) {
		t.Error("LinearizableReadsToLeader: a read goes home")
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
