package jepsen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Nemesis injects one kind of fault: Start begins a fault and describes it,
// Stop ends it (heals). Faults are scheduled on and off during a run.
type Nemesis interface {
	Name() string
	Start(ctx context.Context, c *Cluster) (string, error)
	Stop(ctx context.Context, c *Cluster) (string, error)
}

// NewNemesis returns a nemesis by name: partition, partition-leader,
// majorities-ring, kill, pause, clock, skew-followers, transfer, disk,
// member, member-grow, member-replace (nemesis_member.go), none, and
// (kernel faults, -net netns only) loss and blackhole.
// skew bounds the clock nemesis's offsets.
func NewNemesis(name string, skew time.Duration) (Nemesis, error) {
	switch name {
	case "partition":
		return &partitionNemesis{}, nil
	case "partition-leader":
		return &partitionNemesis{leaderOnly: true}, nil
	case "majorities-ring":
		return ringNemesis{}, nil
	case "kill":
		return &killNemesis{}, nil
	case "pause":
		return &pauseNemesis{}, nil
	case "clock":
		if skew <= 0 {
			return nil, errors.New("clock nemesis needs a positive skew bound")
		}
		return &clockNemesis{skew: skew}, nil
	case "skew-followers":
		return skewFollowersNemesis{behind: 5 * time.Second}, nil
	case "transfer":
		return transferNemesis{}, nil
	case "loss":
		return lossNemesis{}, nil
	case "blackhole":
		return blackholeNemesis{}, nil
	case "disk":
		return &diskNemesis{}, nil // nemesis_disk.go
	case "none":
		return noNemesis{}, nil
	case "member", "member-grow", "member-replace": // nemesis_member.go
		return newMemberNemesis(name), nil
	}
	return nil, fmt.Errorf("unknown nemesis %q (partition, partition-leader, majorities-ring, kill, pause, clock, skew-followers, transfer, disk, member, member-grow, member-replace, none; with -net netns also loss, blackhole)", name)
}

const adminTimeout = time.Second

func live(c *Cluster) []*Node {
	var out []*Node
	for _, n := range c.Nodes {
		if n.Running() && !n.Paused() {
			out = append(out, n)
		}
	}
	return out
}

// leaderOrRandom returns the leader of a random group, or a random node.
func leaderOrRandom(ctx context.Context, c *Cluster) *Node {
	if n := c.Leader(ctx, rand.IntN(len(c.Nodes))); n != nil {
		return n
	}
	return randomNode(c)
}

type noNemesis struct{}

func (noNemesis) Name() string                                    { return "none" }
func (noNemesis) Start(context.Context, *Cluster) (string, error) { return "nothing", nil }
func (noNemesis) Stop(context.Context, *Cluster) (string, error)  { return "nothing", nil }

// ---------------------------------------------------------------- partition

// partitionNemesis cuts links between nodes (cutLinks): on loopback raft
// traffic and forwarding, through the test-mode DEBUG.FAULT hook in each
// node's mux; with a lab (-net netns) every port, gossip included, by
// nftables rules in the nodes' namespaces. Client traffic is not cut:
// clients reach every node, as in a real partition between servers. With
// leaderOnly ("partition-leader") it always isolates a leader.
type partitionNemesis struct{ leaderOnly bool }

func (p partitionNemesis) Name() string {
	if p.leaderOnly {
		return "partition-leader"
	}
	return "partition"
}

func (p partitionNemesis) Start(ctx context.Context, c *Cluster) (string, error) {
	nodes := append([]*Node(nil), c.Nodes...)
	rand.Shuffle(len(nodes), func(i, j int) { nodes[i], nodes[j] = nodes[j], nodes[i] })
	mode := rand.IntN(3)
	if p.leaderOnly {
		mode = 0
	}
	// With a lab, a third of the partitions refuse (resets) and the rest
	// drop silently, as most real partitions do.
	reject := rand.IntN(3) == 0
	how := cutMode(c, reject)
	var cuts []cut
	switch mode {
	case 0, 1:
		var minority []*Node
		desc := "halves"
		if mode == 0 {
			l := leaderOrRandom(ctx, c)
			minority, desc = []*Node{l}, "isolate leader"
		} else {
			minority = nodes[:(len(nodes)-1)/2]
		}
		in := map[*Node]bool{}
		for _, n := range minority {
			in[n] = true
		}
		for _, a := range c.Nodes {
			for _, b := range c.Nodes {
				if in[a] != in[b] {
					cuts = append(cuts, cut{a, b, "both"})
				}
			}
		}
		return fmt.Sprintf("%s (%s): %s | rest", desc, how, ids(minority)), c.cutLinks(ctx, cuts, reject)
	default:
		// One-way: x refuses connections one way with every other node.
		x := leaderOrRandom(ctx, c)
		dir := []string{"in", "out"}[rand.IntN(2)]
		for _, b := range c.Nodes {
			if b != x {
				cuts = append(cuts, cut{x, b, dir})
			}
		}
		return fmt.Sprintf("one-way (%s): %s blocks %s traffic", how, x.ID, dir), c.cutLinks(ctx, cuts, reject)
	}
}

