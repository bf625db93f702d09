package node

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/fsm"
)

// TestSnapshotCrashSafety damages a stopped node's newest snapshot in the
// ways a crash or a bad disk can and restarts it: a half-written ".tmp"
// snapshot is removed, a newest snapshot whose data is cut short or whose
// metadata is garbage falls back to the older one with the log replayed
// over it (the same state as before), and when the log no longer reaches
// back to the older snapshot the group refuses to start with a message
// that says what to do, instead of raft's panic on the missing entry.
func TestSnapshotCrashSafety(t *testing.T) {
	trailing := uint64(10240)
	c := startCluster(t, 1, func(cfg *Config) {
		cfg.TrailingLogs = trailing
		cfg.SnapshotThreshold = 1 << 40 // snapshots only when the test takes them
	})
	cl := c.client(0)
	g := func() *group { return c.node(0).groups[0] }
	var ids []string
	write := func(n int) {
		t.Helper()
		for range n {
			v := mustOK(t, cl, "SESSION.CREATE", "SUBJECT", "s", "TTL", "1h", "FIELDS", "n", fmt.Sprint(len(ids)))
			ids = append(ids, asMap(t, v)["id"].Str)
		}
	}
	snapshot := func() {
		t.Helper()
		if err := g().raft.Snapshot().Error(); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(c.tc.Nodes[0].DataDir, "0")
	newest := func() string {
		t.Helper()
		store, err := raft.NewFileSnapshotStore(dir, 2, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		list, err := store.List()
		if err != nil || len(list) < 2 {
			t.Fatalf("snapshots: %v (%d)", err, len(list))
		}
		return filepath.Join(dir, "snapshots", list[0].ID)
	}
	// After a restart the node holds exactly the sessions written: the
	// older snapshot plus the log replayed over it.
	restartSame := func(what string) {
		t.Helper()
		c.start(0)
		c.waitLeaders()
		cl = c.client(0)
		for _, id := range ids {
			mustOK(t, cl, "SESSION.GET", id)
		}
		if n := g().fsm.Len(); n != len(ids) {
			t.Fatalf("%s: %d sessions after restart, want %d", what, n, len(ids))
		}
		write(1) // and takes writes
	}

	// 1. Newest snapshot's data cut short, plus a half-written one.
	write(30)
	snapshot()
	write(30)
	snapshot()
	write(5)
	c.stop(0)
	state := filepath.Join(newest(), "state.bin")
	fi, err := os.Stat(state)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(state, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "snapshots", "9-999-1.tmp")
	if err := os.MkdirAll(tmp, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "state.bin"), []byte("half"), 0o640); err != nil {
		t.Fatal(err)
	}
	restartSame("newest state.bin truncated")
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("the half-written snapshot is still there: %v", err)
	}

	// 2. Newest snapshot's metadata garbage.
	snapshot()
	write(5)
	c.stop(0)
	if err := os.WriteFile(filepath.Join(newest(), "meta.json"), []byte("{garbage"), 0o640); err != nil {
		t.Fatal(err)
	}
	restartSame("newest meta.json garbage")

	// 3. The log compacted past the older snapshot: refused, clearly.
	trailing = 1
	c.stop(0)
	c.start(0)
	c.waitLeaders()
	cl = c.client(0)
	write(20)
	snapshot()
	write(20)
	snapshot()
	write(3)
	c.stop(0)
	state = filepath.Join(newest(), "state.bin")
	if err := os.Truncate(state, 10); err != nil {
		t.Fatal(err)
	}
	err = c.tc.Restart(c.tc.Nodes[0])
	if err == nil || !strings.Contains(err.Error(), "cannot rejoin safely") {
		t.Fatalf("restart with a hole between the older snapshot and the log: %v", err)
	}
	t.Logf("refused: %v", err)
}

