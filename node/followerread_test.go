package node

import (
	"fmt"
	"testing"
	"time"
)

// TestFollowerReads: a linearizable read sent to a follower right after a
// write was acknowledged sees that write, whether it is a SESSION.GET or
// a Redis GET, and the follower serves it from its own state through a
// read index from the leader, not by forwarding the read. The follower
// usually has not applied the write yet when its read index comes back
// (it learns of the commit with the leader's next AppendEntries), so the
// reads also wait for the index to apply.
func TestFollowerReads(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) {
		cfg.HTTPAddr = "127.0.0.1:0"    // for /metrics
		cfg.BalanceInterval = time.Hour // leadership stays where it is
	})
	c.waitLeaders()
	setup := &clientT{t: t, c: c.client(0)}
	id := asMap(t, setup.ok("SESSION.CREATE", "TTL", "1h", "FIELDS", "v", "0"))["id"].Str
	gid := c.node(0).ring.Group(id)
	lead := -1
	waitFor(t, 10*time.Second, "a ready leader of the session's group", func() error {
		for i := range c.nodes {
			if c.node(i).groups[gid].isReady() {
				lead = i
				return nil
			}
		}
		return fmt.Errorf("none yet")
	})
	lc := &clientT{t: t, c: c.client(lead)}
	followers := []int{(lead + 1) % 3, (lead + 2) % 3}
	// A string key in the same group, for GET.
	key := ""
	for i := 0; key == ""; i++ {
		if k := fmt.Sprintf("fr-key-%d", i); c.node(0).ring.Group(k) == gid {
			key = k
		}
	}
	forwardedBefore := make([]float64, 3)
	for _, f := range followers {
		forwardedBefore[f] = forwardedReads(t, c.node(f))
	}

	for i := 1; i <= 40; i++ {
		want := fmt.Sprint(i)
		ver := lc.ok("SESSION.SET", id, "v", want).Int
		lc.ok("SET", key, want)
		f := followers[i%2]
		fc := &clientT{t: t, c: c.client(f)}
		if got, _ := recordVersion(fc.ok("SESSION.GET", id, "NOTOUCH")); got != ver {
			t.Fatalf("round %d: SESSION.GET on follower %d after version %d was acknowledged: version %d", i, f, ver, got)
		}
		if got := fc.ok("GET", key).Str; got != want {
			t.Fatalf("round %d: GET on follower %d after the write was acknowledged: %q, want %q", i, f, got, want)
		}
	}

	for _, f := range followers {
		if got := forwardedReads(t, c.node(f)); got != forwardedBefore[f] {
			t.Errorf("follower %d forwarded %v reads; its linearizable reads should use a read index", f, got-forwardedBefore[f])
		}
		fams, _ := scrapeNode(t, c.node(f))
		if n, _ := metricSum(fams, "sessionraft_forwarded_requests_total", map[string]string{"kind": "read-index"}); n < 1 {
			t.Errorf("follower %d asked the leader for %v read indexes", f, n)
		}
	}
}
