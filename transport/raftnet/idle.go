package raftnet

import (
	"bytes"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Idle appends.
//
// hashicorp/raft's replication loop sends every follower an AppendEntries
// each CommitTimeout even when it has nothing to say: no entries, and the
// same previous entry and commit index as the last one. That is how a
// follower learns a new commit index quickly (raft's heartbeats do not
// carry it), so CommitTimeout must stay short (5 ms in sessionraft, for
// the client caches' revocation bound), but on an idle group it is 200
// requests a second per follower for nothing: a profile of an idle
// three-node dev cluster put almost all of its 150 ms of CPU per second
// there, and under a read-only load it was 5-8% of every read's cost.
//
// So a synchronous AppendEntries that repeats the last one sent to the
// same peer (no entries, not a heartbeat, equal term, leader, previous
// entry and commit index) and whose last copy was answered with success
// less than Config.IdleAppendInterval ago is answered here with that
// answer, without a message. Anything new (an entry, a commit index, a
// term) always goes out at once, and a repeat still goes out every
// IdleAppendInterval.
//
// What raft does with the reused answer: it counts it as contact with the
// follower (replicateTo's setLastContact and notifyAll), which is true up
// to IdleAppendInterval ago. So a leader cut off from its followers steps
// down at most IdleAppendInterval later than LeaderLeaseTimeout, and
// raft's VerifyLeader can be satisfied by contact that old (sessionraft's
// linearizable reads do not use it; see node/leadercheck.go). It changes
// no match index: an answer to a request without entries moves none.
// OnAppend is not called for a reused answer, so the node's follower-lag
// figures see only real replies.
type idleAppends struct {
	mu    sync.Mutex
	last  map[raft.ServerAddress]idleAppend
	every time.Duration
}

// idleAppend is the last entry-less AppendEntries that reached a peer and
// was answered with success.
type idleAppend struct {
	term, prevIndex, prevTerm, commit uint64
	leader, id, addr                  []byte // copies
	resp                              raft.AppendEntriesResponse
	at                                time.Time // when it was sent
}

// idleCandidate reports whether req is the kind of request idle reuses.
func idleCandidate(req *raft.AppendEntriesRequest) bool {
	return len(req.Entries) == 0 && !isHeartbeat(req)
}

func (a *idleAppend) repeats(req *raft.AppendEntriesRequest) bool {
	return a.term == req.Term && a.prevIndex == req.PrevLogEntry && a.prevTerm == req.PrevLogTerm &&
		a.commit == req.LeaderCommitIndex && bytes.Equal(a.leader, req.Leader) && bytes.Equal(a.id, req.ID) && bytes.Equal(a.addr, req.Addr)
}

// reuse fills resp with the answer to the last identical request to
// target when there is a fresh one.
func (s *idleAppends) reuse(target raft.ServerAddress, req *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse, now time.Time) bool {
	if s.every <= 0 || !idleCandidate(req) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.last[target]
	if !ok || !a.repeats(req) || now.Sub(a.at) >= s.every {
		return false
	}
	*resp = a.resp
	return true
}

// record remembers the outcome of a request sent to target at sent: a
// successful entry-less answer in the request's own term can be reused;
// anything else (an error, a refusal, a newer term, a request with
// entries) forgets what was remembered, so the next request goes out.
func (s *idleAppends) record(target raft.ServerAddress, req *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse, err error, sent time.Time) {
	if s.every <= 0 || isHeartbeat(req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil || len(req.Entries) != 0 || !resp.Success || resp.Term != req.Term {
		delete(s.last, target)
		return
	}
	if s.last == nil {
		s.last = make(map[raft.ServerAddress]idleAppend)
	}
	s.last[target] = idleAppend{
		term: req.Term, prevIndex: req.PrevLogEntry, prevTerm: req.PrevLogTerm, commit: req.LeaderCommitIndex,
		leader: bytes.Clone(req.Leader), id: bytes.Clone(req.ID), addr: bytes.Clone(req.Addr),
		resp: *resp, at: sent,
	}
}
