package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/transport/mux"
	"github.com/sessionraft/sessionraft/transport/resp"
	"github.com/sessionraft/sessionraft/transport/wire"
)

// Linearizable reads on a follower: the follower asks the group's leader
// for a read index and answers from its own state once it has applied
// that index (the Raft thesis, 6.4: read-only queries on followers).
// Forwarding the read instead cost the leader a goroutine and a record
// encoded per read and the follower a goroutine, a context and a timer
// per read: a client of the Redis port talks to one node, and two in
// three of its reads are for groups another node leads.
//
// Why it is linearizable. The follower joins its group's next
// follower round (followerReads, a verifier), so the rpcReadIndex request
// leaves after the read arrived. The leader serves it by the read rules
// (read.go): it takes its commit index on the ready leader, so the index
// covers every write acknowledged before the request arrived (and every
// earlier leader's, through the term barrier), and answers only after a
// leadership round that started later confirmed it still leads in the
// same epoch. Once the follower has applied up to that index its state
// includes every write acknowledged before the read began.
//
// In a group of three voters the leader needs no round: the request
// carries the follower's raft term, read after its reads arrived, and a
// follower in the leader's term or an earlier one is a term poll's
// answer (leadercheck.go) from a second voter, which with the leader
// itself makes a majority (followerConfirms). One request and its answer
// then serve a batch of follower reads, as a term poll's two frames
// serve the leader's own; with a round they cost four.
//
// One rpcReadIndex serves every read queued while the previous one was
// out. A round that fails (no leader known, the leader moved, the request
// lost) sends its reads down the general path, which forwards them as
// before; a leader without rpcReadIndex (an older version) answers an
// unknown method, which does the same.

// readIndexFromLeader is one follower round: the read index the group's
// leader gives for a request sent now.
func (g *group) readIndexFromLeader() (uint64, error) {
	addr, _ := g.leaderAddr()
	if addr == "" {
		return 0, errors.New("no leader known")
	}
	if g.isLeader() {
		return 0, errors.New("this node leads the group now")
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.n.cfg.RequestTimeout)
	defer cancel()
	g.n.admin.met.Forwarded("read-index")
	req := binary.AppendUvarint(make([]byte, 0, 24+len(g.n.cfg.ID)), uint64(g.id))
	plain := len(req) // the group alone
	withTerm := g.n.ident.admitted.Load() && !g.n.ident.removed.Load() &&
		time.Now().UnixNano() >= g.readIndexPlainUntil.Load()
	if withTerm {
		// The term is read now, after every read of this round arrived:
		// followerConfirms counts it as this voter's answer to a term
		// poll. A data directory the cluster has not admitted does not
		// know its id's votes, and sends none (as for rpcTerm).
		req = binary.AppendUvarint(req, g.raft.CurrentTerm())
		req = append(req, g.n.cfg.ID...)
	}
	out, err := g.n.mux.Call(ctx, addr, rpcReadIndex, req)
	var re *mux.RemoteError
	if withTerm && errors.As(err, &re) && re.Code == wire.CodeBadArg {
		// A leader of an older version, which takes the group alone
		// (a rolling upgrade): ask it that way for a while.
		g.readIndexPlainUntil.Store(time.Now().Add(plainReadIndexFor).UnixNano())
		out, err = g.n.mux.Call(ctx, addr, rpcReadIndex, req[:plain])
	}
	if err != nil {
		return 0, err
	}
	index, k := binary.Uvarint(out)
	if k <= 0 || k != len(out) {
		return 0, errors.New("undecodable read index")
	}
	return index, nil
}

