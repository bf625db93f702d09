package node

import (
	"fmt"
	"sync/atomic"

	"github.com/sessionraft/sessionraft/fsm"
)

// The memory quota (Config.MaxMemory, --max-memory).
//
// Where the check runs: on the group leader, in propose, before a command
// joins a batch, against the leader's own applied state (the sum of
// fsm.FSM.MemoryUsage over this node's groups) plus the commands it has
// admitted but not yet applied. The state machine never refuses anything
// for memory, so replicas cannot diverge over it: a follower applies what
// the leader proposed whatever its own figure. Forwarded writes pass the
// same check, since they are proposed by the leader too.
//
// How far past the quota a node can go (the slack):
//   - the estimate is approximate: data plus a fixed overhead per record,
//     tombstone and dedup entry (fsm/memory.go), not the Go heap;
//   - commands admitted at the same instant each see the figure before
//     the others: at most one record each (MaxRecordBytes) over the quota,
//     and they are bounded by the batches in flight;
//   - writes that do not add data still add a little: a destroy, revoke or
//     rotate leaves a tombstone per id (~100 bytes) for the dedup window,
//     and any command with a REQID a dedup entry; these are allowed above
//     the quota so that freeing memory always works, and pruning returns
//     them after the window;
//   - every node holds every group, so the quota is per node; followers
//     lag their leaders and may be a little under the leader's figure,
//     never over it for long.

// memGuard admits writes against the quota.
type memGuard struct {
	admitted atomic.Int64 // bytes of admitted data-adding commands not yet answered
}

// addsData reports whether c can grow the state by more than a tombstone
// or a dedup entry. Every command type not listed as freeing or moving
// time counts as adding data, so a new command is under the quota until
// it is classified here.
func addsData(c *fsm.Command) bool {
	switch c.Type {
	case fsm.CmdDestroy, fsm.CmdRevoke, fsm.CmdExpire, fsm.CmdTouch,
		// The Redis commands that remove keys, fields, members or
		// deadlines (DEL is CmdDestroy; EXPIRE and PERSIST only move a
		// deadline).
		fsm.CmdHDel, fsm.CmdSRem, fsm.CmdGetDel, fsm.CmdFlush, fsm.CmdSetExpiry:
		return false
	case fsm.CmdGetEx:
		// GETEX changes a deadline only.
		return false
	case fsm.CmdSet:
		// Unsetting fields or moving the deadline frees or keeps.
		return c.Set != nil && len(c.Set.Fields) > 0
	default:
		return true
	}
}

// memoryUsage is the estimated size of this node's state: every group's.
func (n *Node) memoryUsage() int64 {
	var total int64
	for _, g := range n.groups {
		total += g.fsm.MemoryUsage()
	}
	return total
}

// admitWrite checks c (of encoded size size) against the quota. When it
// returns nil the caller must call the returned release once c has an
// outcome.
func (n *Node) admitWrite(c *fsm.Command, size int) (release func(), err error) {
	m, quota := &n.mem, n.cfg.MaxMemory
	if quota <= 0 || !addsData(c) {
		return func() {}, nil
	}
	if used := n.memoryUsage() + m.admitted.Load(); used >= quota {
		return nil, fmt.Errorf("%w: about %d bytes used of %d", ErrOOM, used, quota)
	}
	m.admitted.Add(int64(size))
	return func() { m.admitted.Add(-int64(size)) }, nil
}
