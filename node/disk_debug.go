package node

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

const debugDiskSyntax = "DEBUG.DISK FREE bytes|REAL | FAIL ENOSPC|EIO|OFF | FAIL-TERM ENOSPC|EIO | SLOW ms | STATUS"

// debugDisk answers the test-mode DEBUG.DISK command (disk.go):
//
//	DEBUG.DISK FREE bytes|REAL   pretend the data directory has bytes free (REAL: measure again)
//	DEBUG.DISK FAIL ENOSPC|EIO   every later raft log write and term/vote save fails so (the node stops, as on a real failure)
//	DEBUG.DISK FAIL-TERM ENOSPC|EIO  only saves of raft's term and vote fail (stablestore.go)
//	DEBUG.DISK FAIL OFF          writes succeed again
//	DEBUG.DISK SLOW ms           every raft log write takes ms longer (0: off), as a slow fsync
//	DEBUG.DISK STATUS            [alarm 0|1, free bytes, fault or "", slow ms]
//
// FREE takes effect at once (the check runs here, not on the next tick).
func (h *handler) debugDisk(q request) {
	n, r, args := h.n, q.r, q.args
	sub := strings.ToUpper(string(args[1]))
	arg := ""
	if len(args) > 2 {
		arg = strings.ToUpper(string(args[2]))
	}
	bad := func() {
		writeErr(r, fmt.Errorf("%w: syntax: %s", ErrBadArg, debugDiskSyntax))
	}
	switch {
	case sub == "FREE" && arg == "REAL":
		n.disk.fakeFree.Store(-1)
		n.checkDisk()
	case sub == "FREE" && arg != "":
		b, err := strconv.ParseInt(arg, 10, 64)
		if err != nil || b < 0 {
			bad()
			return
		}
		n.disk.fakeFree.Store(b)
		n.checkDisk()
	case sub == "FAIL" && arg == "OFF":
		n.disk.fault.Store(nil)
		n.disk.termFault.Store(nil)
	case sub == "FAIL" && diskFaults[arg] != nil:
		e := diskFaults[arg]
		n.disk.fault.Store(&e)
		n.disk.termFault.Store(&e)
	case sub == "FAIL-TERM" && diskFaults[arg] != nil:
		e := diskFaults[arg]
		n.disk.termFault.Store(&e)
	case sub == "SLOW" && arg != "":
		ms, err := strconv.Atoi(arg)
		if err != nil || ms < 0 {
			bad()
			return
		}
		n.disk.slowSync.Store(int64(time.Duration(ms) * time.Millisecond))
	case sub == "STATUS" && arg == "":
		fault := ""
		if e := n.disk.fault.Load(); e != nil {
			fault = (*e).Error()
		} else if e := n.disk.termFault.Load(); e != nil {
			fault = "term: " + (*e).Error()
		}
		r.WriteArrayLen(4)
		if n.disk.low.Load() {
			r.WriteInt(1)
		} else {
			r.WriteInt(0)
		}
		r.WriteInt(int64(n.disk.free.Load()))
		r.WriteBulkString(fault)
		r.WriteInt(n.disk.slowSync.Load() / int64(time.Millisecond))
		return
	default:
		bad()
		return
	}
	r.WriteSimple("OK")
}
