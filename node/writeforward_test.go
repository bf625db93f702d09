package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/transport/resp"
	"github.com/sessionraft/sessionraft/transport/wire"
)

// sweeperOn runs node n's write sweeper as start does, stopped (with what
// still waits answered) when the test ends or the node closes.
func sweeperOn(t *testing.T, n *Node) {
	t.Helper()
	n.sweepWG.Add(1)
	go func() { defer n.sweepWG.Done(); n.writeWaits.loop(n.closing, n.sweepStop) }()
	t.Cleanup(func() {
		select {
		case <-n.sweepStop:
		default:
			close(n.sweepStop)
		}
		n.sweepWG.Wait()
	})
}

// rpcReply is the outcome a forwarded write's reply function got.
type rpcReply struct {
	out []byte
	err error
}

// forwardTo hands node n a forwarded write of cmd to group 0, as the mux
// does, and returns where its one reply arrives (a second fails the test).
func forwardTo(t *testing.T, n *Node, cmd fsm.Command) <-chan rpcReply {
	t.Helper()
	payload := binary.AppendUvarint(nil, 0)
	payload = fsm.AppendCommand(payload, &cmd)
	return forwardRaw(t, n, payload)
}

func forwardRaw(t *testing.T, n *Node, payload []byte) <-chan rpcReply {
	t.Helper()
	ch := make(chan rpcReply, 2)
	var once sync.Once
	n.handleWriteRPC(context.Background(), payload, func(out []byte, err error) {
		first := false
		once.Do(func() { first = true })
		if !first {
			t.Errorf("a forwarded write was answered twice (%v)", err)
		}
		ch <- rpcReply{out, err}
	})
	return ch
}

func waitReply(t *testing.T, ch <-chan rpcReply) rpcReply {
	t.Helper()
	return receive(t, ch, 20*time.Second, "the forwarded write was never answered")
}

// A forwarded write on the leader is answered by its batch with the
// state machine's result, which the origin decodes; one to a follower or
// a malformed one is refused at once, with what the origin retries or
// reports. Nothing stays pending.
func TestForwardedWriteFastPath(t *testing.T) {
	c := newMemCluster(t, 3, nil)
	c.bootstrap(0)
	a := c.readyLeader(0)
	f := (a + 1) % 3
	sweeperOn(t, c.nodes[a])

	cmd := createCmd("fw1")
	cmd.ReqID = "req-fw1"
	for round := range 2 { // the second is a retry the FSM deduplicates
		r := waitReply(t, forwardTo(t, c.nodes[a], cmd))
		if r.err != nil {
			t.Fatalf("round %d: forwarded create failed: %v", round, r.err)
		}
		res, err := fsm.DecodeResult(r.out)
		if err != nil || res.Err != nil || res.ID != "fw1" {
			t.Fatalf("round %d: result %+v, %v", round, res, err)
		}
	}
	if !c.has(a, "fw1") {
		t.Fatal("the forwarded create is not in the leader's state")
	}
	// The state machine's refusal is a result, not an RPC error.
	r := waitReply(t, forwardTo(t, c.nodes[a], createCmd("fw1")))
	if res, err := fsm.DecodeResult(r.out); r.err != nil || err != nil || !errors.Is(res.Err, fsm.ErrExists) {
		t.Fatalf("second create of fw1: %+v %v %v", res, err, r.err)
	}

	r = waitReply(t, forwardTo(t, c.nodes[f], createCmd("fw2")))
	if codeOf(r.err) != wire.CodeNotLeader {
		t.Fatalf("forwarded write on a follower: %v, want NOTLEADER", r.err)
	}
	r = waitReply(t, forwardRaw(t, c.nodes[a], []byte{0, 0xff, 0xff}))
	if codeOf(r.err) != wire.CodeBadArg {
		t.Fatalf("undecodable forwarded write: %v, want BADARG", r.err)
	}
	r = waitReply(t, forwardRaw(t, c.nodes[a], binary.AppendUvarint(nil, 7)))
	if r.err == nil {
		t.Fatal("a forwarded write to a group the node does not have was accepted")
	}
	if k := pending(c.nodes[a]); k != 0 {
		t.Fatalf("%d forwarded writes still pending after their replies", k)
	}
}

