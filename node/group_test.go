package node

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/transport/wire"
)

// The group tests run one raft group on raft's in-memory transport and
// stores (memcluster_test.go): leader change and the term barrier, a
// partitioned or stalled leader, the read round's fallback, the batcher,
// readiness and adding a voter.

// linearizable runs the read barrier of a linearizable read on node i.
func (c *memCluster) linearizable(i int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.group(i).readBarrier(ctx, wire.Linearizable, 0)
}

// TestGroupReadiness: no node serves before the group has a leader; then
// exactly the leader does, once its term's barrier is applied, and the
// followers refuse with NOTLEADER.
func TestGroupReadiness(t *testing.T) {
	c := newMemCluster(t, 3, nil)
	for i := range c.nodes {
		g := c.group(i)
		if has, err := g.hasState(); err != nil || has {
			t.Fatalf("%s before bootstrap: hasState = %v, %v", c.nodes[i].cfg.ID, has, err)
		}
		if _, err := g.waitReady(context.Background()); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("waitReady before bootstrap = %v, want ErrNotLeader", err)
		}
		if err := c.linearizable(i, time.Second); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("linearizable read before bootstrap = %v, want ErrNotLeader", err)
		}
		if _, err := c.propose(i, createCmd("early")); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("write before bootstrap = %v, want ErrNotLeader", err)
		}
	}
	c.bootstrap(0)
	l := c.readyLeader(0)
	g := c.group(l)
	if g.readyTerm != g.raft.CurrentTerm() {
		t.Fatalf("ready in term %d, raft is in term %d", g.readyTerm, g.raft.CurrentTerm())
	}
	// The barrier is applied: the bootstrap configuration (index 1), the
	// leader's no-op (2) and the barrier (3) at least.
	if applied := g.rfsm.applied.Load(); applied < 3 {
		t.Fatalf("leader ready with applied index %d: no barrier applied", applied)
	}
	if err := c.linearizable(l, 5*time.Second); err != nil {
		t.Fatalf("linearizable read on the ready leader: %v", err)
	}
	for i := range c.nodes {
		f := c.group(i)
		if i == l || f.raft.State() == raft.Leader { // an election in between (a loaded machine)
			continue
		}
		if has, err := f.hasState(); err != nil || !has {
			t.Fatalf("%s after bootstrap: hasState = %v, %v", c.nodes[i].cfg.ID, has, err)
		}
		if f.isReady() {
			t.Fatalf("follower %s is ready", c.nodes[i].cfg.ID)
		}
		if _, err := f.waitReady(context.Background()); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("waitReady on a follower = %v, want ErrNotLeader", err)
		}
		if err := c.linearizable(i, time.Second); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("linearizable read on a follower = %v, want ErrNotLeader", err)
		}
		if _, err := c.propose(i, createCmd("on-follower")); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("write on a follower = %v, want ErrNotLeader", err)
		}
	}
}

