package node

import (
	"context"
	"errors"
	"sync"

	"github.com/hashicorp/raft"
)

// shutdownSnapshotMin is how many applied entries past a group's last
// snapshot make a graceful shutdown take a fresh one.
//
// Why: at start-up raft restores the latest snapshot, reads every log
// entry after it, and applies them again once a leader is known. Applying
// an entry costs several times what restoring the records it made costs
// (decode the command, check it, index it, remember its REQID), and a
// group may sit up to SnapshotThreshold entries past its snapshot: with a
// million sessions that replay is as large as the snapshot itself. A
// snapshot taken on the way out leaves a restart nothing to replay. A
// handful of entries are not worth the write; kill -9 skips all of this,
// and raft's own snapshots still bound the replay then.
var shutdownSnapshotMin uint64 = 1024 // a variable for tests

// snapshotForRestart snapshots every group whose applied index is at
// least shutdownSnapshotMin past its last snapshot, side by side, until
// ctx ends. A snapshot not finished by then completes during Close (raft
// waits for it), so it is never cut in half; a failure is only logged:
// the log still holds everything.
func (n *Node) snapshotForRestart(ctx context.Context) {
	var wg sync.WaitGroup
	done := make(chan struct{})
	for _, g := range n.groups {
		if g.raft == nil {
			continue
		}
		if applied := g.raft.AppliedIndex(); applied < lastSnapshotIndex(g.raft)+shutdownSnapshotMin {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := g.raft.Snapshot().Error()
			switch {
			case err == nil:
				n.log.Info("draining: snapshot taken for a quick restart", "group", g.id)
			case errors.Is(err, raft.ErrNothingNewToSnapshot), errors.Is(err, raft.ErrRaftShutdown):
			default:
				n.log.Warn("draining: snapshot failed (the log still holds every entry)", "group", g.id, "err", err)
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		n.log.Warn("draining: snapshots still being written; close waits for them")
	}
}