// handleReadIndexRPC serves rpcReadIndex as a mux.DeferredHandler: on the
// ready leader, the commit index taken now, once the requesting voter's
// term (followerConfirms) or a leadership round that started after it
// confirms this node still leads in the same epoch (linearizableRead).
// The follower waits for its own state to apply it, so whether the leader
// has applied it does not matter. The payload is the group, then the
// follower's term and server id (a follower of an older version sends
// the group alone, and gets a round).
func (n *Node) handleReadIndexRPC(ctx context.Context, payload []byte, reply func([]byte, error)) {
	if err := n.checkCaller(ctx); err != nil {
		reply(nil, asReply(err))
		return
	}
	select {
	case <-n.closing: // its groups are about to close: no new rounds
		reply(nil, asReply(fmt.Errorf("%w: shutting down", ErrNotLeader)))
		return
	default:
	}
	g, rest, err := n.rpcGroup(payload)
	var term uint64
	var from []byte
	if err == nil && len(rest) != 0 {
		t, k := binary.Uvarint(rest)
		if k <= 0 {
			err = asReply(fmt.Errorf("%w: bad rpc header", ErrBadArg))
		}
		term, from = t, rest[max(k, 0):]
	}
	if err != nil {
		reply(nil, err)
		return
	}
	ri, ok := g.readIndexNow()
	if !ok {
		reply(nil, asReply(errNotReadyLeader))
		return
	}
	if len(from) > 0 && g.followerConfirms(ctx, ri, term, string(from)) {
		g.readIndexByTerm.Add(1)
		reply(binary.AppendUvarint(nil, ri.index), nil)
		return
	}
	// A deferred method counts against no handler bound of the mux, so
	// the requests waiting for a round are bounded here. A follower has at
	// most one out per group; only a confused or hostile peer reaches the
	// bound, and its readers are then forwarded instead.
	if g.readIndexWaiting.Add(1) > maxReadIndexWaiting {
		g.readIndexWaiting.Add(-1)
		reply(nil, asReply(errReadIndexBusy))
		return
	}
	g.verifier.join(func(_ uint64, round error, _ *resp.DoneBatch) {
		g.readIndexWaiting.Add(-1)
		switch v, err := g.linearizableRead(ri, round); v {
		case readAnswer, readApplied:
			reply(binary.AppendUvarint(nil, ri.index), nil)
		default:
			reply(nil, asReply(err))
		}
	})
}

// followerConfirms reports whether a read-index request that voter from
// sent in term (its term when it sent, after its reads arrived) confirms,
// with this node, that this node led the group in ri's epoch at some
// instant after those reads arrived, so that ri's index may be given
// without a leadership round.
//
// Why: as for a term poll (leadercheck.go), a voter whose term was T or
// lower at instant s had voted for no leader of a later term by s, and
// this node, still the ready leader of term T now (stillReady, checked
// last, after s), had not either. A later term's leader needs a majority,
// and with three voters any majority holds one of the two: so none
// existed at s, and every write acknowledged before the reads arrived is
// at or below the commit index taken as the ready leader. With more
// voters two are not a majority, and the request waits for a round.
//
// from must be the voter the request came from, at the address the
// configuration gives it: the connection's advertised address (checked
// against the certificate's node with TLS) must be that voter's, and any
// id the connection proves or claims must be from. A term poll asks the
// voter at its configured address; without this, an old copy of a voter
// replaced at another address (paused through the change) could answer
// for the new one. Without TLS a connection may claim no id
// (mux.Config.NodeID is unset there), and the id in the request is taken
// as it is: an honest node names itself, and a plaintext internal port
// trusts its peers with raft's own messages already.
func (g *group) followerConfirms(ctx context.Context, ri readIndex, term uint64, from string) bool {
	c, ok := mux.CallerFrom(ctx)
	if !ok || c.Addr == "" || (c.Verified || c.ID != "") && c.ID != from {
		return false
	}
	g.mu.Lock()
	leaderTerm := g.readyTerm
	g.mu.Unlock()
	if term > leaderTerm {
		return false
	}
	f := g.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	voters, self, follower := 0, false, false
	for _, s := range f.Configuration().Servers {
		if s.Suffrage != raft.Voter {
			continue
		}
		voters++
		switch string(s.ID) {
		case g.n.cfg.ID:
			self = true
		case from:
			follower = string(s.Address) == c.Addr
		}
	}
	if !self || !follower || 2 < voters/2+1 {
		return false
	}
	return g.stillReady(ri.epoch)
}

// followerApplyWait is how long a follower read waits for its replica to
// apply the read index before the read is forwarded instead: long enough
// for a follower that keeps up to learn of the commit (the leader's next
// AppendEntries, within about 2 x CommitTimeout when idle), short enough
// that a replica far behind costs its readers little.
func (c *Config) followerApplyWait() time.Duration {
	return min(20*c.CommitTimeout, c.RequestTimeout/2)
}

// plainReadIndexFor is how long a follower whose read-index request an
// older leader refused (it takes the group alone) sends the group alone,
// and gets a round, before it tries its term again.
const plainReadIndexFor = time.Minute

