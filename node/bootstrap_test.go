package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestNoSecondBootstrap: when two of three nodes are lost and two fresh
// nodes start with the usual --bootstrap-expect 3 --join <survivor>, they
// see exactly three alive servers and no local state, but the survivor
// gossips that it holds raft state, so they must not bootstrap a second,
// empty cluster beside it.
func TestNoSecondBootstrap(t *testing.T) {
	c := startCluster(t, 3, nil)
	survivor := c.cfgs[0]
	c.stop(1)
	c.stop(2)

	var fresh []*Node
	for i := 0; i < 2; i++ {
		cfg := testConfig(t, fmt.Sprintf("new%d", i), t.TempDir())
		cfg.BootstrapExpect = 3
		cfg.Join = []string{survivor.GossipAddr}
		n, err := Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		fresh = append(fresh, n)
	}
	waitFor(t, 30*time.Second, "fresh nodes to see the survivor's state", func() error {
		for _, n := range fresh {
			found := false
			alive := 0
			for _, m := range n.members() {
				if m.Alive {
					alive++
				}
				if m.ID == survivor.ID && m.State {
					found = true
				}
			}
			if !found || alive != 3 {
				return fmt.Errorf("%s sees %d alive, survivor state %v", n.cfg.ID, alive, found)
			}
		}
		return nil
	})
	// Membership loops run on every change and every 2 s; give them a few
	// rounds, then check that nothing was bootstrapped.
	for _, n := range fresh {
		n.kickMembership()
	}
	// (They may still gain raft state legitimately: the survivor, while it
	// still believes it leads, adds them as voters to its own groups.)
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range fresh {
			if _, err := os.Stat(filepath.Join(n.cfg.DataDir, bootstrapMarker)); err == nil {
				t.Fatalf("%s bootstrapped beside an existing cluster", n.cfg.ID)
			}
			for _, g := range n.groups {
				if _, id := g.leaderAddr(); id == "new0" || id == "new1" {
					t.Fatalf("group %d elected fresh node %s: a second cluster", g.id, id)
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}
