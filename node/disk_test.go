package node

import (
	"fmt"
	"testing"

	"github.com/hashicorp/raft"
)

func TestParseMinFreeDisk(t *testing.T) {
	for _, c := range []struct {
		in    string
		bytes uint64
		pct   float64
		ok    bool
	}{
		{"512MiB", 512 << 20, 0, true},
		{"2GB", 2e9, 0, true},
		{"1073741824", 1 << 30, 0, true},
		{"64k", 64 << 10, 0, true},
		{"5%", 0, 5, true},
		{" 2.5 %", 0, 2.5, true},
		{"0", 0, 0, true},
		{"100%", 0, 0, false},
		{"-1%", 0, 0, false},
		{"lots", 0, 0, false},
		{"-5MiB", 0, 0, false},
		{"99999999999TiB", 0, 0, false},
		{"", 0, 0, false},
	} {
		b, p, err := ParseMinFreeDisk(c.in)
		if (err == nil) != c.ok || b != c.bytes || p != c.pct {
			t.Errorf("ParseMinFreeDisk(%q) = %d, %v, %v; want %d, %v, ok=%v", c.in, b, p, err, c.bytes, c.pct, c.ok)
		}
	}
}

func TestMinFree(t *testing.T) {
	c := DefaultConfig()
	if got := c.minFree(100 << 30); got != 512<<20 {
		t.Fatalf("default threshold %d, want 512 MiB", got)
	}
	c.MinFreeDiskPercent = 10
	if got := c.minFree(100 << 30); got != 10<<30 {
		t.Fatalf("10%% of 100 GiB: %d", got)
	}
	c.MinFreeDisk, c.MinFreeDiskPercent = 0, 0
	if c.diskGuardOn() {
		t.Fatal("guard on with both thresholds 0")
	}
}

// TestLogBytesBudget: a group whose log is over MaxLogBytes snapshots and
// compacts down to a trailing count sized by bytes (half the budget at
// the average entry size); under the budget nothing happens. The group
// runs on in-memory stores, whose byte size the test states.
func TestLogBytesBudget(t *testing.T) {
	c := newMemCluster(t, 1, func(cfg *Config) { cfg.MaxLogBytes, cfg.SnapshotLogBytes = 512<<20, 0 })
	c.bootstrap(0)
	c.readyLeader(0)
	for i := range 300 {
		c.mustPropose(0, createCmd(fmt.Sprintf("s%03d", i)))
	}
	g, n := c.group(0), c.nodes[0]
	size := int64(100 << 20)
	g.layer.logBytes = func() int64 { return size }
	n.checkLogSize()
	if first, _ := g.layer.logs.FirstIndex(); first != 1 {
		t.Fatalf("under the budget the log was compacted to %d", first)
	}
	size = 600 << 20 // about 2 MiB per entry
	n.checkLogSize()
	last, _ := g.layer.logs.LastIndex()
	first, _ := g.layer.logs.FirstIndex()
	trailing := g.raft.ReloadableConfig().TrailingLogs
	if trailing >= n.cfg.TrailingLogs || trailing < 64 {
		t.Fatalf("trailing logs %d after going over the budget (configured %d)", trailing, n.cfg.TrailingLogs)
	}
	if kept := last - first + 1; kept > trailing+1 {
		t.Fatalf("log keeps %d entries (%d..%d), want at most %d after the snapshot", kept, first, last, trailing+1)
	}
	t.Logf("trailing %d, log %d..%d", trailing, first, last)
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
// and keeps trailing entries of at most TrailingLogBytes. Sizes are the
// ones the test states for the in-memory log and snapshot stores.
func TestSnapshotLogBytes(t *testing.T) {
	c := newMemCluster(t, 1, func(cfg *Config) {
		cfg.MaxLogBytes, cfg.SnapshotLogBytes, cfg.TrailingLogBytes = 0, 1<<20, 1<<20
	})
	c.bootstrap(0)
	c.readyLeader(0)
	propose := func(from, n int) {
		for i := from; i < from+n; i++ {
			c.mustPropose(0, createCmd(fmt.Sprintf("s%04d", i)))
		}
	}
	propose(0, 300)
	g, n := c.group(0), c.nodes[0]
	snapIndex := func() string { return g.raft.Stats()["last_snapshot_index"] }
	entries := func() uint64 {
		first, _ := g.layer.logs.FirstIndex()
		last, _ := g.layer.logs.LastIndex()
		return last - first + 1
	}
	perEntry := int64(1 << 10) // 300 KiB in all: under the bound
	g.layer.logBytes = func() int64 { return int64(entries()) * perEntry }
	n.checkLogSize()
	if got := snapIndex(); got != "0" {
		t.Fatalf("snapshot at %s with 300 KiB of log", got)
	}

	perEntry = 16 << 10 // about 4.8 MiB since no snapshot
	n.checkLogSize()
	if got := snapIndex(); got == "0" {
		t.Fatal("no snapshot with 4.8 MiB of log since none")
	}
	if trailing := g.raft.ReloadableConfig().TrailingLogs; trailing != 64 {
		t.Fatalf("trailing logs %d, want 64 (1 MiB at 16 KiB per entry)", trailing)
	}
	if kept := entries(); kept > 65 {
		t.Fatalf("log keeps %d entries after the snapshot, want at most 65", kept)
	}

	// 200 more entries, 3.2 MiB: over SnapshotLogBytes, but under half of
	// a 100 MiB snapshot, whose rewrite would cost more than replaying them.
	propose(300, 200)
	before := snapIndex()
	g.layer.snaps = bigSnapshots{g.layer.snaps, 100 << 20}
	n.checkLogSize()
	if got := snapIndex(); got != before {
		t.Fatalf("snapshot at %s (was %s) with 3.2 MiB of log against a 100 MiB snapshot", got, before)
	}
	g.layer.snaps = bigSnapshots{g.layer.snaps.(bigSnapshots).SnapshotStore, 4 << 20}
	n.checkLogSize()
	if got := snapIndex(); got == before {
		t.Fatal("no snapshot with 3.2 MiB of log against a 4 MiB snapshot")
	}
}
