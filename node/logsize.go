package node

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/raft"
)

// The raft log bounded in bytes.
//
// hashicorp/raft bounds a group's log in entries (SnapshotThreshold,
// TrailingLogs), and group commit makes entries large and their size vary
// with the load. After a million-session load a group's log held 2,876
// entries of about 36 KB: under both counts, so no snapshot was taken, the
// whole 104 MB log was kept, and a restart after kill -9 applied all of it
// again (11.5 s of CPU per node, against about 4 s to restore the same
// state from a snapshot).
//
// Every DiskCheckInterval a group snapshots when
//   - the entries it applied since its last snapshot are over
//     SnapshotLogBytes and over half the size of that snapshot (so the
//     snapshots written are at most twice the log written, and what a
//     restart replays stays below half the state it restores), or
//   - the whole log, in segment files, is over MaxLogBytes;
//
// and it keeps trailing entries of at most TrailingLogBytes (half of
// MaxLogBytes if smaller) at the average size of the entries it holds,
// never more than TrailingLogs. A failed snapshot is retried after
// logSizeRetry, not at every check.

// logSizeRetry is how long a group waits after a failed snapshot.
const logSizeRetry = time.Minute

// logSizeState is a group's state in the log-size loop (only that loop,
// or a test in its place, touches it).
type logSizeState struct {
	retryAt time.Time
	// snapIndex and snapBytes cache the size of the last snapshot seen.
	snapIndex uint64
	snapBytes int64
}

// logSizeLoop checks the groups' logs every DiskCheckInterval until ctx
// ends. It runs apart from the free-space guard, since it waits for the
// snapshots it asks for.
func (n *Node) logSizeLoop(ctx context.Context) {
	t := time.NewTicker(n.cfg.DiskCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n.checkLogSize(ctx)
	}
}

// checkLogSize snapshots the groups whose log is over a byte bound.
func (n *Node) checkLogSize(ctx context.Context) {
	for _, g := range n.groups {
		if ctx.Err() != nil {
			return
		}
		if g.layer.logBytes == nil || g.layer.logBytesFrom == nil || g.raft == nil || time.Now().Before(g.logSize.retryAt) {
			continue
		}
		first, _ := g.layer.logs.FirstIndex()
		last, _ := g.layer.logs.LastIndex()
		if first == 0 || last < first {
			continue
		}
		avg := max(uint64(g.layer.logBytesFrom(first))/(last-first+1), 1)
		why := ""
		switch {
		case n.cfg.MaxLogBytes > 0 && g.layer.logBytes() > n.cfg.MaxLogBytes:
			why = "raft log over --max-log-bytes: snapshot taken"
		case n.cfg.SnapshotLogBytes > 0:
			// What a snapshot now would cover: the entries applied since
			// the last one (a node catching up holds more, not yet
			// applied, which a snapshot cannot take in).
			snapIndex := lastSnapshotIndex(g.raft)
			since := g.layer.logBytesFrom(snapIndex+1) - g.layer.logBytesFrom(g.raft.AppliedIndex()+1)
			if since > n.cfg.SnapshotLogBytes && since > g.lastSnapshotBytes(snapIndex)/2 {
				why = "raft log since the last snapshot over --snapshot-log-bytes: snapshot taken"
			}
		}
		if why == "" {
			n.setTrailingLogs(g, avg, false)
			continue
		}
		n.setTrailingLogs(g, avg, true)
		err := g.raft.Snapshot().Error()
		switch {
		case err == nil:
			n.log.Info(why, "group", g.id, "log_entries", last-first+1, "avg_entry_bytes", avg)
		case errors.Is(err, raft.ErrNothingNewToSnapshot), errors.Is(err, raft.ErrRaftShutdown):
		default:
			g.logSize.retryAt = time.Now().Add(logSizeRetry)
			n.log.Warn("raft log snapshot failed (the log keeps every entry; retried in a minute)", "group", g.id, "err", err)
		}
	}
}

// setTrailingLogs sizes g's trailing entries to the byte bound at avg
// bytes per entry (at least 64, at most TrailingLogs). Unless exact, it
// leaves a setting within a quarter of the new one alone: entry sizes
// drift, and raft's own snapshots need only a rough bound.
func (n *Node) setTrailingLogs(g *group, avg uint64, exact bool) {
	budget := n.cfg.TrailingLogBytes
	if n.cfg.MaxLogBytes > 0 && (budget == 0 || budget > n.cfg.MaxLogBytes/2) {
		budget = n.cfg.MaxLogBytes / 2
	}
	trailing := n.cfg.TrailingLogs
	if budget > 0 {
		trailing = min(trailing, max(uint64(budget)/avg, 64))
	}
	rc := g.raft.ReloadableConfig()
	cur := rc.TrailingLogs
	if cur == trailing || (!exact && cur >= trailing-trailing/4 && cur <= trailing+trailing/4) {
		return
	}
	rc.TrailingLogs = trailing
	if err := g.raft.ReloadConfig(rc); err != nil {
		n.log.Warn("cannot change trailing logs", "group", g.id, "err", err)
	}
}

// lastSnapshotBytes is the size of g's newest snapshot, at index (0:
// none), read from the store once per snapshot.
func (g *group) lastSnapshotBytes(index uint64) int64 {
	if index == 0 || g.layer.snaps == nil {
		return 0
	}
	if g.logSize.snapIndex != index {
		metas, err := g.layer.snaps.List()
		if err != nil || len(metas) == 0 {
			return 0
		}
		g.logSize.snapIndex, g.logSize.snapBytes = metas[0].Index, metas[0].Size
	}
	return g.logSize.snapBytes
}
