package node

import (
	"context"
	"time"
)

// Drain prepares a graceful shutdown (SIGTERM): the node stops taking
// leaderships (the balancers skip a draining node), hands every group it
// leads to an up-to-date voter, then answers new client requests with
// UNAVAILABLE "node shutting down, nothing was applied" (clients retry
// elsewhere), waits for the requests in flight to finish, and snapshots
// the groups with many entries since their last snapshot so the restart
// has little to replay (shutdownsnap.go). Close follows. When ctx ends first, Drain returns and Close cuts what is left.
//
// Transferring first keeps the groups led: a leader that just exits
// leaves its groups leaderless for an election timeout, and every write
// meanwhile waits or fails.
func (n *Node) Drain(ctx context.Context) {
	n.ident.draining.Store(true)
	n.gossipSelf()
	n.log.Info("draining: transferring leaderships")
	if err := n.transferLeaderships(ctx); err != nil {
		n.log.Warn("draining: some leaderships not transferred", "err", err)
	}
	n.refusing.Store(true)
	for n.respSrv != nil && (n.respSrv.Running() > 0 || n.pendingWrites.Load() > 0) {
		select {
		case <-ctx.Done():
			n.log.Warn("draining: requests still in flight", "running", n.respSrv.Running(), "writes", n.pendingWrites.Load())
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	n.snapshotForRestart(ctx)
	n.log.Info("drained")
}
