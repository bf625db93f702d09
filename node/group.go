package node

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/fsm"
)

// group is one raft group on this node: its stores, raft instance, state
// machine, write batcher and read verifier.
type group struct {
	id    int
	n     *Node
	fsm   *fsm.FSM
	rfsm  *raftFSM
	raft  *raft.Raft
	layer groupLayer // transport, stores and peer RPC (grouplayer.go)
	// logSize is the log-size loop's state for this group (logsize.go).
	logSize logSizeState

	proposeCh chan *proposal
	inflight  chan struct{}             // semaphore of raft entries in flight
	settled   chan struct{}             // cap 1: an entry in flight has finished (write.go's batcher waits on it)
	lastDone  atomic.Pointer[entryDone] // the last entry to finish, for the batcher's linger (batchlinger.go)
	// batchStopped is closed when the batcher has exited: proposals are
	// refused from then on instead of waiting for an answer that never
	// comes.
	batchStopped  chan struct{}
	wg            sync.WaitGroup
	verifier      verifier
	followerReads verifier  // a follower's linearizable reads share read-index requests (followerread.go)
	rounds        roundGate // counts the verifiers' rounds in wg (verifier.go)
	// readIndexWaiting counts the rpcReadIndex requests this node, as
	// leader, holds for a round (bounded by maxReadIndexWaiting).
	readIndexWaiting atomic.Int64
	notifyCh         chan bool

	mu sync.Mutex
	// epoch counts leadership acquisitions. ready is true once the barrier
	// of the current leadership epoch has been applied: only then does the
	// commit index cover every entry of earlier terms, so reads may use it.
	epoch     uint64
	leader    bool
	ready     bool
	readyTerm uint64        // raft term in which the barrier was applied
	readyCh   chan struct{} // closed when ready becomes true for epoch
	// lastTransfer rate-limits leadership balancing.
	lastTransfer time.Time

	// readRounds counts the linearizable read rounds this node ran as
	// leader; readFallbacks those whose term poll did not reach a majority
	// and committed an empty entry instead (leadercheck.go). Shown by INFO:
	// a steady share of fallbacks means slow reads and a peer that does
	// not answer polls (partitioned, overloaded, or an older version).
	readRounds, readFallbacks atomic.Uint64
	// readIndexByTerm counts the read-index requests this node, as
	// leader, answered on the follower's term, without a round.
	readIndexByTerm atomic.Uint64
	// lingers counts the entries whose batch waited for the writers the
	// entry before answered, lingersExpired those that stopped waiting
	// when BatchLinger or half a commit time was over (batchlinger.go).
	lingers, lingersExpired atomic.Uint64
	// cycleFallbacks counts this node's read rounds that a read cycle
	// could not settle and that ran the single-part way (readcycles.go).
	cycleFallbacks atomic.Uint64
	// readIndexPlainUntil: until then (unix ns) this node, as follower,
	// sends its read-index requests without its term (an older leader
	// refused one; followerread.go).
	readIndexPlainUntil atomic.Int64

	// pollFirst is the voter that last answered a term poll: the next
	// poll asks it first (pollTerms asks only a majority).
	pollFirst atomic.Pointer[raft.ServerID]
	// flagsOK: every server of the configuration understands entries
	// with batch flags (envelopegate.go).
	flagsOK atomic.Bool
}

// maxUncollectedLog bounds the garbage a group's startup may leave for the
// collector to take after its pause (see newGroup).
const maxUncollectedLog = 256 << 20

// openGroups opens the node's groups all at once, each on its disk layer.
// raft.NewRaft restores a group's latest snapshot before it returns, so
// opened one after another a restart took the sum of the restores (with a
// million sessions, three restores of about 4 s each); together they take
// about the longest one when there are cores for them. A group not yet
// opening when ctx ends is not opened; one already restoring finishes
// first. On failure every group that did open is closed again.
func openGroups(ctx context.Context, n *Node, count int) ([]*group, error) {
	groups := make([]*group, count)
	errs := make([]error, count)
	var wg sync.WaitGroup
	for i := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ctx.Err(); err != nil {
				errs[i] = err
				return
			}
			groups[i], errs[i] = openGroup(n, i)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, g := range groups {
			if g != nil {
				_ = g.close()
			}
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, err
	}
	return groups, nil
}

