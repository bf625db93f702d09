package node

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hashicorp/raft"
)

// Snapshot crash safety (issue 13). The group's snapshot store
// (node/snapstore) makes a snapshot durable before raft compacts its log
// and removes the ones a crash left half-written; at start-up raft
// restores the newest snapshot whose metadata reads and whose CRC-64
// (checked over the whole file before Restore) and fsm checksums verify,
// falling back to the older one it retains otherwise. What remains is
// handled here: a fallback to the older snapshot is safe only if the raft
// log still reaches back to it. After the newest snapshot the log was
// compacted to TrailingLogs entries, so it may start after the older
// snapshot's index; raft would then start with a hole between its state
// and its log and panic on the first entry it cannot read. The group
// refuses to start instead, saying what to do.

// snapshotDirs lists the snapshot directories in dir's store (not the
// ".tmp" ones of unfinished snapshots, which the store removes).
func snapshotDirs(dir string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(dir, "snapshots"))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && !strings.HasSuffix(e.Name(), ".tmp") {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// quarantineSnapshots moves the snapshots raft could not restore at start
// (those newer than the one it restored, at index restored, and those
// whose metadata does not read) out of the store, into
// <group>/damaged-snapshots. Left in place, a damaged snapshot keeps one
// of the store's two places: the next snapshot would then reap the older,
// good one and keep the damaged one, and one more damaged snapshot would
// leave the group nothing to start from (TestSnapshotCrashSafety found
// this). They are kept, not deleted, for a post-mortem.
//
// It compares with the restored snapshot's index, not the applied index:
// raft may already be applying the log after it, past a damaged newer
// snapshot's index.
func (g *group) quarantineSnapshots(restored uint64) {
	if g.layer.dir == "" || len(g.layer.snapsBefore) == 0 {
		return
	}
	good := map[string]bool{}
	if metas, err := g.layer.snaps.List(); err == nil {
		for _, m := range metas {
			if m.Index <= restored {
				good[m.ID] = true
			}
		}
	} else {
		return
	}
	dst := filepath.Join(g.layer.dir, "damaged-snapshots")
	for _, name := range g.layer.snapsBefore {
		if good[name] {
			continue
		}
		if err := os.MkdirAll(dst, 0o750); err == nil {
			err = os.Rename(filepath.Join(g.layer.dir, "snapshots", name), filepath.Join(dst, name))
			if err == nil {
				g.n.log.Error("snapshot could not be restored; moved aside, the group started from an older one", "group", g.id, "snapshot", name, "to", dst)
				continue
			}
			g.n.log.Warn("cannot move a damaged snapshot aside", "group", g.id, "snapshot", name, "err", err)
		}
	}
}

// newRaftNoPanic is raft.NewRaft, with its start-up panic turned into an
// error. raft.NewRaft panics when it cannot read a log entry after the
// restored snapshot (the hole described above); it panics before starting
// any goroutine, so the group can still be closed and the node can say
// why it stopped instead of crashing with raft's bare "log not found". It
// also panics when it cannot save the term it read (a full disk at
// start-up; stablestore.go).
func newRaftNoPanic(rc *raft.Config, f raft.FSM, l groupLayer) (r *raft.Raft, err error) {
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, fmt.Errorf("raft stopped at start-up: %v", p)
		}
	}()
	r, err = raft.NewRaft(rc, f, l.logs, l.stable, l.snaps, l.trans)
	if err == nil && l.stableLive != nil {
		l.stableLive.Store(true) // stablestore.go
	}
	return r, err
}

// lastSnapshotIndex is the index of raft's latest snapshot (0: none); at
// start-up, the one it restored. Raft says it only in its stats.
func lastSnapshotIndex(r *raft.Raft) uint64 {
	i, err := strconv.ParseUint(r.Stats()["last_snapshot_index"], 10, 64)
	if err != nil {
		return 0
	}
	return i
}

// newestSnapshotIndex is the highest index of a snapshot in store (0:
// none, or the store cannot list them).
func newestSnapshotIndex(store raft.SnapshotStore) uint64 {
	metas, err := store.List()
	if err != nil {
		return 0
	}
	var newest uint64
	for _, m := range metas {
		newest = max(newest, m.Index)
	}
	return newest
}

// checkLogReachesState refuses a group whose log starts after the entry
// following its restored state (see above).
func (g *group) checkLogReachesState() error {
	first, err := g.layer.logs.FirstIndex()
	if err != nil {
		return err
	}
	last, err := g.layer.logs.LastIndex()
	if err != nil {
		return err
	}
	applied := g.rfsm.applied.Load()
	if last == 0 || first <= applied+1 {
		return nil
	}
	return fmt.Errorf("group %d: the state restored from the snapshot store ends at index %d but the raft log starts at %d, "+
		"so the entries between are lost (the newest snapshot is damaged or missing, and the log was compacted past the older one): "+
		"this replica cannot rejoin safely; replace its data directory and let it rejoin from its peers, or restore from a backup (docs/OPERATIONS.md)",
		g.id, applied, first)
}