// A forwarded write whose entry cannot commit (the leader's log is held)
// is answered INDETERMINATE at RequestTimeout, as the handler's context
// ended it before.
func TestForwardedWriteDeadline(t *testing.T) {
	c := newMemCluster(t, 3, func(cfg *Config) { cfg.RequestTimeout = 300 * time.Millisecond })
	c.bootstrap(0)
	a := c.readyLeader(0)
	c.mustPropose(a, createCmd("before"))
	sweeperOn(t, c.nodes[a])
	c.logs[a].hold(func(*raft.Log) bool { return true })
	defer c.logs[a].release()
	r := waitReply(t, forwardTo(t, c.nodes[a], createCmd("stalled")))
	if codeOf(r.err) != wire.CodeIndeterminate {
		t.Fatalf("forwarded write on a stalled leader: %v, want INDETERMINATE at its deadline", r.err)
	}
	if k := pending(c.nodes[a]); k != 0 {
		t.Fatalf("%d forwarded writes still pending after the deadline", k)
	}
}

// A leader cut off from its followers loses leadership: a forwarded write
// it took is answered with what raft says happened (NOTLEADER if it was
// refused, INDETERMINATE if its entry may yet commit), at once and not at
// the deadline; one that arrives after is refused NOTLEADER, so the
// origin retries it on the new leader.
func TestForwardedWriteLeadershipLost(t *testing.T) {
	c := newMemCluster(t, 3, func(cfg *Config) { cfg.RequestTimeout = time.Minute })
	c.bootstrap(0)
	a := c.readyLeader(0)
	sweeperOn(t, c.nodes[a])
	c.isolate(a)
	r := waitReply(t, forwardTo(t, c.nodes[a], createCmd("cut")))
	// RequestTimeout is a minute: an answer within waitReply's bound is
	// raft's, not the sweeper's.
	if code := codeOf(r.err); code != wire.CodeNotLeader && code != wire.CodeIndeterminate {
		t.Fatalf("forwarded write on a leader losing leadership: %v", r.err)
	}
	eventually(t, "the cut-off leader to step down", func() error {
		if c.group(a).isLeader() {
			return errors.New("still leader")
		}
		return nil
	})
	r = waitReply(t, forwardTo(t, c.nodes[a], createCmd("after")))
	if codeOf(r.err) != wire.CodeNotLeader {
		t.Fatalf("forwarded write on a former leader: %v, want NOTLEADER", r.err)
	}
	if k := pending(c.nodes[a]); k != 0 {
		t.Fatalf("%d forwarded writes still pending", k)
	}
}

// Each batch outcome goes back to the origin as the error class that
// decides its retry there: refused before the log, NOTLEADER (retried);
// anything after, INDETERMINATE; the deadline and closing, INDETERMINATE.
func TestForwardedWriteOutcomes(t *testing.T) {
	n := newNode(memConfig("o1"))
	for _, tc := range []struct {
		err  error
		code string
	}{
		{raft.ErrNotLeader, wire.CodeNotLeader},
		{raft.ErrLeadershipTransferInProgress, wire.CodeNotLeader},
		{raft.ErrEnqueueTimeout, wire.CodeNotLeader},
		{raft.ErrLeadershipLost, wire.CodeIndeterminate},
		{raft.ErrRaftShutdown, wire.CodeIndeterminate},
		{fmt.Errorf("%w: shutting down", ErrNotLeader), wire.CodeNotLeader},
	} {
		var got error
		released := false
		w := &pendingWrite{n: n, release: func() { released = true }, rpc: func(_ []byte, err error) { got = err }}
		err := tc.err
		if !errors.Is(err, ErrNotLeader) {
			err = translateApplyErr(err)
		}
		w.settle(proposalResult{err: err}, nil)
		if codeOf(got) != tc.code || !released {
			t.Errorf("batch error %v: answered %v (released %v), want %s", tc.err, got, released, tc.code)
		}
		// The origin reads the code back as the sentinel it retries on.
		back := remoteToErr(codeOf(got), got.Error())
		if retryable(back) != (tc.code == wire.CodeNotLeader) {
			t.Errorf("batch error %v: the origin reads %v, retryable %v", tc.err, back, retryable(back))
		}
	}
	var got error
	w := &pendingWrite{n: n, release: func() {}, rpc: func(_ []byte, err error) { got = err }}
	w.claim()
	w.expire(context.DeadlineExceeded)
	if codeOf(got) != wire.CodeIndeterminate {
		t.Errorf("expired: %v, want INDETERMINATE", got)
	}
}

