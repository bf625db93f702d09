package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sessionraft/sessionraft/transport/wire"
)

// The read rules. Whether a read may be answered from this replica's state
// is decided in exactly two functions, and every path that serves a read
// asks them: the SESSION.GET fast path on the reader goroutine (getnow.go),
// the general path on a goroutine (readBarrier, via localOrForward) and the
// leader side of a forwarded read (forward.go, also readBarrier). A
// read-safety fix belongs in one of these two:
//
//   - linearizableRead: ReadIndex. The read index is the commit index taken
//     on the ready leader (takeReadIndex / readIndexNow); a leadership round
//     that started after that must have succeeded, the leadership epoch
//     must be the one the index was taken in, and the index must be
//     applied before the read is answered.
//   - weakRead: a leader read needs this node to be the ready leader (its
//     term's barrier applied); a stale read needs this replica's state to
//     be younger than the bound (staleCheck).
//
// The paths differ only in how they wait: the fast path never waits (it
// answers, defers its reply to the shared round, or hands the request to
// the general path), the general path waits within the request's context.

// readIndex is a linearizable read's starting point: the commit index taken
// on the ready leader, and the leadership epoch it was taken in.
type readIndex struct{ epoch, index uint64 }

// takeReadIndex waits until this node is the ready leader and takes a read
// index.
func (g *group) takeReadIndex(ctx context.Context) (readIndex, error) {
	epoch, err := g.waitReady(ctx)
	if err != nil {
		return readIndex{}, err
	}
	return readIndex{epoch: epoch, index: g.raft.CommitIndex()}, nil
}

// readIndexNow is takeReadIndex without waiting: false if this node is not
// the ready leader now.
func (g *group) readIndexNow() (readIndex, bool) {
	epoch, ok := g.readyNow()
	if !ok {
		return readIndex{}, false
	}
	return readIndex{epoch: epoch, index: g.raft.CommitIndex()}, true
}

// readVerdict is linearizableRead's answer.
type readVerdict uint8

const (
	readAnswer  readVerdict = iota // answer from local state now
	readApplied                    // safe once ri.index is applied: wait for it, then answer
	readMoved                      // leadership was lost or changed: retry (at the new leader)
	readFailed                     // the round failed otherwise (timed out): answer the error
)

// linearizableRead decides whether the linearizable read that took ri may
// be answered, given the outcome of a leadership round (verifier) that
// started after ri was taken. The error says why not (readMoved,
// readFailed). It never waits.
func (g *group) linearizableRead(ri readIndex, round error) (readVerdict, error) {
	switch {
	case round != nil && errors.Is(round, ErrNotLeader):
		return readMoved, round
	case round != nil:
		return readFailed, round
	case !g.stillReady(ri.epoch):
		// Leadership changed under us: the commit index may predate the
		// new term's barrier.
		return readMoved, errLeadershipChanged
	case g.rfsm.applied.Load() < ri.index:
		return readApplied, nil
	}
	return readAnswer, nil
}

// errLeadershipChanged refuses a read whose leadership epoch ended; the
// caller retries at the new leader.
var errLeadershipChanged = fmt.Errorf("%w: leadership changed during read", ErrNotLeader)

// errNotReadyLeader refuses a leader read on a node that is not the ready
// leader. Fixed, so the fast path's refusal costs nothing.
var errNotReadyLeader = fmt.Errorf("%w: not the ready leader", ErrNotLeader)

// weakRead decides whether a leader or stale read at o may be answered from
// local state now; the error says why not. It never waits.
func (g *group) weakRead(o readOpts) error {
	switch o.level {
	case wire.Leader:
		if _, ok := g.readyNow(); !ok {
			return errNotReadyLeader
		}
		return nil
	case wire.Stale:
		return g.staleCheck(o.maxStale)
	default:
		return fmt.Errorf("%w: consistency %q", ErrBadArg, o.level)
	}
}

// readBarrier is the general path's wait for the read rules: it returns
// once local state may be read at the level, or an error saying why not.
// It does not forward.
func (g *group) readBarrier(ctx context.Context, level string, maxStale time.Duration) error {
	switch level {
	case wire.Linearizable:
		ri, err := g.takeReadIndex(ctx)
		if err != nil {
			return err
		}
		// The round starts after this call, so after ri was taken.
		v, err := g.linearizableRead(ri, g.verifier.verify(ctx))
		if v == readApplied {
			return g.rfsm.waitApplied(ctx, ri.index)
		}
		return err
	case wire.Leader:
		// Wait until this node is the ready leader (or is not the leader
		// at all), then apply the rule.
		if _, err := g.waitReady(ctx); err != nil {
			return err
		}
	}
	return g.weakRead(readOpts{level: level, maxStale: maxStale})
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