func (partitionNemesis) Stop(ctx context.Context, c *Cluster) (string, error) {
	return "healed", c.healLinks(ctx)
}

// ---------------------------------------------------------------- majorities ring

// ringNemesis is Jepsen's "majorities ring": the nodes are put in a ring in
// random order and each node keeps its links only to the nodes at ring
// distance <= d, where d is the smallest with 2d+1 >= a majority. With 5
// nodes, d = 1: node i sees i-1, i, i+1 (3 of 5, a majority), is cut from
// the two nodes at distance 2, and no two nodes see the same majority. The
// blocks are per pair and both ways (DEBUG.FAULT BLOCK ... both), so the
// partition is not transitive: a and c are cut, but both talk to b. Needs
// at least 5 nodes (with 3, every node already sees everyone).
type ringNemesis struct{}

func (ringNemesis) Name() string { return "majorities-ring" }

// ringCuts returns, for a ring order of n nodes, the pairs (by position)
// that must be cut: ring distance greater than d.
func ringCuts(n int) (d int, cuts [][2]int) {
	maj := n/2 + 1
	d = maj / 2 // 2d+1 >= maj
	for i := range n {
		for j := i + 1; j < n; j++ {
			if dist := min(j-i, n-(j-i)); dist > d {
				cuts = append(cuts, [2]int{i, j})
			}
		}
	}
	return d, cuts
}

func (ringNemesis) Start(ctx context.Context, c *Cluster) (string, error) {
	if len(c.Nodes) < 5 {
		return "nothing", fmt.Errorf("majorities-ring needs at least 5 nodes, have %d", len(c.Nodes))
	}
	ring := append([]*Node(nil), c.Nodes...)
	rand.Shuffle(len(ring), func(i, j int) { ring[i], ring[j] = ring[j], ring[i] })
	_, pairs := ringCuts(len(ring))
	reject := rand.IntN(3) == 0
	var cuts []cut
	var parts []string
	for _, p := range pairs {
		a, b := ring[p[0]], ring[p[1]]
		cuts = append(cuts, cut{a, b, "both"}, cut{b, a, "both"})
		parts = append(parts, a.ID+"-"+b.ID)
	}
	return fmt.Sprintf("ring %s, cut (%s) %s", ids(ring), cutMode(c, reject), strings.Join(parts, " ")), c.cutLinks(ctx, cuts, reject)
}

func (ringNemesis) Stop(ctx context.Context, c *Cluster) (string, error) {
	return partitionNemesis{}.Stop(ctx, c)
}

// ---------------------------------------------------------------- kill

// killNemesis kill -9s a minority, a leader, or every node; Stop restarts
// them from their data directories.
type killNemesis struct{}

func (killNemesis) Name() string { return "kill" }

func (killNemesis) Start(ctx context.Context, c *Cluster) (string, error) {
	var victims []*Node
	var desc string
	switch rand.IntN(4) {
	case 0:
		victims, desc = []*Node{leaderOrRandom(ctx, c)}, "leader"
	case 1:
		victims, desc = append([]*Node(nil), c.Nodes...), "all"
	default:
		nodes := append([]*Node(nil), c.Nodes...)
		rand.Shuffle(len(nodes), func(i, j int) { nodes[i], nodes[j] = nodes[j], nodes[i] })
		victims, desc = nodes[:1+rand.IntN((len(nodes)-1)/2)], "minority"
	}
	var errs []error
	for _, n := range victims {
		errs = append(errs, c.Kill(n))
	}
	return fmt.Sprintf("kill -9 %s: %s", desc, ids(victims)), errors.Join(errs...)
}

func (killNemesis) Stop(ctx context.Context, c *Cluster) (string, error) {
	var started []*Node
	var errs []error
	for _, n := range c.Nodes {
		if !n.Running() {
			errs = append(errs, c.Restart(n))
			started = append(started, n)
		}
	}
	return "restarted " + ids(started), errors.Join(errs...)
}

// ---------------------------------------------------------------- pause

// pauseNemesis SIGSTOPs a node (often a leader) for the fault period,
// longer than the election timeout, then SIGCONTs it.
type pauseNemesis struct{}

func (pauseNemesis) Name() string { return "pause" }

func (pauseNemesis) Start(ctx context.Context, c *Cluster) (string, error) {
	n := leaderOrRandom(ctx, c)
	if rand.IntN(3) == 0 {
		n = randomNode(c)
	}
	if !n.Running() {
		return "nothing to pause", nil
	}
	return "SIGSTOP " + n.ID, c.Pause(n)
}

func (pauseNemesis) Stop(ctx context.Context, c *Cluster) (string, error) {
	var resumed []*Node
	var errs []error
	for _, n := range c.Nodes {
		if n.Paused() {
			errs = append(errs, c.Resume(n))
			resumed = append(resumed, n)
		}
	}
	return "SIGCONT " + ids(resumed), errors.Join(errs...)
}

// ---------------------------------------------------------------- clock