// TestGroupLeaderChange: after leadership moves, the new leader serves
// nothing until its term's barrier is applied (held here by holding every
// log write of the new term), then reads every write the old leader
// acknowledged and takes new writes.
func TestGroupLeaderChange(t *testing.T) {
	c := newMemCluster(t, 3, nil)
	c.bootstrap(0)
	old := c.readyLeader(0)
	og := c.group(old)
	before := c.mustPropose(old, createCmd("before-change"))
	oldEpoch, _ := og.readyNow()
	term := og.raft.CurrentTerm()

	for _, l := range c.logs {
		l.hold(func(e *raft.Log) bool { return e.Term > term })
	}
	next := (old + 1) % len(c.nodes)
	// The transfer's own outcome does not matter: any election from here
	// on makes a leader of a later term, which the gates stop.
	_ = og.raft.LeadershipTransferToServer(c.server(next).ID, c.addrs[next]).Error()

	nl := -1
	eventually(t, "a leader of a later term held at its first entry", func() error {
		for i := range c.nodes {
			g := c.group(i)
			// g.leader: the group has taken raft's notice that it leads.
			g.mu.Lock()
			noticed := g.leader
			g.mu.Unlock()
			if noticed && g.raft.State() == raft.Leader && g.raft.CurrentTerm() > term && c.logs[i].waiting.Load() > 0 {
				nl = i
				return nil
			}
		}
		return errors.New("none yet")
	})
	ng := c.group(nl)
	if _, ok := ng.readyNow(); ok || ng.isReady() {
		t.Fatal("the new leader is ready before its barrier committed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err := ng.waitReady(ctx)
	cancel()
	if err == nil {
		t.Fatal("waitReady succeeded on a leader whose barrier is not applied")
	}
	if err := c.linearizable(nl, 200*time.Millisecond); err == nil {
		t.Fatal("linearizable read served by a leader whose barrier is not applied")
	}
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	err = ng.readBarrier(ctx, wire.Leader, 0)
	cancel()
	if err == nil {
		t.Fatal("leader read served by a leader whose barrier is not applied")
	}
	eventually(t, "the old leader to leave its ready epoch", func() error {
		if og.stillReady(oldEpoch) {
			return errors.New("it still counts its epoch as ready")
		}
		return nil
	})

	for _, l := range c.logs {
		l.release()
	}
	nl = c.readyLeader(term)
	if err := c.linearizable(nl, 5*time.Second); err != nil {
		t.Fatalf("linearizable read on the new leader: %v", err)
	}
	if !c.has(nl, "before-change") {
		t.Fatal("the new leader misses a write the old one acknowledged")
	}
	after := c.mustPropose(nl, createCmd("after-change"))
	if after.Version <= before.Version {
		t.Fatalf("write on the new leader at index %d, not after %d", after.Version, before.Version)
	}
	eventually(t, "every replica to apply both writes", func() error {
		for i := range c.nodes {
			if !c.has(i, "before-change") || !c.has(i, "after-change") {
				return fmt.Errorf("%s misses a write", c.nodes[i].cfg.ID)
			}
		}
		return nil
	})
}

// notServed fails the test unless err is one of the answers a node that
// cannot prove it leads may give: NOTLEADER, INDETERMINATE or UNAVAILABLE.
func notServed(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s succeeded", what)
	}
	if !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrIndeterminate) && !errors.Is(err, ErrUnavailable) {
		t.Fatalf("%s: %v, want NOTLEADER, INDETERMINATE or UNAVAILABLE", what, err)
	}
}

// TestGroupPartitionedLeader: a leader cut off from the others neither
// commits a write nor serves a linearizable read, before or after the
// majority has elected another leader and written; once healed it follows
// the new leader and its own write is gone.
func TestGroupPartitionedLeader(t *testing.T) {
	c := newMemCluster(t, 3, nil)
	c.bootstrap(0)
	a := c.readyLeader(0)
	c.mustPropose(a, createCmd("before"))
	term := c.group(a).raft.CurrentTerm()
	c.isolate(a)

	// Both start while a may still believe it leads.
	werr := make(chan error, 1)
	go func() {
		res, err := c.propose(a, createCmd("on-cut-leader"))
		if err == nil {
			err = res.Err
		}
		werr <- err
	}()
	notServed(t, "linearizable read on the cut-off leader", c.linearizable(a, 5*time.Second))
	err := <-werr
	if !errors.Is(err, ErrIndeterminate) && !errors.Is(err, ErrNotLeader) {
		t.Fatalf("write on the cut-off leader: %v, want INDETERMINATE or NOTLEADER", err)
	}

	var others []int
	for i := range c.nodes {
		if i != a {
			others = append(others, i)
		}
	}
	b := c.readyLeader(term, others...)
	c.mustPropose(b, createCmd("after"))
	notServed(t, "linearizable read on the old leader after a new one wrote", c.linearizable(a, time.Second))
	if c.has(a, "after") {
		t.Fatal("the cut-off node has a write it cannot have received")
	}

	c.heal()
	eventually(t, "the old leader to catch up", func() error {
		if !c.has(a, "after") {
			return errors.New("it misses the new leader's write")
		}
		return nil
	})
	for i := range c.nodes {
		if c.has(i, "on-cut-leader") {
			t.Fatalf("%s applied the write taken by the cut-off leader", c.nodes[i].cfg.ID)
		}
	}
}

