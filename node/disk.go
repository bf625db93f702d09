package node

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/raft"
)

// The disk budget (issue 13). Three parts:
//
//   - The free-space guard: every DiskCheckInterval the node reads the free
//     space of the file system under DataDir (one statfs). Below
//     MinFreeDisk (bytes, or a share of the file system) it raises a disk
//     alarm, gossiped to every member like etcd's NOSPACE alarm, and while
//     any alive member has it raised every node refuses new client writes
//     with DISKFULL. Reads go on; internal entries (leader barriers, expiry
//     sweeps, clock ticks) go on too, so sessions still expire. Refusing
//     everywhere, not only on the full node, matters: the full node is a
//     follower of groups led elsewhere, and writes accepted there would
//     fill it through replication. The alarm clears by itself when space
//     returns above the threshold plus a margin (no flapping).
//   - The raft log bounded in bytes (logsize.go): a group snapshots when
//     its log since the last snapshot is over SnapshotLogBytes, or the
//     whole log over MaxLogBytes, and keeps trailing entries of at most
//     TrailingLogBytes.
//   - A disk that fails: raftwal stops the node on a failed write or sync
//     (Options.OnFailure: the node shuts down cleanly, exit code 1), and
//     so does a failed save of raft's term or vote (stablestore.go: raft
//     itself would panic); in test mode DEBUG.DISK FAIL makes a group's
//     log and stable stores fail as a full or broken disk would, for the
//     jepsen disk nemesis.

// minMaxLogBytes is the smallest MaxLogBytes: eight of raftwal's 64 MiB
// segments, so that half the budget of trailing entries plus the segments
// a compaction cannot drop yet fit in it.
const minMaxLogBytes = 512 << 20

// diskState is the node's view of its disk.
type diskState struct {
	low  atomic.Bool   // this node's alarm
	free atomic.Uint64 // the last reading, bytes
	// fakeFree, in test mode, replaces the statfs reading when >= 0.
	fakeFree atomic.Int64
	// fault, in test mode, is the error the log stores return for every
	// write (ENOSPC, EIO), or nil; termFault the error every save of
	// raft's term or vote returns (stablestore.go). FAIL sets both.
	fault, termFault atomic.Pointer[error]
	// slowSync, in test mode, delays every log write, as a slow fsync.
	slowSync atomic.Int64
}

// ErrDiskFull (in errors.go's block through errTable) is what writes get
// while a disk alarm is raised.

// ParseMinFreeDisk reads a --min-free-disk value: a byte size ("512MiB",
// "2GB", "1073741824") or a percentage of the file system ("5%"). "0"
// turns the guard off.
func ParseMinFreeDisk(s string) (bytes uint64, percent float64, err error) {
	s = strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || f < 0 || f >= 100 {
			return 0, 0, fmt.Errorf("%q: a percentage must be in [0, 100)", s)
		}
		return 0, f, nil
	}
	b, err := parseByteSize(s)
	return b, 0, err
}

// parseByteSize reads "123", "64KiB", "512MiB", "2GiB", "1TB", ...
func parseByteSize(s string) (uint64, error) {
	units := []struct {
		suffix string
		mult   uint64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}, {"B", 1},
	}
	num, mult := s, uint64(1)
	for _, u := range units {
		if strings.HasSuffix(strings.ToUpper(s), strings.ToUpper(u.suffix)) {
			num, mult = strings.TrimSpace(s[:len(s)-len(u.suffix)]), u.mult
			break
		}
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || (mult > 1 && n > (1<<64-1)/mult) {
		return 0, fmt.Errorf("%q: want a byte size such as 512MiB, 2GB or 1073741824, or a percentage such as 5%%", s)
	}
	return n * mult, nil
}

// minFree is the threshold in bytes for a file system of total bytes.
func (c *Config) minFree(total uint64) uint64 {
	return max(c.MinFreeDisk, uint64(c.MinFreeDiskPercent/100*float64(total)))
}

// diskGuardOn reports whether the free-space guard runs.
func (c *Config) diskGuardOn() bool { return c.MinFreeDisk > 0 || c.MinFreeDiskPercent > 0 }

