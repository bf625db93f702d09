package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/fsm"
)

// A linearizable read needs proof that, at some instant after the read
// arrived, no leader of a later term existed: then nothing newer than the
// read index had been committed. The proof used here is a term poll. The
// leader of term T asks voters for their current raft term (rpcTerm)
// and counts the voters that answer a term no higher than T, itself
// included; it asks just enough of them to make a majority, and more
// only when one fails or is slow (pollHedge). A voter raises its term before it grants a vote in a later
// term, so a voter that answers "T or lower" at instant t had cast no
// such vote before t. A later term's leader needs the votes of a majority,
// which shares a voter with any majority that answered, and that voter
// voted after it answered, so after the round started. Hence when a
// majority has answered, no later leader existed when the round started,
// and every read that joined the round (before it started) may be served
// at its read index.
//
// This costs one round trip to a majority and no disk write.
// raft's own VerifyLeader is not used: hashicorp/raft v1.8.0 counts any
// successful AppendEntries reply that arrives after the call, including
// replies to requests sent before it, so a leader resumed after SIGSTOP
// confirmed itself on replies from before its pause (jepsen caught it
// serving a read older than an acknowledged write). A poll here carries
// no such history: each round's requests are sent after every read it
// answers had arrived, and only their own replies are counted.
//
// A voter answering a later term ends the round at once: this node is no
// longer the leader, and its reads go to the one that is. If the poll does
// not reach a majority within a heartbeat timeout (a partition, a slow
// peer, a peer running a version without rpcTerm during a rolling
// upgrade), the round falls back to committing an empty entry, which can
// only commit through fresh acknowledgements in this leader's term. Each
// request names the server it is for, so a node that took over a voter's
// address does not answer for it.

// termPoller is what a leadership round needs from the cluster: the
// voters of the latest configuration and a way to ask one for its term.
// The group implements it (groupPoller) over its layer's peerCaller: the
// mux, or an in-memory router in the group tests; the poll's own tests
// answer from a table.
type termPoller interface {
	voters() (self bool, peers []raft.Server, err error)
	peerTerm(ctx context.Context, peer raft.Server) (uint64, error)
}

// pollVerdict is what a term poll proved.
type pollVerdict uint8

const (
	pollConfirmed pollVerdict = iota // a majority answered the term or lower
	pollDeposed                      // a voter is in a later term: stop leading reads
	pollFailed                       // neither, within the poll's time
)

// pollHedge is how long a poll waits for the voters it asked first
// before it asks the rest. A poll asks only as many voters as a majority
// needs (with three voters, one peer), in the order the poller gives:
// every other request and its answer would be two more frames to write
// and read, per round, for nothing. A voter that fails asks the next at
// once; one that is slow (paused, overloaded) costs this much once, since
// the poller then puts a voter that answered first (groupPoller.voters).
const pollHedge = 2 * time.Millisecond

// pollTerms asks the voters for their terms and decides as soon as it can:
// confirmed once a majority (this node counting when self is true)
// answered a term no higher than term; deposed as soon as any voter
// answered a higher one; failed once too few answers are left to make a
// majority, or when ctx ends. It asks the first voters that can make a
// majority, in order, then the next for each that fails, and the rest
// when pollHedge passes without a verdict. When it returns, every request
// it started has ended or been abandoned (its late answer is dropped).
func pollTerms(ctx context.Context, p termPoller, term uint64) (pollVerdict, error) {
	self, peers, err := p.voters()
	if err != nil {
		return pollFailed, err
	}
	total := len(peers)
	have := 0
	if self {
		total++
		have++
	}
	need := total/2 + 1
	if have >= need {
		return pollConfirmed, nil
	}
	type answer struct {
		term uint64
		err  error
	}
	answers := make(chan answer, len(peers)) // never blocks a sender
	cancels := make([]func(), 0, len(peers))
	defer func() {
		for _, c := range cancels {
			c() // outstanding requests end at once
		}
	}()
	ask := goAskTerm(ctx, p)
	if a, ok := p.(termAsker); ok {
		ask = a.askTerm
	}
	asked := 0
	askNext := func() {
		peer := peers[asked]
		asked++
		cancels = append(cancels, ask(peer, func(t uint64, err error) { answers <- answer{t, err} }))
	}
	for asked < need-have && asked < len(peers) {
		askNext()
	}
	var hedge <-chan time.Time
	if asked < len(peers) {
		t := time.NewTimer(pollHedge)
		defer t.Stop()
		hedge = t.C
	}
	for waiting := asked; waiting > 0; {
		var a answer
		select {
		case a = <-answers:
			waiting--
		case <-hedge:
			hedge = nil
			for asked < len(peers) {
				askNext()
				waiting++
			}
			continue
		case <-ctx.Done():
			return pollFailed, nil
		}
		switch {
		case a.err != nil:
			if asked < len(peers) {
				askNext()
				waiting++
			}
		case a.term > term:
			return pollDeposed, nil
		default:
			have++
			if have >= need {
				return pollConfirmed, nil
			}
		}
		if have+waiting+len(peers)-asked < need {
			return pollFailed, nil
		}
	}
	return pollFailed, nil
}