// maxReadIndexWaiting bounds the rpcReadIndex requests a group's leader
// holds for its leadership rounds at once (group.readIndexWaiting).
const maxReadIndexWaiting = 1024

// errReadIndexBusy refuses a read-index request past maxReadIndexWaiting.
var errReadIndexBusy = fmt.Errorf("%w: too many read-index requests waiting", ErrBusy)

// readOnFollower defers rd's reply to the group's next follower round and
// answers it from local state once the round's read index is applied.
func (h *handler) readOnFollower(g *group, rd *oneRead, r *resp.Reply, obs reqObs) {
	d := observedDeferred{r.Defer(), obs} // its Done records the request
	kept := *rd                           // rd is the caller's, on its stack
	g.followerReads.join(func(index uint64, err error, b *resp.DoneBatch) {
		if err == nil && g.rfsm.applied.Load() >= index {
			h.answerLocal(d.Reply(), g, &kept)
			d.doneIn(b)
			return
		}
		// Tracked by the connection (Server.Close waits for d), and
		// bounded by RequestTimeout.
		go h.finishFollowerRead(d, g, index, err, &kept)
	})
}

// finishFollowerRead completes a follower read its round could not answer
// on the spot: it waits a little for the read index to apply
// (followerApplyWait) and otherwise forwards the read; when the round
// failed, it answers the round's timeout or runs the read down the
// general path.
func (h *handler) finishFollowerRead(d observedDeferred, g *group, index uint64, err error, rd *oneRead) {
	defer d.Done()
	ctx, cancel := context.WithTimeout(d.Context(), h.n.cfg.RequestTimeout)
	defer cancel()
	r := d.Reply()
	switch {
	case err == nil:
		wctx, wcancel := context.WithTimeout(ctx, h.n.cfg.followerApplyWait())
		werr := g.rfsm.waitApplied(wctx, index)
		wcancel()
		if werr == nil {
			h.answerLocal(r, g, rd)
			return
		}
		// This replica is behind (restarted, installing a snapshot, a
		// slow disk): the leader answers instead, within what is left
		// of the request's time, rather than the read failing.
		h.readGeneral(ctx, r, rd)
	case errors.Is(err, ErrUnavailable):
		writeErr(r, err) // the round took RequestTimeout
	default:
		h.readGeneral(ctx, r, rd) // forwards, or waits for a leader
	}
}

// startFollowerRound is readIndexFromLeader without a goroutine, for the
// verifier (verifier.start): the request goes in the node's read cycle
// (readcycles.go), with the node's other rounds to the same leader. What
// a cycle cannot settle (a leader of an older version, a read index that
// needs the leader's own round, a request without the term) runs
// readIndexFromLeader on a goroutine, as before cycles.
func (g *group) startFollowerRound(done func(uint64, error)) {
	addr, _ := g.leaderAddr()
	if addr == "" {
		done(0, errors.New("no leader known"))
		return
	}
	if g.isLeader() {
		done(0, errors.New("this node leads the group now"))
		return
	}
	if !g.n.ident.admitted.Load() || g.n.ident.removed.Load() ||
		time.Now().UnixNano() < g.readIndexPlainUntil.Load() || !g.threeVoters() {
		// No term to send, or one the leader cannot count: the leader
		// answers after a round of its own, which rpcReadIndex waits for.
		g.followerReads.roundAside(done)
		return
	}
	g.n.admin.met.Forwarded("read-index")
	// The term is read now, after every read of this round arrived (see
	// readIndexFromLeader).
	part := roundPart{kind: partReadIndex, group: g.id, term: g.raft.CurrentTerm(), id: g.n.cfg.ID,
		done: func(index uint64, status byte, err error) {
			switch {
			case status == partRound || errors.Is(err, errNoReadRound):
				g.cycleFallbacks.Add(1)
				g.followerReads.roundAside(done)
			case err != nil:
				done(0, err)
			default:
				done(index, nil)
			}
		}}
	g.n.cycles.add(g.n.mux, addr, part)
}

// threeVoters reports whether the group has at most three voters, the
// groups where the leader gives a read index on the follower's term
// (followerConfirms) and a read cycle can carry the request.
func (g *group) threeVoters() bool {
	f := g.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	voters := 0
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			voters++
		}
	}
	return voters <= 3
}
