package jepsen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// The "member" nemesis does not wait for a quiet cluster: while each
// membership change (a replace, a grow, or the removals that undo them)
// is under way, one more fault hits the original nodes, so that
// configuration changes meet leader changes, lost quorums and partitions
// as they would in production. After a random delay within
// changeFaultDelay (removeFaultDelay for removals, which take well under
// a second on a healthy cluster), the leader of a random group (or a
// random node) is killed with SIGKILL or cut off from every other server,
// new ones included, for changeFaultHold, then restarted or healed. The
// node a replace is rebuilding is spared. The change itself has minutes
// to finish (memberTimeout), so a quorum lost for a few seconds only
// delays it.
const (
	changeFaultDelay = 3 * time.Second
	removeFaultDelay = 300 * time.Millisecond
	changeFaultHold  = 3 * time.Second
)

// withFault runs change; for the "member" nemesis with a fault during it,
// starting within maxDelay (the other membership nemeses run their changes
// on a quiet cluster).
func (m *memberNemesis) withFault(ctx context.Context, c *Cluster, spare *Node, maxDelay time.Duration, change func() (string, error)) (string, error) {
	if m.name != "member" {
		return change()
	}
	f := m.startChangeFault(ctx, c, spare, maxDelay)
	desc, err := change()
	close(f.done)
	<-f.finished
	return desc + "; during it: " + f.desc, errors.Join(err, f.err)
}

type changeFault struct {
	done     chan struct{} // closed when the change has ended
	finished chan struct{} // closed when the fault is healed
	desc     string
	err      error
}

func (m *memberNemesis) startChangeFault(ctx context.Context, c *Cluster, spare *Node, maxDelay time.Duration) *changeFault {
	f := &changeFault{done: make(chan struct{}), finished: make(chan struct{})}
	delay := rand.N(maxDelay)
	go func() {
		defer close(f.finished)
		select {
		case <-f.done:
			f.desc = "nothing (the change was over first)"
			return
		case <-time.After(delay):
		}
		f.desc, f.err = m.changeFault(ctx, c, spare, delay)
	}()
	return f
}

// changeFault injects and heals one fault (see above).
func (m *memberNemesis) changeFault(ctx context.Context, c *Cluster, spare *Node, delay time.Duration) (string, error) {
	var cands []*Node
	for _, n := range live(c) {
		if n != spare {
			cands = append(cands, n)
		}
	}
	if len(cands) == 0 {
		return "nothing (no live node to fault)", nil
	}
	target, what := cands[rand.IntN(len(cands))], "a random node"
	gid := rand.IntN(len(c.Nodes))
	if l := c.Leader(ctx, gid); l != nil && l != spare {
		target, what = l, fmt.Sprintf("leader of g%d", gid)
	}
	at := fmt.Sprintf("at +%.1fs for %v", delay.Seconds(), changeFaultHold)
	if rand.IntN(2) == 0 {
		if err := c.Kill(target); err != nil {
			return "", err
		}
		wait(ctx, changeFaultHold)
		return fmt.Sprintf("kill -9 %s (%s) %s, restarted", target.ID, what, at), c.Restart(target)
	}
	var cuts []cut
	for _, p := range append(append([]*Node(nil), c.Nodes...), m.extra()...) {
		if p != target && p.Running() {
			cuts = append(cuts, cut{on: target, peer: p, dir: "both"})
		}
	}
	reject := rand.IntN(3) == 0
	err := c.cutLinks(ctx, cuts, reject)
	wait(ctx, changeFaultHold)
	desc := fmt.Sprintf("isolate %s (%s, %s) %s, healed", target.ID, what, cutMode(c, reject), at)
	return desc, errors.Join(err, c.healLinks(ctx))
}