// termAsker is a termPoller that can ask a voter without a goroutine per
// request (groupPoller over the mux's CallAsync): done gets the answer,
// once, and must not block; cancel abandons the request, after which done
// gets an error unless the answer came first.
type termAsker interface {
	askTerm(peer raft.Server, done func(uint64, error)) (cancel func())
}

// goAskTerm asks through peerTerm on a goroutine per request, for pollers
// without askTerm; cancel waits for the goroutine, so the poll returns
// only when every request it started has ended.
func goAskTerm(ctx context.Context, p termPoller) func(raft.Server, func(uint64, error)) func() {
	return func(peer raft.Server, done func(uint64, error)) func() {
		ctx, cancel := context.WithCancel(ctx)
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			done(p.peerTerm(ctx, peer))
		}()
		return func() { cancel(); <-ended }
	}
}

// confirmLeadership is one leadership round for the verifier (see above).
// A nil error means this node led the group, in the term of its ready
// barrier, at some instant after the round started.
//
// The poll gets a heartbeat timeout (at most half of RequestTimeout): a
// voter that has not answered by then is as good as gone to raft too, and
// the fallback entry needs the rest of the time, since the verifier
// answers its waiters at RequestTimeout.
func (g *group) confirmLeadership() error {
	g.mu.Lock()
	term, ready := g.readyTerm, g.ready
	g.mu.Unlock()
	if !ready || g.raft.CurrentTerm() != term || g.raft.State() != raft.Leader {
		return errors.New("not the ready leader")
	}
	g.readRounds.Add(1)
	cfg := &g.n.cfg
	ctx, cancel := context.WithTimeout(context.Background(), min(cfg.HeartbeatTimeout, cfg.RequestTimeout/2))
	defer cancel()
	v, err := pollTerms(ctx, groupPoller{g}, term)
	switch {
	case err == nil && v == pollConfirmed:
		g.n.admin.met.ReadRound("poll")
		return nil
	case err == nil && v == pollDeposed:
		g.n.admin.met.ReadRound("failed")
		// A later term exists: this node's reads must go to the new
		// leader, which the caller's retry finds.
		return fmt.Errorf("a voter is in a term after %d", term)
	}
	g.readFallbacks.Add(1)
	err = g.raft.Apply(fsm.EncodeBatch(&fsm.Batch{Time: g.n.now()}), cfg.RequestTimeout).Error()
	if err != nil {
		g.n.admin.met.ReadRound("failed")
	} else {
		g.n.admin.met.ReadRound("fallback")
	}
	return err
}

// groupPoller polls a group's voters through its layer's peerCaller.
type groupPoller struct{ g *group }

func (p groupPoller) voters() (bool, []raft.Server, error) {
	f := p.g.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return false, nil, err
	}
	selfID := raft.ServerID(p.g.n.cfg.ID)
	var self bool
	var peers []raft.Server
	for _, s := range f.Configuration().Servers {
		if s.Suffrage != raft.Voter {
			continue
		}
		if s.ID == selfID {
			self = true
			continue
		}
		peers = append(peers, s)
	}
	if first := p.g.pollFirst.Load(); first != nil {
		for i, s := range peers {
			if s.ID == *first {
				peers[0], peers[i] = peers[i], peers[0]
				break
			}
		}
	}
	return self, peers, nil
}

// answered notes that peer answered a term poll, so the next poll asks
// it first.
func (p groupPoller) answered(peer raft.ServerID) {
	if first := p.g.pollFirst.Load(); first == nil || *first != peer {
		p.g.pollFirst.Store(&peer)
	}
}

// asyncCaller is a peerCaller that can also call without a goroutine per
// request (*mux.Mux, mux.CallAsync).
type asyncCaller interface {
	CallAsync(addr string, method uint8, payload []byte, done func([]byte, error)) (cancel func())
}

// askTerm is peerTerm for the poll, through CallAsync when the layer's
// caller has it: no goroutine per voter per round.
func (p groupPoller) askTerm(peer raft.Server, done func(uint64, error)) (cancel func()) {
	ac, ok := p.g.layer.peers.(asyncCaller)
	if !ok {
		return goAskTerm(context.Background(), p)(peer, done)
	}
	return ac.CallAsync(string(peer.Address), rpcTerm, p.termRequest(peer), func(out []byte, err error) {
		if err != nil {
			done(0, err)
			return
		}
		t, err := decodeTerm(out)
		if err == nil {
			p.answered(peer.ID)
		}
		done(t, err)
	})
}

// termRequest is rpcTerm's payload: the group, then the server id the
// poll is meant for.
func (p groupPoller) termRequest(peer raft.Server) []byte {
	req := binary.AppendUvarint(make([]byte, 0, 8+len(peer.ID)), uint64(p.g.id))
	return append(req, peer.ID...)
}