// TestGroupStalledLeaderRefusesReads: a leader whose raft loop is stuck
// (its log held: a paused process or a stalled disk) keeps believing it
// leads its term while the others elect a new leader. Its read round's
// term poll reaches a voter of the later term and refuses the read at once
// (NOTLEADER, no fallback entry); a write on it stays INDETERMINATE and is
// never applied.
func TestGroupStalledLeaderRefusesReads(t *testing.T) {
	c := newMemCluster(t, 3, nil)
	c.bootstrap(0)
	a := c.readyLeader(0)
	ga := c.group(a)
	c.mustPropose(a, createCmd("before"))
	term := ga.raft.CurrentTerm()

	c.logs[a].hold(func(*raft.Log) bool { return true })
	werr := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := ga.propose(ctx, createCmd("on-stalled"), 64)
		werr <- err
	}()
	eventually(t, "the leader's raft loop to stop at its log", func() error {
		if c.logs[a].waiting.Load() == 0 {
			return errors.New("not yet")
		}
		return nil
	})
	// Raft traffic only: the term polls still reach the others.
	c.cutRaft(a)
	var others []int
	for i := range c.nodes {
		if i != a {
			others = append(others, i)
		}
	}
	b := c.readyLeader(term, others...)
	c.mustPropose(b, createCmd("after"))

	if ga.raft.State() != raft.Leader || ga.raft.CurrentTerm() != term {
		t.Fatalf("stalled leader is %v in term %d, want leader in %d", ga.raft.State(), ga.raft.CurrentTerm(), term)
	}
	if _, ok := ga.readyNow(); !ok {
		t.Fatal("the stalled leader does not believe it is ready")
	}
	rounds, fallbacks := ga.readRounds.Load(), ga.readFallbacks.Load()
	if err := c.linearizable(a, 5*time.Second); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("linearizable read on the stalled leader: %v, want NOTLEADER", err)
	}
	if ga.readRounds.Load() != rounds+1 || ga.readFallbacks.Load() != fallbacks {
		t.Fatalf("rounds %d -> %d, fallbacks %d -> %d; want one round decided by the poll",
			rounds, ga.readRounds.Load(), fallbacks, ga.readFallbacks.Load())
	}
	if err := <-werr; !errors.Is(err, ErrIndeterminate) {
		t.Fatalf("write on the stalled leader: %v, want INDETERMINATE", err)
	}

	c.logs[a].release()
	c.heal()
	eventually(t, "the stalled leader to follow the new one", func() error {
		if ga.raft.State() == raft.Leader || !c.has(a, "after") {
			return errors.New("not yet")
		}
		return nil
	})
	for i := range c.nodes {
		if c.has(i, "on-stalled") {
			t.Fatalf("%s applied the write taken by the stalled leader", c.nodes[i].cfg.ID)
		}
	}
}

// readRound runs one linearizable read on the group's ready leader and
// reports whether its round fell back to an empty entry. A round that a
// leadership change interrupts (a loaded machine) is run again.
func (c *memCluster) readRound(t *testing.T) (fellBack bool) {
	t.Helper()
	eventually(t, "a read round on a stable leader", func() error {
		l := c.readyLeader(0)
		g := c.group(l)
		epoch, _ := g.readyNow()
		rounds, fallbacks := g.readRounds.Load(), g.readFallbacks.Load()
		err := c.linearizable(l, 5*time.Second)
		if !g.stillReady(epoch) {
			return errors.New("leadership changed during the read")
		}
		if err != nil {
			t.Fatalf("linearizable read on the ready leader: %v", err)
		}
		if got := g.readRounds.Load() - rounds; got != 1 {
			t.Fatalf("the read ran %d rounds, want 1", got)
		}
		fellBack = g.readFallbacks.Load() != fallbacks
		return nil
	})
	return fellBack
}

// TestGroupReadRoundFallback: a read round's term poll confirms
// leadership once a majority answers; when it cannot reach a majority
// (peers cut off from the peer RPC, or not answering) the round commits an
// empty entry instead, and the read still succeeds because raft itself
// still replicates.
func TestGroupReadRoundFallback(t *testing.T) {
	c := newMemCluster(t, 3, nil)
	c.bootstrap(0)
	l := c.readyLeader(0)
	var peers []string
	for i := range c.nodes {
		if i != l {
			peers = append(peers, string(c.addrs[i]))
		}
	}
	if c.readRound(t) {
		t.Fatal("fallback with every voter reachable")
	}
	c.router.cut(peers[0])
	if c.readRound(t) {
		t.Fatal("fallback with a majority reachable")
	}
	c.router.cut(peers[1])
	if !c.readRound(t) {
		t.Fatal("no fallback with the term poll cut off from both peers")
	}
	c.router.heal()
	c.router.hang(peers[0])
	c.router.hang(peers[1])
	if !c.readRound(t) {
		t.Fatal("no fallback with both peers not answering")
	}
	c.router.heal()
	if c.readRound(t) {
		t.Fatal("fallback after the peers answer again")
	}
}