// diskLoop runs the free-space guard. The logs' byte bounds run on a
// loop of their own (logsize.go): a snapshot they wait for must not
// blind the guard.
func (n *Node) diskLoop(ctx context.Context) {
	t := time.NewTicker(n.cfg.DiskCheckInterval)
	defer t.Stop()
	for {
		n.checkDisk()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkDisk reads the free space and raises or clears the alarm.
func (n *Node) checkDisk() {
	if !n.cfg.diskGuardOn() {
		return
	}
	free, total, err := fsSpace(n.cfg.DataDir)
	if err != nil {
		n.log.Warn("cannot read free disk space; the disk guard keeps its last verdict", "dir", n.cfg.DataDir, "err", err)
		return
	}
	if f := n.disk.fakeFree.Load(); n.cfg.TestMode && f >= 0 {
		free = uint64(f)
	}
	n.disk.free.Store(free)
	limit := n.cfg.minFree(total)
	// Clear only above the limit plus a margin, so a node hovering at the
	// threshold does not flap.
	clearAt := limit + limit/10
	was := n.disk.low.Load()
	switch {
	case !was && free < limit:
		n.disk.low.Store(true)
		n.log.Error("free disk space below --min-free-disk: the cluster refuses new writes (DISKFULL) until space returns; reads go on",
			"dir", n.cfg.DataDir, "free_bytes", free, "min_free_bytes", limit)
		n.setDiskLow(true)
	case was && free >= clearAt:
		n.disk.low.Store(false)
		n.log.Warn("free disk space is back above --min-free-disk: writes resume", "dir", n.cfg.DataDir, "free_bytes", free, "min_free_bytes", limit)
		n.setDiskLow(false)
	}
}

// setDiskLow gossips this node's alarm.
func (n *Node) setDiskLow(low bool) {
	n.mu.Lock()
	n.self.DiskLow = low
	n.mu.Unlock()
	if n.ml != nil {
		if err := n.ml.UpdateNode(time.Second); err != nil {
			n.log.Debug("gossip disk alarm", "err", err)
		}
	}
}

// diskAlarm returns the id of a node whose disk alarm is raised (this one
// first), or "".
func (n *Node) diskAlarm() string {
	if n.disk.low.Load() {
		return n.cfg.ID
	}
	if id := n.diskLowPeer.Load(); id != nil {
		return *id
	}
	return ""
}

// checkWriteSpace refuses a client write while a disk alarm is raised.
func (n *Node) checkWriteSpace() error {
	if id := n.diskAlarm(); id != "" {
		return fmt.Errorf("%w: node %s is below --min-free-disk", ErrDiskFull, id)
	}
	return nil
}

// faultyLog is a group's log store in test mode: DEBUG.DISK FAIL makes
// its writes fail as a full (ENOSPC) or broken (EIO) disk would, and
// DEBUG.DISK SLOW delays them as a slow fsync would. Reads are untouched.
//
// A failed write takes the path a real one takes in raftwal: the node's
// failure hook (the node stops cleanly) and the error to raft.
type faultyLog struct {
	raft.LogStore
	d         *diskState
	onFailure func(error)
}

func (f faultyLog) inject() error {
	if d := f.d.slowSync.Load(); d > 0 {
		time.Sleep(time.Duration(d))
	}
	if e := f.d.fault.Load(); e != nil {
		err := &pathError{err: *e}
		f.onFailure(err)
		return err
	}
	return nil
}

// pathError names the injected fault the way the OS would.
type pathError struct {
	op  string // "" is "write raft log"
	err error
}

func (e *pathError) Error() string {
	op := e.op
	if op == "" {
		op = "write raft log"
	}
	return op + ": " + e.err.Error() + " (injected by DEBUG.DISK)"
}
func (e *pathError) Unwrap() error { return e.err }

func (f faultyLog) StoreLog(l *raft.Log) error {
	if err := f.inject(); err != nil {
		return err
	}
	return f.LogStore.StoreLog(l)
}

func (f faultyLog) StoreLogs(ls []*raft.Log) error {
	if err := f.inject(); err != nil {
		return err
	}
	return f.LogStore.StoreLogs(ls)
}

// termErr is the test-mode fault for saves of raft's term and vote.
func (d *diskState) termErr() error {
	if e := d.termFault.Load(); e != nil {
		return *e
	}
	return nil
}

// diskFaults are the errors DEBUG.DISK FAIL injects, by name.
var diskFaults = map[string]error{"ENOSPC": syscall.ENOSPC, "EIO": syscall.EIO}