// decodeTerm reads rpcTerm's reply.
func decodeTerm(out []byte) (uint64, error) {
	t, k := binary.Uvarint(out)
	if k <= 0 || k != len(out) {
		return 0, fmt.Errorf("bad term reply of %d bytes", len(out))
	}
	return t, nil
}

// peerTerm asks peer for its term in this group. The request names the
// server it is meant for, and a node with another id refuses it: an
// address taken over by another node must not answer for the voter.
func (p groupPoller) peerTerm(ctx context.Context, peer raft.Server) (uint64, error) {
	out, err := p.g.layer.peers.Call(ctx, string(peer.Address), rpcTerm, p.termRequest(peer))
	if err != nil {
		return 0, err
	}
	t, err := decodeTerm(out)
	if err == nil {
		p.answered(peer.ID)
	}
	return t, err
}

// startLeaderRound is confirmLeadership without a goroutine, for the
// verifier (verifier.start): the term poll's parts go in the node's read
// cycle (readcycles.go), sharing requests with the node's other rounds
// to the same peers. It asks the first voters that make a majority with
// this node (groupPoller.voters' order). Whatever the cycle cannot
// settle (a failed or refused part, no answer within cycleHedge) runs
// confirmLeadership on a goroutine: a whole new round, started after
// this one's reads arrived, so as good a proof for them.
func (g *group) startLeaderRound(done func(uint64, error)) {
	g.mu.Lock()
	term, ready := g.readyTerm, g.ready
	g.mu.Unlock()
	if !ready || g.raft.CurrentTerm() != term || g.raft.State() != raft.Leader {
		done(0, errors.New("not the ready leader"))
		return
	}
	if _, ok := g.layer.peers.(asyncCaller); !ok {
		// Read cycles need CallAsync (the in-memory router of some tests
		// has only Call).
		g.verifier.roundAside(done)
		return
	}
	p := groupPoller{g}
	self, peers, err := p.voters()
	if err != nil {
		done(0, err)
		return
	}
	need, have := (len(peers)+1)/2+1, 0
	if !self {
		need = len(peers)/2 + 1
	} else {
		have = 1
	}
	if have >= need {
		g.readRounds.Add(1)
		g.n.admin.met.ReadRound("poll")
		done(0, nil)
		return
	}
	if need-have > len(peers) {
		// Too few voters to ask (not this node's case in any
		// configuration raft accepts): the single-part round decides.
		g.verifier.roundAside(done)
		return
	}
	lp := &cyclePoll{g: g, term: term, need: need - have, done: done}
	lp.mu.Lock() // fallBack, on the timer's goroutine, reads hedge
	lp.hedge = time.AfterFunc(cycleHedge, lp.fallBack)
	lp.mu.Unlock()
	for _, peer := range peers[:need-have] {
		id := peer.ID
		g.n.cycles.add(g.layer.peers, string(peer.Address), roundPart{kind: partTerm, group: g.id, id: string(id),
			done: func(t uint64, status byte, err error) { lp.answer(id, t, status, err) }})
	}
}

// cyclePoll is a leader round's term poll in a read cycle.
type cyclePoll struct {
	g    *group
	term uint64
	done func(uint64, error)

	mu    sync.Mutex
	hedge *time.Timer // runs fallBack after cycleHedge
	need  int         // answers of the term or lower still needed
	ended bool        // done was called, or handed to the fallback
}

// answer counts one voter's answer.
func (lp *cyclePoll) answer(id raft.ServerID, t uint64, status byte, err error) {
	lp.mu.Lock()
	if lp.ended {
		lp.mu.Unlock()
		return
	}
	hedge := lp.hedge
	switch {
	case err != nil || status != partOK:
		lp.mu.Unlock()
		lp.fallBack()
		return
	case t > lp.term:
		lp.ended = true
		lp.mu.Unlock()
		hedge.Stop()
		lp.g.readRounds.Add(1)
		lp.g.n.admin.met.ReadRound("failed")
		// A later term exists: this node's reads must go to the new
		// leader, which the caller's retry finds.
		lp.done(0, fmt.Errorf("a voter is in a term after %d", lp.term))
		return
	}
	groupPoller{lp.g}.answered(id)
	lp.need--
	if lp.need > 0 {
		lp.mu.Unlock()
		return
	}
	lp.ended = true
	lp.mu.Unlock()
	hedge.Stop()
	lp.g.readRounds.Add(1)
	lp.g.n.admin.met.ReadRound("poll")
	lp.done(0, nil)
}

// fallBack runs the round as confirmLeadership does, on a goroutine,
// unless the cycle already settled it. The round counts there
// (readRounds), not here.
func (lp *cyclePoll) fallBack() {
	lp.mu.Lock()
	if lp.ended {
		lp.mu.Unlock()
		return
	}
	lp.ended = true
	hedge := lp.hedge
	lp.mu.Unlock()
	hedge.Stop()
	lp.g.cycleFallbacks.Add(1)
	lp.g.verifier.roundAside(lp.done)
}
