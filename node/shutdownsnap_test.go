package node

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// TestDrainSnapshotsForRestart: a graceful shutdown snapshots the groups
// with enough entries past their last snapshot, so they restart from the
// snapshot with nothing to replay, and every session is still there.
func TestDrainSnapshotsForRestart(t *testing.T) {
	old := shutdownSnapshotMin
	shutdownSnapshotMin = 4
	t.Cleanup(func() { shutdownSnapshotMin = old })
	c := startCluster(t, 1, func(cfg *Config) {
		cfg.SnapshotThreshold = 1 << 30 // only the drain snapshots
		cfg.SnapshotInterval = time.Hour
	})
	cl := c.client(0)
	var ids []string
	for range 40 {
		ids = append(ids, asMap(t, mustOK(t, cl, "SESSION.CREATE", "TTL", "1h", "FIELDS", "k", "v"))["id"].Str)
	}
	n := c.node(0)
	want := map[int]uint64{} // group -> applied index the snapshot must cover
	for _, g := range n.groups {
		last, _ := strconv.ParseUint(g.raft.Stats()["last_snapshot_index"], 10, 64)
		if a := g.raft.AppliedIndex(); a >= last+shutdownSnapshotMin {
			want[g.id] = a
		}
	}
	if len(want) == 0 {
		t.Fatal("no group has enough entries to snapshot; the test proves nothing")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n.Drain(ctx)
	for _, g := range n.groups {
		last, _ := strconv.ParseUint(g.raft.Stats()["last_snapshot_index"], 10, 64)
		if a, ok := want[g.id]; ok && last < a {
			t.Errorf("group %d: last snapshot at %d after drain, want >= %d", g.id, last, a)
		}
	}
	c.stop(0)
	c.start(0)
	c.waitLeaders()
	cl = c.client(0)
	for _, id := range ids {
		waitFor(t, 30*time.Second, "session after restart", func() error {
			return do(t, cl, "SESSION.GET", id).Err()
		})
	}
	for _, g := range c.node(0).groups {
		last, _ := strconv.ParseUint(g.raft.Stats()["last_snapshot_index"], 10, 64)
		if a, ok := want[g.id]; ok && last < a {
			t.Errorf("group %d restarted with last snapshot %d, want >= %d", g.id, last, a)
		}
	}
}
