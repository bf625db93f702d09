package node

import (
	"context"
	"fmt"
	"time"

	"github.com/sessionraft/sessionraft/transport/wire"
)

// readBarrier makes the local state machine safe to read at the requested
// level, or returns an error saying why it is not. It does not forward.
func (g *group) readBarrier(ctx context.Context, level string, maxStale time.Duration) error {
	switch level {
	case wire.Linearizable:
		// ReadIndex: note the commit index, confirm leadership with a quorum
		// round that starts after that, wait until the index is applied.
		epoch, err := g.waitReady(ctx)
		if err != nil {
			return err
		}
		idx := g.raft.CommitIndex()
		if err := g.verifier.verify(ctx); err != nil {
			return err
		}
		if !g.stillReady(epoch) {
			// Leadership changed under us: the commit index may predate the
			// new term's barrier. The caller retries at the new leader.
			return fmt.Errorf("%w: leadership changed during read", ErrNotLeader)
		}
		return g.rfsm.waitApplied(ctx, idx)
	case wire.Leader:
		_, err := g.waitReady(ctx)
		return err
	case wire.Stale:
		return g.staleCheck(maxStale)
	default:
		return fmt.Errorf("%w: consistency %q", ErrBadArg, level)
	}
}

// staleCheck refuses a read from this replica's state when that state may
// be older than maxStale. The age of the state is measured directly: the
// log clock is the leader's time stamped on the newest applied entry, and an
// idle leader proposes an empty entry every MaxStaleness/4 (see
// clockTick), so on a replica that keeps up the clock trails real time by
// less than that. "Heard from the leader recently" would not do: raft's
// heartbeats carry no commit index, so a follower whose replication is
// stalled (after a partition heals, or while a snapshot installs) keeps
// hearing from its leader while its data ages. The same test applies on a
// leader, whose state machine may also lag. Clock skew between the leader
// and this node adds to the bound, as it does for expiry.
func (g *group) staleCheck(maxStale time.Duration) error {
	age := g.stateAge()
	if age > maxStale {
		return fmt.Errorf("%w: group %d state is %v old (bound %v)", ErrStale, g.id, age.Round(time.Millisecond), maxStale)
	}
	return nil
}

// stateAge is how old this replica's state of the group is, by the log
// clock (see staleCheck).
func (g *group) stateAge() time.Duration {
	return time.Duration(g.n.now() - g.fsm.Clock())
}

// readOpts are the per-request read options.
type readOpts struct {
	level    string
	maxStale time.Duration
}

// localOrForward runs read locally when this node can serve it at the
// level, or forwards it to the group leader (linearizable and leader reads
// on a follower). It retries while the group has no usable leader.
func (n *Node) localOrForward(ctx context.Context, gid int, o readOpts, local func() error, remote func(addr string) error) error {
	g, err := n.group(gid)
	if err != nil {
		return err
	}
	return n.retryUnapplied(ctx, func() error {
		if n.unsafeLocalRead(o) { // test mode only: DEBUG.UNSAFE READS on
			return local()
		}
		if o.level == wire.Stale || g.isLeader() {
			if err := g.readBarrier(ctx, o.level, o.maxStale); err != nil {
				return err
			}
			return local()
		}
		if addr, _ := g.leaderAddr(); addr != "" {
			return remote(addr)
		}
		return fmt.Errorf("%w: group %d has no leader", ErrUnavailable, gid)
	})
}
