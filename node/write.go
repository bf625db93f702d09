package node

import (
	"context"
	"fmt"
	"time"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/transport/resp"
)

// proposal is one client command waiting to be packed into a raft entry.
// Its outcome goes to done, or, for a write whose reply is deferred
// (writenow.go), to w, on the batch's goroutine.
type proposal struct {
	// cmd is the command; it stays unchanged until the proposal finishes,
	// and is never nil (the batcher encodes it). It points into whatever
	// owns the proposal (a pendingWrite, or propose's ownedProposal), so
	// a write makes one allocation for both.
	cmd  *fsm.Command
	size int
	done chan proposalResult // buffered(1): the batcher never blocks on it
	w    *pendingWrite
}

// finish hands the proposal its outcome. b collects deferred replies so
// that a batch's are written together (nil: each is handed on alone).
func (p *proposal) finish(r proposalResult, b *resp.DoneBatch) {
	if p.w != nil {
		p.w.settle(r, b)
		return
	}
	p.done <- r
}

type proposalResult struct {
	res fsm.Result
	err error
}

// ownedProposal is a proposal together with the command it points to.
type ownedProposal struct {
	p   proposal
	cmd fsm.Command
}

// propose submits cmd to this node's batcher for the group and waits for its
// result. It fails with ErrNotLeader (nothing applied) unless this node
// leads the group. Once handed to the batcher, a cancelled ctx or lost
// leadership yields ErrIndeterminate: the entry may still commit.
func (g *group) propose(ctx context.Context, cmd fsm.Command, size int) (fsm.Result, error) {
	if !g.isLeader() {
		return fsm.Result{}, ErrNotLeader
	}
	release, err := g.n.admitWrite(&cmd, size)
	if err != nil {
		return fsm.Result{}, err
	}
	defer release()
	op := &ownedProposal{cmd: cmd}
	op.p = proposal{cmd: &op.cmd, size: size, done: make(chan proposalResult, 1)}
	p := &op.p
	select {
	case <-g.batchStopped:
		return fsm.Result{}, fmt.Errorf("%w: shutting down", ErrNotLeader)
	case g.proposeCh <- p:
	case <-ctx.Done():
		return fsm.Result{}, fmt.Errorf("%w: write queue full: %v", ErrUnavailable, ctx.Err())
	}
	select {
	case r := <-p.done:
		return r.res, r.err
	case <-ctx.Done():
		return fsm.Result{}, fmt.Errorf("%w: %v while waiting for commit", ErrIndeterminate, ctx.Err())
	}
}

// batchLoop is the application-level group commit. Raft's own batching tops
// out at a few thousand entries per second on small machines because every
// entry costs a log append; packing all commands that are waiting into one
// entry makes the cost per command shrink as load grows.
//
// It is adaptive: a command that finds fewer than PipelinedEntries
// entries in flight is proposed at once (one client waits no longer than
// raft takes), but otherwise the batch keeps filling until one of them
// finishes, and only a full batch (MaxBatchCmds or MaxBatchBytes) is
// proposed beside them, up to MaxInflightApplies entries. Under load this
// makes a few large entries per commit round instead of many small ones:
// with 32 entries allowed in flight, 64 clients put about one command in
// each, and the rounds of fsyncs and AppendEntries per command doubled
// (docs/benchmarks.md, round 5). A command that finds the slot free may
// still wait, briefly, for the writers the last entry answered
// (BatchLinger, batchlinger.go).
func (g *group) batchLoop(ctx context.Context) {
	cfg := &g.n.cfg
	defer close(g.batchStopped)
	var lg lingerState
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	defer linger.Stop()
	for {
		var first *proposal
		select {
		case <-ctx.Done():
			g.failQueued(ErrShutdown)
			return
		case first = <-g.proposeCh:
		}
		batch := []*proposal{first}
		bytes := first.size
		lg.startBatch()
		lg.arrived(&g.lastDone)
		add := func(p *proposal) {
			batch = append(batch, p)
			bytes += p.size
			lg.arrived(&g.lastDone)
		}
		full := func() bool { return len(batch) >= cfg.MaxBatchCmds || bytes >= cfg.MaxBatchBytes }
		for {
		drain:
			for !full() {
				select {
				case p := <-g.proposeCh:
					add(p)
				default:
					break drain
				}
			}
			if full() {
				break
			}
			// Entries are in flight: collect until one finishes. Or a
			// slot is free: go, unless the writers the last entry
			// answered are still on their way back (batchlinger.go), and
			// collect until they are or the linger is over.
			var lingerOver <-chan time.Time // nil: no linger
			if len(g.inflight) < min(cfg.PipelinedEntries, cap(g.inflight)) {
				wait, starts, expired := lg.wait(&g.lastDone, cfg.BatchLinger, g.n.monoNow())
				if expired {
					g.lingersExpired.Add(1)
				}
				if wait <= 0 {
					break
				}
				if starts {
					g.lingers.Add(1)
				}
				linger.Reset(wait)
				lingerOver = linger.C
			}
			select {
			case <-lingerOver:
			case <-g.settled:
			case p := <-g.proposeCh:
				add(p)
			case <-ctx.Done():
				g.abandon(batch)
				return
			}
			if lingerOver != nil {
				linger.Stop()
			}
		}
		// A full batch may still have to wait for a slot; more proposals
		// queue meanwhile and go into the next one.
		select {
		case g.inflight <- struct{}{}:
		case <-ctx.Done():
			g.abandon(batch)
			return
		}
		g.submit(batch)
	}
}

