package node

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/transport/resp"
	"github.com/sessionraft/sessionraft/transport/wire"
)

// Test-mode hooks for the jepsen harness. None of this is reachable unless
// the node runs with Config.TestMode (server flag --test-mode): the DEBUG.*
// commands are looked up in testCommands only then, and otherwise answer
// Redis's "ERR unknown command" like any unknown command.
//
//	DEBUG.FAULT BLOCK <peer raft addr> <in|out|both>   partition (mux Faults)
//	DEBUG.FAULT UNBLOCK <peer raft addr>
//	DEBUG.FAULT CLEAR
//	DEBUG.CLOCK OFFSET <ms>                            skew n.now() by ms
//	DEBUG.CLOCK GET                                    current offset, ms
//	DEBUG.UNSAFE READS on|off                          linearizable/leader reads from local state, no quorum round
//	DEBUG.UNSAFE EXPIRY on|off                         single-record reads judge expiry by the node's clock only, not the log clock
//	DEBUG.HASH                                         per group: [group, applied index, sessions, fsm hash]
//	DEBUG.TRANSFER <group>                             leadership transfer (this node must lead the group)
//	DEBUG.DISK FREE|FAIL|SLOW|STATUS ...               disk faults (disk_debug.go)
type testHooks struct {
	clockOffset atomic.Int64 // ns added to the wall clock by n.now()
	monoOffset  atomic.Int64 // ns added to the monotonic clock by n.monoNow() (tests only)
	unsafeReads atomic.Bool  // DELIBERATELY UNSAFE: skip ReadIndex/VerifyLeader
	// DELIBERATELY UNSAFE: Get hides records by n.now() only (fsm.GetAt),
	// so a node whose clock is behind serves records the log has expired.
	unsafeExpiry atomic.Bool
}

// debugCommands is the test-mode part of the command table (cmdtable.go).
func debugCommands() []*cmdSpec {
	const flags = flagAdmin | flagLocal
	return []*cmdSpec{
		{name: "DEBUG.FAULT", arity: -2, maxArgs: 4, flags: flags, group: "debug",
			syntax: "DEBUG.FAULT BLOCK addr in|out|both | UNBLOCK addr | CLEAR", summary: "Test mode: partitions this node from a peer's raft address.",
			run: inline((*handler).debugFault)},
		{name: "DEBUG.CLOCK", arity: -2, maxArgs: 3, flags: flags, group: "debug",
			syntax: "DEBUG.CLOCK OFFSET ms | GET", summary: "Test mode: skews this node's clock.",
			run: inline((*handler).debugClock)},
		{name: "DEBUG.UNSAFE", arity: 3, flags: flags, group: "debug",
			syntax: "DEBUG.UNSAFE READS|EXPIRY on|off", summary: "Test mode: deliberately unsafe reads or expiry, to prove the checkers catch them.",
			run: inline((*handler).debugUnsafe)},
		{name: "DEBUG.HASH", arity: 1, flags: flags, group: "debug",
			syntax: "DEBUG.HASH", summary: "Test mode: per group, the applied index, session count and state hash.",
			run: inline((*handler).debugHash)},
		{name: "DEBUG.TRANSFER", arity: 2, flags: flagAdmin, group: "debug",
			syntax: "DEBUG.TRANSFER group", summary: "Test mode: hands the group's leadership to another voter.",
			run: async((*handler).debugTransfer)},
		{name: "DEBUG.DISK", arity: -2, maxArgs: 3, flags: flags, group: "debug",
			syntax: debugDiskSyntax, summary: "Test mode: fakes low free space, failing or slow raft log writes, failing term/vote saves (disk_debug.go).",
			run: inline((*handler).debugDisk)},
	}
}

// lookupCommand finds a command, including the test hooks in test mode.
func (h *handler) lookupCommand(name string) (*cmdSpec, bool) {
	if cmd, ok := commands[name]; ok {
		return cmd, true
	}
	if h.n.cfg.TestMode {
		cmd, ok := testCommands[name]
		return cmd, ok
	}
	return nil, false
}

// commandList is every command this node serves, in COMMAND's order: the
// test hooks too in test mode.
func (h *handler) commandList() []*cmdSpec {
	if h.n.cfg.TestMode {
		return append(commandTable[:len(commandTable):len(commandTable)], testCommandTable...)
	}
	return commandTable
}

// unsafeLocalRead reports whether a read at level o must be served from
// local state with no barrier at all (DEBUG.UNSAFE READS on).
func (n *Node) unsafeLocalRead(o readOpts) bool {
	return n.test.unsafeReads.Load() && o.level != wire.Stale
}