// openGroup opens group id on its disk layer.
func openGroup(n *Node, id int) (*group, error) {
	layer, err := n.diskLayer(id)
	if err != nil {
		return nil, fmt.Errorf("group %d: %w", id, err)
	}
	return newGroup(n, id, layer)
}

// newGroup starts raft for group id on layer, which it owns from then on:
// closed with the group, or at once if raft does not start. The group's
// loops start with run.
func newGroup(n *Node, id int, layer groupLayer) (*group, error) {
	cfg := &n.cfg
	g := &group{
		id:           id,
		n:            n,
		layer:        layer,
		fsm:          fsm.New(cfg.Limits),
		proposeCh:    make(chan *proposal, 4096),
		inflight:     make(chan struct{}, cfg.MaxInflightApplies),
		settled:      make(chan struct{}, 1),
		notifyCh:     make(chan bool, 16),
		batchStopped: make(chan struct{}),
		readyCh:      make(chan struct{}),
	}
	g.rounds.wg = &g.wg
	g.verifier = verifier{
		round:   func() (uint64, error) { return 0, g.confirmLeadership() }, // leadercheck.go
		start:   g.startLeaderRound,
		cycles:  &n.cycles,
		timeout: cfg.RequestTimeout,
		gate:    &g.rounds,
	}
	g.followerReads = verifier{
		round:   g.readIndexFromLeader, // followerread.go
		start:   g.startFollowerRound,
		cycles:  &n.cycles,
		timeout: cfg.RequestTimeout,
		gate:    &g.rounds,
	}
	g.rfsm = newRaftFSM(g.fsm, id, n.fatal)
	g.rfsm.onSnapshot = n.admin.met.SnapshotFunc(strconv.Itoa(id))
	// The consumers of the group's one fsm.Notify (raftFSM.notify):
	// keyspace notifications (keyspace.go) and client-side caching
	// (tracking.go), which also flushes when a snapshot replaces the state.
	g.rfsm.events = &n.ps
	g.rfsm.tracked = func(evs []fsm.Event) { n.trk.applied(id, evs) }
	g.rfsm.replaced = func() { n.trk.replaced(id) }
	g.rfsm.installedIndex = func() uint64 { return newestSnapshotIndex(layer.snaps) }

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.Logger = n.hclogger(fmt.Sprintf("raft-g%d", id))
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.CommitTimeout = cfg.CommitTimeout
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.TrailingLogs = cfg.TrailingLogs
	rc.NotifyCh = g.notifyCh
	rc.BatchApplyCh = true
	rc.MaxAppendEntries = maxAppendEntries
	rc.NoLegacyTelemetry = true // per-peer metric names; the labelled ones stay

	// raft.NewRaft restores the latest snapshot (with the collector
	// paused: raftFSM.Restore), then reads every log entry after it, all
	// garbage. Collecting during that read re-marks the whole restored
	// state for some megabytes of garbage: with a million sessions, a
	// restart with the pause over all of NewRaft served 0.4-0.8 s sooner
	// (9.1-10.0 s against 9.7-10.8 s, two interleaved pairs of runs, about
	// ±0.5 s of noise). So the pause covers the read too when what it can
	// leave uncollected, the log's bytes, is small (the layer says).
	var resume func()
	if layer.pauseGCOpen {
		resume = pauseGC()
	}
	// Raft traffic waits for the cluster to admit this data directory
	// (membership.go).
	gate := newGateTransport(layer.trans, func() bool { return n.ident.admitted.Load() && !n.ident.removed.Load() })
	gated := layer
	gated.trans = gate
	r, err := newRaftNoPanic(rc, g.rfsm, gated)
	if resume != nil {
		resume()
	}
	if err != nil {
		_ = gate.Close()
		// A log that does not reach the restored state is the likeliest
		// cause, and needs the clearest message (snapshotcheck.go).
		if gap := g.checkLogReachesState(); gap != nil {
			err = gap
		} else {
			err = fmt.Errorf("group %d: start raft: %w", id, err)
		}
		_ = g.layer.close()
		return nil, err
	}
	g.rfsm.opening.Store(false) // later restores are installed snapshots
	g.raft = r
	// The state machine's own applied index counts commands only, so a
	// snapshot whose last entries were configuration changes restores
	// it short of the snapshot's index. Raft counts that snapshot as
	// applied up to its index; so does this node, or the checks below
	// would take the snapshot just restored for a damaged one, move it
	// aside and, at the next start, find the log compacted past the
	// older one (a 10-minute jepsen run with the member nemesis did).
	restored := lastSnapshotIndex(r) // snapshotcheck.go
	g.rfsm.advance(restored)
	if err := g.checkLogReachesState(); err != nil { // snapshotcheck.go
		_ = g.close()
		return nil, err
	}
	g.quarantineSnapshots(restored)
	return g, nil
}

