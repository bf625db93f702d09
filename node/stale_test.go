package node

import (
	"fmt"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/transport/wire"
)

// TestStaleBound: an isolated follower keeps refusing stale reads once its
// state is older than the bound, even though it still has the data; an idle
// healthy cluster keeps serving them (the leader's clock ticks keep the
// log clock fresh); after the partition heals the follower serves again.
func TestStaleBound(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) { cfg.MaxStaleness = 400 * time.Millisecond })
	cl := &clientT{t: t, c: c.client(0)}
	id := asMap(t, cl.ok("SESSION.CREATE", "TTL", "1h"))["id"].Str
	gid := c.node(0).ring.Group(id)

	// Idle for several bounds: stale reads still work everywhere. (The
	// deadline is generous: on an overloaded machine a tick can be late.)
	idle := time.Now().Add(1200 * time.Millisecond)
	for i := 0; time.Now().Before(idle); i = (i + 1) % 3 {
		ci := &clientT{t: t, c: c.client(i)}
		waitFor(t, 10*time.Second, "stale read on an idle cluster", func() error {
			return ci.do("SESSION.GET", id, "CONSISTENCY", "stale", "NOTOUCH").Err()
		})
	}

	// Isolate a follower of the session's group.
	victim := -1
	for i := 0; i < 3; i++ {
		if !c.node(i).groups[gid].isLeader() {
			victim = i
			break
		}
	}
	vAddr := c.node(victim).self.Raft
	for i := 0; i < 3; i++ {
		if i == victim {
			continue
		}
		c.node(i).mux.Faults().Block(vAddr, true, true)
		c.node(victim).mux.Faults().Block(c.node(i).self.Raft, true, true)
	}
	vc := &clientT{t: t, c: c.client(victim)}
	waitFor(t, 5*time.Second, "isolated follower to refuse stale reads", func() error {
		if code := errCode(vc.do("SESSION.GET", id, "CONSISTENCY", "stale", "NOTOUCH")); code != wire.CodeStale {
			return fmt.Errorf("got %q", code)
		}
		return nil
	})
	// A looser bound per request is honoured.
	vc.ok("SESSION.GET", id, "CONSISTENCY", "stale", "MAXSTALE", "1h", "NOTOUCH")

	for i := 0; i < 3; i++ {
		c.node(i).mux.Faults().Clear()
	}
	waitFor(t, 15*time.Second, "healed follower to serve stale reads", func() error {
		return vc.do("SESSION.GET", id, "CONSISTENCY", "stale", "NOTOUCH").Err()
	})
}
