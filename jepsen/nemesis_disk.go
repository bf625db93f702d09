package jepsen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// diskNemesis makes the disks of a minority misbehave through the
// test-mode DEBUG.DISK hook (node/disk_debug.go), one of:
//
//   - full: free space below --min-free-disk. Every node refuses new writes
//     with DISKFULL (the disk alarm is gossiped); reads and deletes go on.
//     The workloads take DISKFULL as an indeterminate failure, which is
//     safe; the checkers must stay green.
//   - slow: every raft log write takes 50-300 ms longer, as a slow fsync.
//   - eio: one node's raft log writes fail with EIO. The node must stop
//     cleanly (exit 1, no panic) and the rest serve on; its exit is
//     expected, not a crash. Stop restarts it (the injection died with
//     the process).
//   - term: one node's saves of raft's term and vote fail with ENOSPC
//     (raft itself would panic), and every group's leadership is
//     transferred so that it must save a new term: it must stop the same
//     way.
//
// Stop heals every node.
type diskNemesis struct{}

func (*diskNemesis) Name() string { return "disk" }

func (*diskNemesis) Start(ctx context.Context, c *Cluster) (string, error) {
	nodes := live(c)
	if len(nodes) == 0 {
		return "no live node", nil
	}
	rand.Shuffle(len(nodes), func(i, j int) { nodes[i], nodes[j] = nodes[j], nodes[i] })
	victims := nodes[:1+rand.IntN(max((len(c.Nodes)-1)/2, 1))]
	var errs []error
	switch rand.IntN(4) {
	case 0:
		for _, n := range victims {
			_, err := c.Admin(ctx, n, adminTimeout, "DEBUG.DISK", "FREE", "0")
			errs = append(errs, err)
		}
		return "disk full (below --min-free-disk) on " + ids(victims), errors.Join(errs...)
	case 1:
		ms := 50 + rand.IntN(250)
		for _, n := range victims {
			_, err := c.Admin(ctx, n, adminTimeout, "DEBUG.DISK", "SLOW", strconv.Itoa(ms))
			errs = append(errs, err)
		}
		return fmt.Sprintf("slow fsync (+%d ms) on %s", ms, ids(victims)), errors.Join(errs...)
	case 2:
		return diskFail(ctx, c, victims[0], "EIO", []string{"FAIL", "EIO"}, nil)
	default:
		// A leadership transfer in every group makes every voter save a
		// new term, the victim included.
		return diskFail(ctx, c, victims[0], "term/vote saves failing (ENOSPC)", []string{"FAIL-TERM", "ENOSPC"}, func() {
			for gid := range len(c.Nodes) {
				if l := c.Leader(ctx, gid); l != nil {
					_, _ = c.Admin(ctx, l, 3*time.Second, "DEBUG.TRANSFER", strconv.Itoa(gid))
				}
			}
		})
	}
}

// diskFail injects a disk failure (DEBUG.DISK args) on n and waits for n
// to stop, as it must; trigger, if not nil, makes it write.
func diskFail(ctx context.Context, c *Cluster, n *Node, what string, args []string, trigger func()) (string, error) {
	what += " on " + n.ID
	c.mu.Lock()
	if c.diskFailed == nil {
		c.diskFailed = map[*Node]bool{}
	}
	c.diskFailed[n] = true
	c.mu.Unlock()
	if _, err := c.Admin(ctx, n, adminTimeout, append([]string{"DEBUG.DISK"}, args...)...); err != nil {
		c.mu.Lock()
		delete(c.diskFailed, n)
		c.mu.Unlock()
		return what, err
	}
	if trigger != nil {
		trigger()
	}
	// The node stops at its next write: heartbeats and clock ticks write
	// the log within a second, an election saves a term.
	deadline := time.Now().Add(30 * time.Second)
	for n.Running() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	if n.Running() {
		return what, fmt.Errorf("%s still runs 30s after its disk writes started failing", n.ID)
	}
	c.dropAdmin(n)
	return what + ": it stopped", nil
}

func (*diskNemesis) Stop(ctx context.Context, c *Cluster) (string, error) {
	var healed, restarted []*Node
	var errs []error
	for _, n := range c.Nodes {
		if !n.Running() {
			errs = append(errs, c.Restart(n))
			restarted = append(restarted, n)
			continue
		}
		if n.Paused() {
			continue
		}
		for _, args := range [][]string{{"FREE", "REAL"}, {"SLOW", "0"}, {"FAIL", "OFF"}} {
			_, err := c.Admin(ctx, n, adminTimeout, append([]string{"DEBUG.DISK"}, args...)...)
			errs = append(errs, err)
		}
		healed = append(healed, n)
	}
	return fmt.Sprintf("disks healed on %s, restarted %s", ids(healed), ids(restarted)), errors.Join(errs...)
}