// hasState reports whether this group has ever been bootstrapped or joined.
func (g *group) hasState() (bool, error) {
	return raft.HasExistingState(g.layer.logs, g.layer.stable, g.layer.snaps)
}

// run starts the group's background loops; they stop when ctx is
// cancelled. Every goroutine that waits on a raft future is tracked by
// g.wg: raft leaves futures unanswered once it is shut down, so the node
// cancels ctx and waits for all of them before raft.Shutdown.
func (g *group) run(ctx context.Context) {
	g.wg.Add(3)
	go func() { defer g.wg.Done(); g.leadershipLoop(ctx) }()
	go func() { defer g.wg.Done(); g.batchLoop(ctx) }()
	go func() { defer g.wg.Done(); g.maintenanceLoop(ctx) }()
}

// leadershipLoop follows raft's leadership notifications. On gaining
// leadership it applies an empty batch as a barrier: once that entry is
// applied, every entry of earlier terms is too, and the commit index may be
// used as a read index (the "barrier once per term" of the read path).
func (g *group) leadershipLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case isLeader := <-g.notifyCh:
			g.mu.Lock()
			g.epoch++
			epoch := g.epoch
			g.leader = isLeader
			if g.ready {
				g.ready = false
				g.readyCh = make(chan struct{})
			}
			g.mu.Unlock()
			if isLeader {
				g.wg.Add(1)
				go func() { defer g.wg.Done(); g.barrier(ctx, epoch) }()
			}
		}
	}
}

