package node

import (
	"context"
	"time"

	"github.com/hashicorp/raft"
)

// The promoter and the dead-server cleanup: each group leader's own view,
// acted on one configuration change at a time. A new leader starts both
// from scratch (a non-voter's stable time restarts), which only delays a
// promotion.

// promoter is a leader's record of its groups' non-voters: since when each
// has been caught up and alive.
type promoter struct {
	since map[int]map[string]time.Time // group → non-voter id → healthy since
}

// memberTick runs one round of the membership duties of the groups this
// node leads: promote caught-up non-voters, and clean up dead voters when
// configured to.
func (n *Node) memberTick(ctx context.Context, p *promoter) {
	if p.since == nil {
		p.since = map[int]map[string]time.Time{}
	}
	byID := map[string]member{}
	for _, m := range n.members() {
		byID[m.ID] = m
	}
	for _, g := range n.groups {
		if !g.isLeader() {
			delete(p.since, g.id)
			continue
		}
		servers, err := g.config()
		if err != nil {
			continue
		}
		n.admitFounders(ctx, g, servers, byID)
		n.promoteGroup(ctx, p, g, servers, byID)
		n.noticeRemoved(ctx, g, servers, byID)
		if n.cfg.DeadServerCleanup > 0 {
			n.cleanupGroup(ctx, g, servers, byID)
		}
	}
}

// promoteGroup promotes a non-voter of g whose log has stayed within
// PromoteMaxLag entries of the leader's for PromoteStableFor, with the
// node alive in gossip (or not known to gossip at all, as on the
// in-memory test layer) and not draining. One promotion per round.
func (n *Node) promoteGroup(ctx context.Context, p *promoter, g *group, servers []raft.Server, byID map[string]member) {
	since := p.since[g.id]
	if since == nil {
		since = map[string]time.Time{}
		p.since[g.id] = since
	}
	seen := map[string]bool{}
	for _, s := range servers {
		if s.Suffrage != raft.Nonvoter {
			continue
		}
		id := string(s.ID)
		seen[id] = true
		m, known := byID[id]
		healthy := known && m.Alive && !m.Draining && !m.Removed
		if healthy {
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			sts, err := n.statsOf(sctx, string(s.Address))
			cancel()
			last := g.raft.LastIndex()
			healthy = err == nil && g.id < len(sts) && sts[g.id].LastIndex > 0 &&
				sts[g.id].LastIndex+n.cfg.PromoteMaxLag >= last
		}
		if !healthy {
			delete(since, id)
			continue
		}
		t, ok := since[id]
		if !ok {
			since[id] = time.Now()
			continue
		}
		if time.Since(t) < n.cfg.PromoteStableFor {
			continue
		}
		n.log.Info("promoting caught-up non-voter", "group", g.id, "id", id)
		err := g.raft.AddVoter(s.ID, s.Address, 0, 10*time.Second).Error()
		if err != nil {
			n.log.Warn("promotion failed", "group", g.id, "id", id, "err", err)
		}
		delete(since, id)
		return // one configuration change at a time
	}
	for id := range since {
		if !seen[id] {
			delete(since, id)
		}
	}
}

// admitFounders admits the servers of g's configuration that this node
// bootstrapped the cluster with and that have not bootstrapped themselves
// (they saw the others' state first), if they still run the incarnation
// they had then.
func (n *Node) admitFounders(ctx context.Context, g *group, servers []raft.Server, byID map[string]member) {
	founders := n.ident.get().Founders
	for _, s := range servers {
		m, ok := byID[string(s.ID)]
		if !ok || !m.Alive || m.Admitted || m.Inc == "" || founders[m.ID] != m.Inc {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		if err := n.memberCall(cctx, g, m.Raft, memberAdmit, m.ID, m.Inc); err != nil {
			n.log.Debug("admitting a founder", "id", m.ID, "err", err)
		} else {
			n.log.Info("admitted a founding server that did not bootstrap itself", "id", m.ID)
		}
		cancel()
	}
}

// noticeRemoved tells every alive server that was a member, and that g's
// configuration (this leader's, the authority) lacks, that g removed it.
func (n *Node) noticeRemoved(ctx context.Context, g *group, servers []raft.Server, byID map[string]member) {
	for id, m := range byID {
		if !m.Alive || !m.Admitted || !m.Member || m.Removed || id == n.cfg.ID {
			continue
		}
		if _, _, ok := suffrageOf(servers, id); ok {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		if err := n.memberCall(cctx, g, m.Raft, memberRemoved, id, ""); err != nil {
			n.log.Debug("removal notice", "group", g.id, "id", id, "err", err)
		}
		cancel()
	}
}

// cleanupGroup removes one voter of g that gossip has reported failed for
// DeadServerCleanup, if at least MinVoters voters remain afterwards. A
// server gossip never saw is left alone: its state is unknown, not failed.
func (n *Node) cleanupGroup(ctx context.Context, g *group, servers []raft.Server, byID map[string]member) {
	voters := 0
	for _, s := range servers {
		if s.Suffrage == raft.Voter {
			voters++
		}
	}
	if voters-1 < n.cfg.MinVoters {
		return
	}
	for _, s := range servers {
		m, known := byID[string(s.ID)]
		if !known || m.Alive || string(s.ID) == n.cfg.ID || m.Since.IsZero() || time.Since(m.Since) < n.cfg.DeadServerCleanup {
			continue
		}
		n.log.Warn("removing dead server (dead-server cleanup)", "group", g.id, "id", s.ID, "failed_for", time.Since(m.Since).Round(time.Second), "voters_left", voters-1)
		if err := g.raft.RemoveServer(s.ID, 0, 10*time.Second).Error(); err != nil {
			n.log.Warn("dead-server cleanup failed", "group", g.id, "id", s.ID, "err", err)
		}
		return // never more than one at a time
	}
}

// memberLoop runs memberTick often enough for PromoteStableFor.
func (n *Node) memberLoop(ctx context.Context) {
	every := min(max(n.cfg.PromoteStableFor/4, 20*time.Millisecond), time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	var p promoter
	for {
		n.noteMembership()
		n.memberTick(ctx, &p)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