// fsmGet reads one record for a client read. Normally fsm.Get: hidden once
// expired at n.now() or at the log clock. With DEBUG.UNSAFE EXPIRY on
// (test mode only) the log clock is ignored: expiry is decided by this
// node's own, possibly skewed, clock alone.
func (n *Node) fsmGet(f *fsm.FSM, id string) (*fsm.Record, bool) {
	return n.fsmGetAt(f, id, n.now())
}

// fsmGetAt is fsmGet at a time the caller has read (Node.now).
func (n *Node) fsmGetAt(f *fsm.FSM, id string, now int64) (*fsm.Record, bool) {
	if n.test.unsafeExpiry.Load() {
		return f.GetAt(id, now)
	}
	return f.Get(id, now)
}

func badDebug(r *resp.Reply, usage string) {
	r.WriteError(wire.CodeBadArg, "syntax: "+usage)
}

func (h *handler) debugFault(q request) {
	args, r := q.args, q.r
	const usage = "DEBUG.FAULT BLOCK addr in|out|both | UNBLOCK addr | CLEAR"
	f := h.n.mux.Faults()
	switch sub := strings.ToUpper(string(args[1])); {
	case sub == "CLEAR" && len(args) == 2:
		f.Clear()
	case sub == "UNBLOCK" && len(args) == 3:
		f.Unblock(string(args[2]))
	case sub == "BLOCK" && len(args) == 4:
		var in, out bool
		switch strings.ToLower(string(args[3])) {
		case "in":
			in = true
		case "out":
			out = true
		case "both":
			in, out = true, true
		default:
			badDebug(r, usage)
			return
		}
		f.Block(string(args[2]), in, out)
	default:
		badDebug(r, usage)
		return
	}
	h.n.log.Warn("test mode: fault injection", "cmd", string(args[1]), "args", fmt.Sprintf("%q", args[2:]))
	r.WriteSimple("OK")
}

func (h *handler) debugClock(q request) {
	args, r := q.args, q.r
	const usage = "DEBUG.CLOCK OFFSET ms | GET"
	switch sub := strings.ToUpper(string(args[1])); {
	case sub == "GET" && len(args) == 2:
		r.WriteInt(h.n.test.clockOffset.Load() / 1e6)
	case sub == "OFFSET" && len(args) == 3:
		ms, err := strconv.ParseInt(string(args[2]), 10, 64)
		if err != nil || ms < -86400000 || ms > 86400000 {
			badDebug(r, usage)
			return
		}
		h.n.test.clockOffset.Store(ms * 1e6)
		h.n.log.Warn("test mode: clock offset", "ms", ms)
		r.WriteSimple("OK")
	default:
		badDebug(r, usage)
	}
}

func (h *handler) debugUnsafe(q request) {
	args, r := q.args, q.r
	const usage = "DEBUG.UNSAFE READS|EXPIRY on|off"
	var flag *atomic.Bool
	switch strings.ToUpper(string(args[1])) {
	case "READS":
		flag = &h.n.test.unsafeReads
	case "EXPIRY":
		flag = &h.n.test.unsafeExpiry
	default:
		badDebug(r, usage)
		return
	}
	switch strings.ToLower(string(args[2])) {
	case "on":
		flag.Store(true)
	case "off":
		flag.Store(false)
	default:
		badDebug(r, usage)
		return
	}
	h.n.log.Warn("test mode: UNSAFE "+strings.ToLower(string(args[1])), "on", flag.Load())
	r.WriteSimple("OK")
}

// debugHash answers an array with one [group, applied, sessions, hash]
// array per group. Replicas at the same applied index must agree on hash.
func (h *handler) debugHash(q request) {
	r := q.r
	r.WriteArrayLen(len(h.n.groups))
	for _, g := range h.n.groups {
		// One call, under the apply lock: index, count and hash of one state.
		applied, records, sum := g.fsm.Digest()
		r.WriteArrayLen(4)
		r.WriteInt(int64(g.id))
		r.WriteInt(int64(applied))
		r.WriteInt(int64(records))
		r.WriteBulkString(hex.EncodeToString(sum[:]))
	}
}

// debugTransfer hands the group's leadership to another voter.
func (h *handler) debugTransfer(_ context.Context, args [][]byte, r *resp.Reply) {
	gid, err := strconv.Atoi(string(args[1]))
	if err != nil {
		badDebug(r, "DEBUG.TRANSFER group")
		return
	}
	g, err := h.n.group(gid)
	if err != nil {
		writeErr(r, err)
		return
	}
	if err := g.raft.LeadershipTransfer().Error(); err != nil {
		writeErr(r, fmt.Errorf("%w: leadership transfer: %v", ErrUnavailable, err))
		return
	}
	h.n.log.Warn("test mode: leadership transfer", "group", gid)
	r.WriteSimple("OK")
}