func (g *group) barrier(ctx context.Context, epoch uint64) {
	g.refreshEnvelopeGate()     // before the first write of this leadership
	var transferSince time.Time // first refusal in a row for a transfer
	for ctx.Err() == nil {
		// The term is read before the barrier is proposed: a barrier
		// applied in term T makes this node ready in T only, and if
		// raft stepped down and was elected again while it waited (the
		// notification not drained yet), the term after the Apply could
		// name a term whose barrier this node never applied.
		term := g.raft.CurrentTerm()
		f := g.raft.Apply(fsm.EncodeBatch(&fsm.Batch{Time: g.n.now()}), g.n.cfg.RequestTimeout)
		err := f.Error() // raft is shut down only after this goroutine ends
		g.mu.Lock()
		if g.epoch != epoch || !g.leader {
			g.mu.Unlock()
			return
		}
		if err == nil && g.raft.CurrentTerm() != term {
			g.mu.Unlock()
			continue // the term moved under the barrier: propose another
		}
		if err == nil {
			g.ready = true
			g.readyTerm = term
			close(g.readyCh)
			g.mu.Unlock()
			g.n.log.Info("group leader ready", "group", g.id, "index", f.Index())
			return
		}
		g.mu.Unlock()
		g.n.log.Warn("leader barrier failed", "group", g.id, "err", err)
		if !errors.Is(err, raft.ErrLeadershipTransferInProgress) {
			transferSince = time.Time{}
		} else if transferSince.IsZero() {
			transferSince = time.Now()
		} else if time.Since(transferSince) > g.stuckTransferAfter() {
			// hashicorp/raft#696 (open in v1.8.0): a transfer whose
			// leader lost leadership while waiting for the target's
			// replication never clears raft's flag, and a node that
			// leads again with it set refuses every write for good,
			// while its heartbeats keep the others from electing
			// anyone else. Only a restart clears it; stopping lets a
			// supervisor restart the node and the others take over.
			g.n.fatal(fmt.Errorf("group %d: this node leads the group but raft has refused every write for %s with %q (hashicorp/raft#696); stopping so a restart clears it",
				g.id, time.Since(transferSince).Round(time.Second), err))
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// isLeader reports raft's own view, which is the authority for proposals.
func (g *group) isLeader() bool { return g.raft.State() == raft.Leader }

// waitReady waits until this node leads the group and its term barrier is
// applied, returning the epoch it is ready in.
func (g *group) waitReady(ctx context.Context) (uint64, error) {
	for {
		g.mu.Lock()
		leader, ready, epoch, ch, term := g.leader, g.ready, g.epoch, g.readyCh, g.readyTerm
		g.mu.Unlock()
		if !leader {
			return 0, ErrNotLeader
		}
		// The term check does not rely on the notify channel being drained
		// promptly: a barrier of an earlier term proves nothing now.
		if ready && g.raft.CurrentTerm() == term {
			return epoch, nil
		}
		if ready {
			return 0, fmt.Errorf("%w: term changed", ErrNotLeader)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, fmt.Errorf("%w: leader not ready: %v", ErrUnavailable, ctx.Err())
		}
	}
}

// readyNow is waitReady without waiting: the epoch and true if this node
// leads the group (in raft's view too) with the current term's barrier
// applied.
func (g *group) readyNow() (uint64, bool) {
	if !g.isLeader() {
		return 0, false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	ok := g.leader && g.ready && g.raft.CurrentTerm() == g.readyTerm
	return g.epoch, ok
}

// stillReady reports whether epoch is still the current ready epoch, in
// the same raft term as its barrier.
func (g *group) stillReady(epoch uint64) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.leader && g.ready && g.epoch == epoch && g.raft.CurrentTerm() == g.readyTerm
}

// leaderAddr returns the current leader's raft (mux) address and id.
func (g *group) leaderAddr() (string, string) {
	addr, id := g.raft.LeaderWithID()
	return string(addr), string(id)
}

func (g *group) close() error {
	var first error
	if err := g.raft.Shutdown().Error(); err != nil {
		first = err
	}
	if err := g.layer.close(); err != nil && first == nil {
		first = err
	}
	return first
}

// isReady reports whether this node leads the group with its term barrier
// applied.
func (g *group) isReady() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.leader && g.ready
}

// maxAppendEntries is raft's MaxAppendEntries for every group; the raft
// transport's frame cap follows from it (rafttransport.go). raft's default,
// 64: an entry is a whole group-commit batch already, so a follower that
// catches up gets up to 64 batches per request, and hashicorp/raft makes
// a slice of this capacity for every AppendEntries it sends (256 made
// that a fifth of the bytes a node allocated under creates).
const maxAppendEntries = 64

// stuckTransferAfter is how long a leader's writes may be refused for a
// leadership transfer before the transfer counts as stuck: longer than any
// transfer raft can legitimately run (its timeout is one election timeout,
// then it waits for the TimeoutNow RPC, bounded by the transport's
// timeout), with margin.
func (g *group) stuckTransferAfter() time.Duration {
	return 3*g.n.cfg.ElectionTimeout + 2*raftRPCTimeout
}