// abandon answers batch, which was never proposed, and every proposal
// still queued, at shutdown: none was applied.
func (g *group) abandon(batch []*proposal) {
	for _, p := range batch {
		p.finish(proposalResult{err: fmt.Errorf("%w: shutting down", ErrNotLeader)}, nil)
	}
	g.failQueued(ErrShutdown)
}

// failQueued answers proposals still queued at shutdown; none was proposed
// to raft, so they were certainly not applied.
func (g *group) failQueued(err error) {
	for {
		select {
		case p := <-g.proposeCh:
			p.finish(proposalResult{err: fmt.Errorf("%w: %v", ErrNotLeader, err)}, nil)
		default:
			return
		}
	}
}

func (g *group) submit(batch []*proposal) {
	// FlagForgetFailures: a failed command does not take a dedup entry,
	// so a retry with the same REQID runs again (and failures cannot fill
	// the table). Replicas of an older version refuse the entry rather
	// than apply it differently, so it is set only once every server of
	// the group says it understands it (envelopegate.go).
	data := fsm.EncodeCommands(g.n.now(), g.batchFlags(), len(batch), func(i int) *fsm.Command { return batch[i].cmd })
	start := g.n.monoNow()
	f := g.raft.Apply(data, time.Second)
	g.n.admin.met.Batch(len(batch), len(data))
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		err := f.Error()
		if err == nil {
			// Published before the slot frees, so that the batcher, which
			// may take the slot at once, already counts from this entry.
			// (A failed entry's writers are told to go elsewhere.)
			now := g.n.monoNow()
			g.lastDone.Store(&entryDone{cmds: len(batch), at: now, took: now - start})
		}
		<-g.inflight
		select {
		case g.settled <- struct{}{}:
		default: // the batcher has a wake-up pending already
		}
		// Deferred replies of the batch are written together, once per
		// connection (resp.DoneBatch).
		var answered resp.DoneBatch
		defer answered.Flush()
		if err != nil {
			err = translateApplyErr(err)
			for _, p := range batch {
				p.finish(proposalResult{err: err}, &answered)
			}
			return
		}
		results, ok := f.Response().([]fsm.Result)
		if !ok || len(results) != len(batch) {
			err := fmt.Errorf("%w: state machine returned %T for a batch of %d", ErrIndeterminate, f.Response(), len(batch))
			for _, p := range batch {
				p.finish(proposalResult{err: err}, &answered)
			}
			return
		}
		for i, p := range batch {
			p.finish(proposalResult{res: results[i]}, &answered)
		}
	}()
}

// write runs cmd in group gid: locally when this node leads the group,
// otherwise forwarded to the leader in one hop. It retries, until ctx ends,
// only errors that guarantee the command was not applied.
func (n *Node) write(ctx context.Context, gid int, cmd fsm.Command) (fsm.Result, error) {
	g, err := n.group(gid)
	if err != nil {
		return fsm.Result{}, err
	}
	// Refuse what the state machine would refuse anyway before it costs a
	// raft round (and before a huge entry can slow the group down); the
	// leader checks a forwarded command the same way (handleRPC).
	size := commandSize(&cmd)
	if err := n.cfg.checkCommand(&cmd, size); err != nil {
		return fsm.Result{}, err
	}
	// The disk alarm (disk.go) refuses what adds data; what removes it,
	// and touches (which keep idle sessions alive), go on, as under the
	// memory quota (addsData, memlimit.go).
	if addsData(&cmd) {
		if err := n.checkWriteSpace(); err != nil {
			return fsm.Result{}, err
		}
	}
	var res fsm.Result
	err = n.retryUnapplied(ctx, func() (err error) {
		res, err = n.writeAttempt(ctx, g, cmd, size)
		return err
	})
	if err != nil {
		return fsm.Result{}, err
	}
	return res, nil
}

// writeAttempt is one try of write: propose locally when this node leads
// the group, otherwise forward to the leader.
func (n *Node) writeAttempt(ctx context.Context, g *group, cmd fsm.Command, size int) (fsm.Result, error) {
	if g.isLeader() {
		return g.propose(ctx, cmd, size)
	}
	if addr, _ := g.leaderAddr(); addr != "" {
		return n.forwardWrite(ctx, addr, g.id, &cmd)
	}
	return fsm.Result{}, fmt.Errorf("%w: group %d has no leader", ErrUnavailable, g.id)
}

// commandSize is a command's encoded size in a raft entry, for
// MaxBatchBytes (the fsm's command table knows each type's encoding).
func commandSize(c *fsm.Command) int {
	return fsm.EncodedSize(c)
}
