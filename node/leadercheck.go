package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/fsm"
)

// A linearizable read needs proof that, at some instant after the read
// arrived, no leader of a later term existed: then nothing newer than the
// read index had been committed. The proof used here is a term poll. The
// leader of term T asks every voter for its current raft term (rpcTerm)
// and counts the voters that answer a term no higher than T, itself
// included. A voter raises its term before it grants a vote in a later
// term, so a voter that answers "T or lower" at instant t had cast no
// such vote before t. A later term's leader needs the votes of a majority,
// which shares a voter with any majority that answered, and that voter
// voted after it answered, so after the round started. Hence when a
// majority has answered, no later leader existed when the round started,
// and every read that joined the round (before it started) may be served
// at its read index.
//
// This costs one round trip to the nearest majority and no disk write.
// raft's own VerifyLeader is not used: hashicorp/raft v1.8.0 counts any
// successful AppendEntries reply that arrives after the call, including
// replies to requests sent before it, so a leader resumed after SIGSTOP
// confirmed itself on replies from before its pause (jepsen caught it
// serving a read older than an acknowledged write). A poll here carries
// no such history: each round's requests are sent after every read it
// answers had arrived, and only their own replies are counted.
//
// If the poll does not reach a majority (a partition, a slow peer, a peer
// running a version without rpcTerm during a rolling upgrade), the round
// falls back to committing an empty entry, which can only commit through
// fresh acknowledgements in this leader's term.

// termPoller is what a leadership round needs from the cluster: the
// voters of the latest configuration and a way to ask one for its term.
// The group implements it over the mux; tests fake it.
type termPoller interface {
	voters() (self bool, peers []string, err error)
	peerTerm(ctx context.Context, addr string) (uint64, error)
}

// pollTerms reports whether a majority of the voters, counting this node
// when self is true, answered a term no higher than term. It stops
// asking as soon as the answer is known, and returns only when every
// request it started has ended.
func pollTerms(ctx context.Context, p termPoller, term uint64) (bool, error) {
	self, peers, err := p.voters()
	if err != nil {
		return false, err
	}
	total := len(peers)
	have := 0
	if self {
		total++
		have++
	}
	need := total/2 + 1
	if have >= need {
		return true, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	answers := make(chan bool, len(peers))
	var wg sync.WaitGroup
	for _, addr := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t, err := p.peerTerm(ctx, addr)
			answers <- err == nil && t <= term
		}()
	}
	defer func() {
		cancel() // outstanding requests return at once
		wg.Wait()
	}()
	for range peers {
		if <-answers {
			have++
			if have >= need {
				return true, nil
			}
		}
	}
	return false, nil
}

// confirmLeadership is one leadership round for the verifier (see above).
// A nil error means this node led the group, in the term of its ready
// barrier, at some instant after the round started.
func (g *group) confirmLeadership() error {
	g.mu.Lock()
	term, ready := g.readyTerm, g.ready
	g.mu.Unlock()
	if !ready || g.raft.CurrentTerm() != term || g.raft.State() != raft.Leader {
		return errors.New("not the ready leader")
	}
	g.readRounds.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), g.n.cfg.RequestTimeout)
	defer cancel()
	ok, err := pollTerms(ctx, groupPoller{g}, term)
	if err == nil && ok {
		return nil
	}
	g.readFallbacks.Add(1)
	return g.raft.Apply(fsm.EncodeBatch(&fsm.Batch{Time: g.n.now()}), g.n.cfg.RequestTimeout).Error()
}

// groupPoller polls a group's voters over the mux.
type groupPoller struct{ g *group }

func (p groupPoller) voters() (bool, []string, error) {
	f := p.g.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return false, nil, err
	}
	selfID := raft.ServerID(p.g.n.cfg.ID)
	var self bool
	var peers []string
	for _, s := range f.Configuration().Servers {
		if s.Suffrage != raft.Voter {
			continue
		}
		if s.ID == selfID {
			self = true
			continue
		}
		peers = append(peers, string(s.Address))
	}
	return self, peers, nil
}

func (p groupPoller) peerTerm(ctx context.Context, addr string) (uint64, error) {
	out, err := p.g.n.mux.Call(ctx, addr, rpcTerm, binary.AppendUvarint(nil, uint64(p.g.id)))
	if err != nil {
		return 0, err
	}
	t, k := binary.Uvarint(out)
	if k <= 0 || k != len(out) {
		return 0, fmt.Errorf("bad term reply of %d bytes", len(out))
	}
	return t, nil
}