// TestSnapshotEndingInConfigurationChange: a snapshot whose last entries
// are configuration changes restores a state machine whose own applied
// index is short of the snapshot's (it counts commands only). The start-up
// checks once took that snapshot for a damaged one and moved it aside;
// with the log compacted past the older snapshot, the next start then
// refused for good (found by a 10-minute jepsen run with the member
// nemesis).
func TestSnapshotEndingInConfigurationChange(t *testing.T) {
	trailing := uint64(1)
	c := startCluster(t, 1, func(cfg *Config) {
		cfg.TrailingLogs = trailing
		cfg.SnapshotThreshold = 1 << 40 // snapshots only when the test takes them
	})
	cl := c.client(0)
	g := func() *group { return c.node(0).groups[0] }
	dir := filepath.Join(c.tc.Nodes[0].DataDir, "0")
	var ids []string
	create := func() {
		for range 20 {
			v := mustOK(t, cl, "SESSION.CREATE", "SUBJECT", "s", "TTL", "1h")
			ids = append(ids, asMap(t, v)["id"].Str)
		}
	}
	create()
	if err := g().raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	create()
	// Two configuration entries last (a nonvoter added and removed), then
	// the snapshot; an entry of the node's own may land in between, so
	// this repeats until the snapshot ends on the configuration change.
	var snapIndex uint64
	deadline := time.Now().Add(20 * time.Second)
	for snapIndex == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no snapshot ended on a configuration change")
		}
		if err := g().raft.AddNonvoter("x", "127.0.0.1:1", 0, 0).Error(); err != nil {
			t.Fatal(err)
		}
		rm := g().raft.RemoveServer("x", 0, 0)
		if err := rm.Error(); err != nil {
			t.Fatal(err)
		}
		f := g().raft.Snapshot()
		if err := f.Error(); err != nil {
			t.Fatal(err)
		}
		meta, rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		rc.Close()
		if meta.Index == rm.Index() {
			snapIndex = meta.Index
		}
	}
	if applied := g().fsm.AppliedIndex(); applied >= snapIndex {
		t.Fatalf("the state machine's applied index %d is not short of the snapshot's %d: the test does not cover the case", applied, snapIndex)
	}
	for range 2 { // the second start found the hole when the first moved the snapshot aside
		c.stop(0)
		c.start(0)
		c.waitLeaders()
		if _, err := os.Stat(filepath.Join(dir, "damaged-snapshots")); !os.IsNotExist(err) {
			t.Fatalf("a good snapshot was moved aside: %v", err)
		}
		if got := g().rfsm.applied.Load(); got < snapIndex {
			t.Fatalf("applied index %d after restoring the snapshot at %d", got, snapIndex)
		}
	}
	cl = c.client(0)
	for _, id := range ids {
		mustOK(t, cl, "SESSION.GET", id)
	}
}

// TestInstalledSnapshotCountsItsIndex: a snapshot raft installs while the
// node serves counts as applied up to its index, also when its last
// entries were configuration changes the state machine's own index does
// not count. (On a cluster the next entry, which a returning follower's
// rejoin makes at once, hides the shortfall, so this tests the adapter.)
func TestInstalledSnapshotCountsItsIndex(t *testing.T) {
	src := fsm.New(fsm.DefaultLimits())
	if _, err := src.ApplyBatch(90, fsm.EncodeBatch(&fsm.Batch{Time: 1})); err != nil {
		t.Fatal(err)
	}
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	image := bytes.Clone(buf.Bytes())
	r := newRaftFSM(fsm.New(fsm.DefaultLimits()), 0, func(error) {})
	r.opening.Store(false)
	r.installedIndex = func() uint64 { return 95 } // entries 91-95: configuration changes
	if err := r.Restore(io.NopCloser(&buf)); err != nil {
		t.Fatal(err)
	}
	if got := r.f.AppliedIndex(); got != 90 {
		t.Fatalf("state machine's applied index %d, want 90", got)
	}
	if got := r.applied.Load(); got != 95 {
		t.Fatalf("applied index %d after installing the snapshot at 95, want 95", got)
	}

	// Raft may install a snapshot older than the state (a deposed leader
	// whose log was compacted behind its own newer snapshot, at 200): the
	// newest in the store is then that one, not the installed, and the
	// applied index goes back with the state.
	r.advance(200)
	r.installedIndex = func() uint64 { return 200 }
	if err := r.Restore(io.NopCloser(bytes.NewReader(image))); err != nil {
		t.Fatal(err)
	}
	if got := r.applied.Load(); got != 90 {
		t.Fatalf("applied index %d after installing an older snapshot (state at 90), want 90", got)
	}
}