// Writes sent to one node, two thirds of them forwarded to the leaders
// of the other groups, go on after the node leading the most of those
// groups is killed: once every group has a leader again, none is answered
// INDETERMINATE or anything but OK (compat's TestSessionStores does this
// with Redis session stores).
func TestForwardedWritesAfterLeaderKill(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) { cfg.BalanceInterval = 100 * time.Millisecond })
	const entry = 0
	cl := c.client(entry)
	setAll := func(round string, keys int, strict bool) {
		t.Helper()
		for i := range keys {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			v, err := cl.Do(ctx, "SET", fmt.Sprintf("k%d", i), round)
			cancel()
			if _, ok := errors.AsType[*resp.ServerError](err); err != nil && !ok {
				t.Fatalf("%s: SET k%d: %v", round, i, err)
			}
			if strict && (v.Err() != nil || v.Str != "OK") {
				t.Fatalf("%s: SET k%d answered %+v (%v)", round, i, v, v.Err())
			}
		}
	}
	setAll("before", 60, true)
	victim, most := -1, -1
	for i := range 3 {
		if i == entry {
			continue
		}
		led := 0
		for _, g := range c.node(i).groups {
			if g.isLeader() {
				led++
			}
		}
		if led > most {
			victim, most = i, led
		}
	}
	c.stop(victim)
	c.waitLeaders()
	setAll("after", 200, true)
	c.start(victim)
	c.waitLeaders()
	setAll("rejoined", 200, true)
	for _, n := range []*Node{c.node(0), c.node(1), c.node(2)} {
		if k := pending(n); k != 0 {
			t.Fatalf("%s: %d writes still pending", n.cfg.ID, k)
		}
	}
}

// When the node starts closing, the sweeper answers the client port's
// writes at once but leaves forwarded ones to their batches (they still
// get their real outcome over the internal port); once that port is
// closed it takes the rest. A closed list refuses new writes.
func TestWriteWaitsCloseKeepsForwarded(t *testing.T) {
	ws := newWriteWaits(time.Hour)
	client := &pendingWrite{}
	fwd := &pendingWrite{rpc: func([]byte, error) {}}
	client2 := &pendingWrite{}
	for _, w := range []*pendingWrite{client, fwd, client2} {
		if !ws.add(w) {
			t.Fatal("add refused on an open list")
		}
	}
	out := ws.close(false)
	if len(out) != 2 || out[0] != client || out[1] != client2 {
		t.Fatalf("closing took %v, want the two client writes", out)
	}
	if ws.head != fwd || ws.tail != fwd {
		t.Fatal("the forwarded write left the list at closing")
	}
	if ws.add(&pendingWrite{}) {
		t.Fatal("add accepted on a closing list")
	}
	if out := ws.close(true); len(out) != 1 || out[0] != fwd || ws.head != nil {
		t.Fatalf("stopping took %v, want the forwarded write", out)
	}
	// A forwarded write its batch answered meanwhile is not taken again.
	ws = newWriteWaits(time.Hour)
	fwd = &pendingWrite{rpc: func([]byte, error) {}}
	ws.add(fwd)
	ws.close(false)
	fwd.claim()
	ws.remove(fwd)
	if out := ws.close(true); len(out) != 0 {
		t.Fatalf("stopping took an answered write: %v", out)
	}
}

// TestForwardedWriteFromFollower: a write sent to a follower goes to the
// leader from the follower's reader goroutine (forwardNow) and is
// answered with the leader's result; when the leader never answers (its
// replies are cut off), the follower answers INDETERMINATE at its own
// deadline, counts the write as pending no longer, and serves writes
// again once the leader is reachable.
func TestForwardedWriteFromFollower(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) {
		cfg.RequestTimeout = time.Second
		cfg.BalanceInterval = time.Hour
		// Nobody replaces the cut-off leader while the test runs.
		cfg.HeartbeatTimeout = 5 * time.Second
		cfg.ElectionTimeout = 5 * time.Second
		cfg.LeaderLeaseTimeout = 5 * time.Second
	})
	c.waitLeaders()
	key := "fwd-from-follower"
	gid := c.node(0).ring.Group(key)
	lead := c.readyLeader(gid)
	f := (lead + 1) % 3
	fc := &clientT{t: t, c: c.client(f)}
	fc.ok("SET", key, "1")
	if got := (&clientT{t: t, c: c.client(lead)}).ok("GET", key).Str; got != "1" {
		t.Fatalf("GET at the leader after a SET through a follower: %q", got)
	}

	leader := c.node(lead)
	for i := range 3 {
		if i != lead {
			leader.mux.Faults().Block(c.node(i).self.Raft, false, true)
		}
	}
	if code := errCode(fc.do("SET", key, "2")); code != wire.CodeIndeterminate {
		t.Fatalf("SET through a follower, leader's replies cut off: %q, want INDETERMINATE", code)
	}
	eventually(t, "the expired write to stop counting as pending", func() error {
		if k := c.node(f).pendingWrites.Load(); k != 0 {
			return fmt.Errorf("%d writes still pending", k)
		}
		return nil
	})
	leader.mux.Faults().Clear()
	waitFor(t, 20*time.Second, "writes through the follower again", func() error {
		return fc.do("SET", key, "3").Err()
	})
}
