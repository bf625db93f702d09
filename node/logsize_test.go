package node

import (
	"context"
	"fmt"
	"testing"

	"github.com/hashicorp/raft"
)

// stubLogSize makes g's in-memory log report perEntry() bytes per entry
// it holds, and fileBytes() as its size on disk.
func stubLogSize(g *group, perEntry, fileBytes func() int64) {
	g.layer.logBytes = fileBytes
	g.layer.logBytesFrom = func(i uint64) int64 {
		first, _ := g.layer.logs.FirstIndex()
		last, _ := g.layer.logs.LastIndex()
		i = max(i, first)
		if first == 0 || i > last {
			return 0
		}
		return int64(last-i+1) * perEntry()
	}
}

// TestLogBytesBudget: a group whose log is over MaxLogBytes snapshots and
// compacts down to a trailing count sized by bytes (half the budget at
// the average entry size); under the budget nothing happens.
func TestLogBytesBudget(t *testing.T) {
	c := newMemCluster(t, 1, func(cfg *Config) { cfg.MaxLogBytes, cfg.SnapshotLogBytes, cfg.TrailingLogBytes = 512<<20, 0, 0 })
	c.bootstrap(0)
	c.readyLeader(0)
	for i := range 300 {
		c.mustPropose(0, createCmd(fmt.Sprintf("s%03d", i)))
	}
	g, n := c.group(0), c.nodes[0]
	file, perEntry := int64(100<<20), int64(2<<20)
	stubLogSize(g, func() int64 { return perEntry }, func() int64 { return file })
	n.checkLogSize(context.Background())
	if first, _ := g.layer.logs.FirstIndex(); first != 1 {
		t.Fatalf("under the budget the log was compacted to %d", first)
	}
	file = 600 << 20
	n.checkLogSize(context.Background())
	last, _ := g.layer.logs.LastIndex()
	first, _ := g.layer.logs.FirstIndex()
	trailing := g.raft.ReloadableConfig().TrailingLogs
	if trailing != 128 { // 256 MiB at 2 MiB per entry
		t.Fatalf("trailing logs %d after going over the budget, want 128", trailing)
	}
	if kept := last - first + 1; kept > trailing+1 {
		t.Fatalf("log keeps %d entries (%d..%d), want at most %d after the snapshot", kept, first, last, trailing+1)
	}
}

// bigSnapshots reports every snapshot as size bytes.
type bigSnapshots struct {
	raft.SnapshotStore
	size int64
}

func (b bigSnapshots) List() ([]*raft.SnapshotMeta, error) {
	metas, err := b.SnapshotStore.List()
	for i, m := range metas {
		c := *m
		c.Size = b.size
		metas[i] = &c
	}
	return metas, err
}

// TestSnapshotLogBytes: a group snapshots once its log since the last
// snapshot is over SnapshotLogBytes and over half that snapshot's size,
// and keeps trailing entries of at most TrailingLogBytes. The trailing
// entries themselves never count. Sizes are the ones the test states for
// the in-memory log and snapshot stores.
func TestSnapshotLogBytes(t *testing.T) {
	c := newMemCluster(t, 1, func(cfg *Config) {
		cfg.MaxLogBytes, cfg.SnapshotLogBytes, cfg.TrailingLogBytes = 0, 1<<20, 1<<20
	})
	c.bootstrap(0)
	c.readyLeader(0)
	next := 0
	propose := func(k int) {
		for range k {
			c.mustPropose(0, createCmd(fmt.Sprintf("s%04d", next)))
			next++
		}
	}
	g, n := c.group(0), c.nodes[0]
	check := func() { n.checkLogSize(context.Background()) }
	snapIndex := func() string { return g.raft.Stats()["last_snapshot_index"] }
	entries := func() uint64 {
		first, _ := g.layer.logs.FirstIndex()
		last, _ := g.layer.logs.LastIndex()
		return last - first + 1
	}
	perEntry := int64(1 << 10)
	stubLogSize(g, func() int64 { return perEntry }, func() int64 { return int64(entries()) * perEntry })

	propose(300) // 300 KiB: under the bound
	check()
	if got := snapIndex(); got != "0" {
		t.Fatalf("snapshot at %s with 300 KiB of log", got)
	}

	perEntry = 8 << 10 // 2.4 MiB since no snapshot
	check()
	if got := snapIndex(); got == "0" {
		t.Fatal("no snapshot with 2.4 MiB of log since none")
	}
	if trailing := g.raft.ReloadableConfig().TrailingLogs; trailing != 128 {
		t.Fatalf("trailing logs %d, want 128 (1 MiB at 8 KiB per entry)", trailing)
	}
	if kept := entries(); kept > 129 {
		t.Fatalf("log keeps %d entries after the snapshot, want at most 129", kept)
	}

	// 20 more entries: the log (about 1.2 MiB with the trailing ones) is
	// over the bound, the part since the snapshot (160 KiB) is not.
	before := snapIndex()
	propose(20)
	check()
	if got := snapIndex(); got != before {
		t.Fatalf("snapshot at %s (was %s) with 160 KiB since the last one", got, before)
	}

	// 300 more, 2.5 MiB since the snapshot: over SnapshotLogBytes, but
	// under half of a 100 MiB snapshot, whose rewrite would cost more
	// than replaying them; over half of a 4 MiB one.
	propose(300)
	g.layer.snaps = bigSnapshots{g.layer.snaps, 100 << 20}
	g.logSize = logSizeState{} // the cached size is the real one's
	check()
	if got := snapIndex(); got != before {
		t.Fatalf("snapshot at %s (was %s) with 2.5 MiB of log against a 100 MiB snapshot", got, before)
	}
	g.layer.snaps = bigSnapshots{g.layer.snaps.(bigSnapshots).SnapshotStore, 4 << 20}
	g.logSize = logSizeState{}
	check()
	if got := snapIndex(); got == before {
		t.Fatal("no snapshot with 2.5 MiB of log against a 4 MiB snapshot")
	}
}
