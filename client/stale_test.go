//go:build unix

package client

import (
	"testing"
	"time"
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
	home := homeReplica(c.home, tp.groups[tp.group(s.ID)].replicas, nil)

	log.reset()
	served := 0
	deadline := time.Now().Add(10 * time.Second)
	for served < 20 {
		// A replica that has not applied the create yet answers NOTFOUND
		// (a stale read doing its job): only successes are logged.
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
