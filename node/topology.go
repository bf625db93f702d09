package node

import (
	"strings"
	"time"

	"github.com/hashicorp/raft"
)

// groupStatus is this node's view of one group, for TOPOLOGY and INFO.
type groupStatus struct {
	ID           int
	Role         string
	Leader       string
	LeaderClient string
	Term         uint64
	Commit       uint64
	Applied      uint64
	LastContact  time.Duration // -1: leader or never
	Sessions     int
	Members      []memberStatus
	// ReadRounds and ReadFallbacks: see group.readRounds.
	ReadRounds, ReadFallbacks uint64
}

type memberStatus struct {
	ID, RaftAddr, ClientAddr, Suffrage string
	Alive                              bool
}

func (n *Node) status() []groupStatus {
	// Members are looked up by id and raft address together: gossip may
	// carry a forged member under a real member's id (with another
	// address), whose client address must not be handed to clients.
	type idAddr struct{ id, raft string }
	byID := map[idAddr]member{}
	for _, m := range n.members() {
		byID[idAddr{m.ID, m.Raft}] = m
	}
	out := make([]groupStatus, 0, len(n.groups))
	for _, g := range n.groups {
		st := groupStatus{
			ID:          g.id,
			Role:        strings.ToLower(g.raft.State().String()),
			Commit:      g.raft.CommitIndex(),
			Applied:     g.rfsm.applied.Load(),
			Sessions:    g.fsm.Len(),
			LastContact: -1,

			ReadRounds:    g.readRounds.Load(),
			ReadFallbacks: g.readFallbacks.Load(),
		}
		var leaderRaft string
		leaderRaft, st.Leader = g.leaderAddr()
		if m, ok := byID[idAddr{st.Leader, leaderRaft}]; ok {
			st.LeaderClient = m.Client
		}
		st.Term = g.raft.CurrentTerm()
		if g.raft.State() != raft.Leader {
			if lc := g.raft.LastContact(); !lc.IsZero() {
				st.LastContact = time.Since(lc)
			}
		}
		if f := g.raft.GetConfiguration(); f.Error() == nil {
			for _, s := range f.Configuration().Servers {
				m := byID[idAddr{string(s.ID), string(s.Address)}]
				st.Members = append(st.Members, memberStatus{
					ID: string(s.ID), RaftAddr: string(s.Address), ClientAddr: m.Client,
					Suffrage: strings.ToLower(s.Suffrage.String()), Alive: m.Alive,
				})
			}
		}
		out = append(out, st)
	}
	return out
}

func durMS(d time.Duration) int64 {
	if d < 0 {
		return -1
	}
	return d.Milliseconds()
}