// TestGroupBatcherPacksWrites: writes that arrive while an entry is in
// flight are packed into the next entries, at most MaxBatchCmds each. With
// one entry in flight allowed and the leader's log held, the first write
// has an entry of its own and the nine behind it take three: 4, 4 and 1.
func TestGroupBatcherPacksWrites(t *testing.T) {
	c := newMemCluster(t, 3, func(cfg *Config) {
		cfg.MaxInflightApplies = 1
		cfg.MaxBatchCmds = 4
	})
	c.bootstrap(0)
	l := c.readyLeader(0)
	g := c.group(l)
	last := g.raft.LastIndex()
	c.logs[l].hold(func(e *raft.Log) bool { return e.Index > last })

	type outcome struct {
		res fsm.Result
		err error
	}
	out := make(chan outcome, 10)
	write := func(i int) {
		res, err := c.propose(l, createCmd(fmt.Sprintf("w%d", i)))
		if err == nil {
			err = res.Err
		}
		out <- outcome{res, err}
	}
	go write(0)
	eventually(t, "the first write's entry to reach the held log", func() error {
		if c.logs[l].waiting.Load() == 0 {
			return errors.New("not yet")
		}
		return nil
	})
	for i := 1; i < 10; i++ {
		go write(i)
	}
	// The batcher fills its next batch (MaxBatchCmds 4) while the entry
	// in flight is held, then waits for the slot with it; the rest queue.
	eventually(t, "a full batch held and five writes queued behind the first", func() error {
		if n := len(g.proposeCh); n != 5 {
			return fmt.Errorf("%d queued", n)
		}
		return nil
	})
	c.logs[l].release()

	perEntry := map[uint64]int{}
	for range 10 {
		o := <-out
		if o.err != nil {
			t.Fatalf("write: %v", o.err)
		}
		perEntry[o.res.Version]++
	}
	var sizes []int
	for _, idx := range slices.Sorted(maps.Keys(perEntry)) {
		sizes = append(sizes, perEntry[idx])
	}
	if !slices.Equal(sizes, []int{1, 4, 4, 1}) {
		t.Fatalf("writes per entry %v, want [1 4 4 1]", sizes)
	}
}

// TestGroupAddVoter: MEMBER ADD makes a server a non-voter, the promoter
// makes it a voter once caught up, and read rounds then need three of four
// voters.
func TestGroupAddVoter(t *testing.T) {
	c := newMemCluster(t, 4, func(cfg *Config) { cfg.PromoteStableFor = 0 })
	unadmit(c, 3)
	c.bootstrap(3)
	l := c.readyLeader(0, 0, 1, 2)
	c.mustPropose(l, createCmd("before-join"))
	gossipAll(c)
	n := c.nodes[l]
	if err := n.MemberAdd(memberCtx(t), "m4"); err != nil {
		t.Fatalf("MEMBER ADD m4: %v", err)
	}
	var p promoter
	eventually(t, "the new voter to catch up and be promoted", func() error {
		n.memberTick(memberCtx(t), &p)
		if s, _ := suffrageIn(c, l, "m4"); s != raft.Voter || !c.has(3, "before-join") {
			return errors.New("not yet")
		}
		return nil
	})
	self, peers, err := groupPoller{c.group(l)}.voters()
	if err != nil || !self || len(peers) != 3 {
		t.Fatalf("voters = %v, %v, %v; want self and three peers", self, peers, err)
	}
	if c.readRound(t) {
		t.Fatal("fallback with every voter reachable")
	}
	// With four voters, two peers answering (three of four) confirm;
	// one does not.
	var reach []int
	for i := range c.nodes {
		if i != l {
			reach = append(reach, i)
		}
	}
	c.router.cut(string(c.addrs[reach[0]]))
	if c.readRound(t) {
		t.Fatal("fallback with three of four voters reachable")
	}
	c.router.cut(string(c.addrs[reach[1]]))
	if !c.readRound(t) {
		t.Fatal("no fallback with two of four voters reachable")
	}
}

// TestTermPollRefusedByUnadmittedDir: a node whose data directory the
// cluster has not admitted (wiped, or never added) does not answer a
// term poll: it does not know the votes its id cast, so its term is no
// answer for the voter.
func TestTermPollRefusedByUnadmittedDir(t *testing.T) {
	c := newMemCluster(t, 3, nil)
	c.bootstrap(3)
	l := c.readyLeader(0, 0, 1, 2)
	_, peers, err := groupPoller{c.group(l)}.voters()
	if err != nil || len(peers) != 2 {
		t.Fatalf("voters: %v, %v", peers, err)
	}
	ctx := memberCtx(t)
	if _, err := (groupPoller{c.group(l)}).peerTerm(ctx, peers[0]); err != nil {
		t.Fatalf("term poll of an admitted voter: %v", err)
	}
	w := -1
	for i := range c.nodes {
		if c.nodes[i].cfg.ID == string(peers[0].ID) {
			w = i
		}
	}
	unadmit(c, w)
	if term, err := (groupPoller{c.group(l)}).peerTerm(ctx, peers[0]); err == nil {
		t.Fatalf("an unadmitted data directory answered term %d", term)
	}
}