// clockNemesis skews each node's clock (DEBUG.CLOCK OFFSET) by up to
// ±skew, or makes one node's clock jump by ±skew; Stop jumps every clock
// back to true time.
type clockNemesis struct{ skew time.Duration }

func (clockNemesis) Name() string { return "clock" }

func (cn clockNemesis) Start(ctx context.Context, c *Cluster) (string, error) {
	bound := cn.skew.Milliseconds()
	var parts []string
	var errs []error
	nodes := live(c)
	if rand.IntN(2) == 0 && len(nodes) > 0 {
		n := nodes[rand.IntN(len(nodes))]
		off := []int64{-bound, bound}[rand.IntN(2)]
		errs = append(errs, setClock(ctx, c, n, off))
		return fmt.Sprintf("jump %s %+dms", n.ID, off), errors.Join(errs...)
	}
	for _, n := range nodes {
		off := rand.Int64N(2*bound+1) - bound
		errs = append(errs, setClock(ctx, c, n, off))
		parts = append(parts, fmt.Sprintf("%s %+dms", n.ID, off))
	}
	return "skew " + strings.Join(parts, ", "), errors.Join(errs...)
}

func setClock(ctx context.Context, c *Cluster, n *Node, ms int64) error {
	_, err := c.Admin(ctx, n, adminTimeout, "DEBUG.CLOCK", "OFFSET", strconv.FormatInt(ms, 10))
	if err != nil {
		return fmt.Errorf("%s: clock: %w", n.ID, err)
	}
	return nil
}

func (clockNemesis) Stop(ctx context.Context, c *Cluster) (string, error) {
	var errs []error
	for _, n := range live(c) {
		errs = append(errs, setClock(ctx, c, n, 0))
	}
	return "clocks reset", errors.Join(errs...)
}

func ids(ns []*Node) string {
	var s []string
	for _, n := range ns {
		s = append(s, n.ID)
	}
	return "[" + strings.Join(s, " ") + "]"
}

// ---------------------------------------------------------------- skew-followers

// skewFollowersNemesis moves the leadership of every group to one node L
// (DEBUG.TRANSFER until L leads, best effort) and sets every other node's
// clock far behind (5s, far beyond any sane skew bound), so the skewed
// nodes are followers everywhere. A correct follower still hides expired
// sessions once its log clock (L's time, as replicated) passes the
// deadline; a node with DEBUG.UNSAFE EXPIRY on serves them until its own
// clock catches up. Used by the unsafe-expiry self-test, with sweeping and
// leadership balancing slowed down (UnsafeExpiryArgs). Stop resets clocks.
type skewFollowersNemesis struct{ behind time.Duration }

func (skewFollowersNemesis) Name() string { return "skew-followers" }

func (s skewFollowersNemesis) Start(ctx context.Context, c *Cluster) (string, error) {
	l := leaderOrRandom(ctx, c)
	if !l.Running() || l.Paused() {
		return "nothing", nil
	}
	var errs []error
	for gid := range len(c.Nodes) {
		for try := 0; try < 8; try++ {
			cur := c.Leader(ctx, gid)
			if cur == l {
				break
			}
			if cur == nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			_, _ = c.Admin(ctx, cur, 3*time.Second, "DEBUG.TRANSFER", strconv.Itoa(gid))
		}
		if c.Leader(ctx, gid) != l {
			errs = append(errs, fmt.Errorf("group %d: could not move leadership to %s", gid, l.ID))
		}
	}
	var skewed []*Node
	for _, n := range live(c) {
		if n != l {
			errs = append(errs, setClock(ctx, c, n, -s.behind.Milliseconds()))
			skewed = append(skewed, n)
		}
	}
	return fmt.Sprintf("%s leads all groups; clocks of %s %+dms", l.ID, ids(skewed), -s.behind.Milliseconds()), errors.Join(errs...)
}

func (skewFollowersNemesis) Stop(ctx context.Context, c *Cluster) (string, error) {
	return clockNemesis{}.Stop(ctx, c)
}

// ---------------------------------------------------------------- transfer

// transferNemesis asks the leader of every group to hand leadership to
// another node (DEBUG.TRANSFER), under load. Stop has nothing to undo.
type transferNemesis struct{}

func (transferNemesis) Name() string { return "transfer" }

func (transferNemesis) Start(ctx context.Context, c *Cluster) (string, error) {
	var parts []string
	var errs []error
	for gid := range len(c.Nodes) {
		l := c.Leader(ctx, gid)
		if l == nil {
			continue
		}
		if _, err := c.Admin(ctx, l, 3*time.Second, "DEBUG.TRANSFER", strconv.Itoa(gid)); err != nil {
			errs = append(errs, fmt.Errorf("group %d on %s: %w", gid, l.ID, err))
			continue
		}
		parts = append(parts, fmt.Sprintf("g%d from %s", gid, l.ID))
	}
	return "transferred " + strings.Join(parts, ", "), errors.Join(errs...)
}

func (transferNemesis) Stop(context.Context, *Cluster) (string, error) { return "nothing to undo", nil }
