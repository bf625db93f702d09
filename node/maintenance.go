package node

import (
	"context"
	"sort"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/fsm"
)

// sweepBatch bounds one expire command, keeping raft entries small.
const sweepBatch = 1000

// maintenanceLoop runs the group leader's periodic duties: the expiry
// sweeper and leadership balancing.
func (g *group) maintenanceLoop(ctx context.Context) {
	sweep := time.NewTicker(g.n.cfg.SweepInterval)
	defer sweep.Stop()
	balance := time.NewTicker(g.n.cfg.BalanceInterval)
	defer balance.Stop()
	tick := time.NewTicker(g.n.cfg.MaxStaleness / 4)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sweep.C:
			g.sweep(ctx)
		case <-balance.C:
			g.balance()
		case <-tick.C:
			g.clockTick(ctx)
		}
	}
}

// clockTick keeps the log clock moving on an idle group: when nothing was
// applied for MaxStaleness/4, the leader proposes an empty batch. Replicas
// measure the age of their state by the log clock (staleCheck), so this is
// what lets an idle cluster serve stale reads, at a cost of four tiny
// entries per MaxStaleness per group.
func (g *group) clockTick(ctx context.Context) {
	if !g.isReady() {
		return
	}
	if time.Duration(g.n.now()-g.fsm.Clock()) < g.n.cfg.MaxStaleness/4 {
		return
	}
	f := g.raft.Apply(fsm.EncodeBatch(&fsm.Batch{Time: g.n.now()}), time.Second)
	if err := f.Error(); err != nil {
		g.n.log.Debug("clock tick failed", "group", g.id, "err", err)
	}
}

// sweep proposes expire commands for records past their deadline. It
// confirms leadership first, so a deposed leader with a fast clock does not
// fill the log with expiries; the FSM re-checks every deadline against the
// log clock, so an expire can never cut a session short of its deadline as
// the log sees it.
func (g *group) sweep(ctx context.Context) {
	if !g.isLeader() {
		return
	}
	for ctx.Err() == nil {
		ids := g.fsm.Expired(g.n.now(), sweepBatch)
		if len(ids) == 0 {
			return
		}
		if err := g.raft.VerifyLeader().Error(); err != nil {
			return
		}
		cctx, cancel := context.WithTimeout(ctx, g.n.cfg.RequestTimeout)
		cmd := fsm.Command{Type: fsm.CmdExpire, Expire: &fsm.Expire{IDs: ids}}
		res, err := g.propose(cctx, cmd, commandSize(&cmd))
		cancel()
		if err != nil {
			g.n.log.Debug("sweep failed", "group", g.id, "err", err)
			return
		}
		if len(ids) < sweepBatch || res.Count == 0 {
			return
		}
	}
}

// preferredLeader is the voter that should lead group g: voters sorted by
// id, taken round-robin by group id, so with G == N each node leads one
// group and with G > N leadership spreads evenly.
func preferredLeader(gid int, servers []raft.Server) (raft.Server, bool) {
	var voters []raft.Server
	for _, s := range servers {
		if s.Suffrage == raft.Voter {
			voters = append(voters, s)
		}
	}
	if len(voters) == 0 {
		return raft.Server{}, false
	}
	sort.Slice(voters, func(i, j int) bool { return voters[i].ID < voters[j].ID })
	return voters[gid%len(voters)], true
}

// balance hands leadership to the group's preferred leader once the cluster
// is stable: every voter alive in gossip, and no transfer in the last few
// intervals (to avoid flapping while nodes restart).
func (g *group) balance() {
	if !g.isLeader() {
		return
	}
	f := g.raft.GetConfiguration()
	if f.Error() != nil {
		return
	}
	servers := f.Configuration().Servers
	pref, ok := preferredLeader(g.id, servers)
	if !ok || string(pref.ID) == g.n.cfg.ID {
		return
	}
	alive := map[string]bool{}
	for _, m := range g.n.members() {
		alive[m.ID] = m.Alive && !m.Draining
	}
	for _, s := range servers {
		if s.Suffrage == raft.Voter && !alive[string(s.ID)] {
			return
		}
	}
	if !g.caughtUp(pref.ID) {
		return
	}
	g.mu.Lock()
	if time.Since(g.lastTransfer) < 3*g.n.cfg.BalanceInterval {
		g.mu.Unlock()
		return
	}
	g.lastTransfer = time.Now()
	g.mu.Unlock()
	g.n.log.Info("transferring leadership for balance", "group", g.id, "to", pref.ID)
	if err := g.raft.LeadershipTransferToServer(pref.ID, pref.Address).Error(); err != nil {
		g.n.log.Warn("leadership transfer failed", "group", g.id, "to", pref.ID, "err", err)
	}
}

// balanceMaxLag is how far behind the leader's log a balance target may be.
const balanceMaxLag = 256

// caughtUp reports whether follower id answered an AppendEntries within
// half an election timeout and is at most balanceMaxLag entries behind.
//
// Why it matters beyond a quick transfer: hashicorp/raft v1.8.0 can leave
// "leadership transfer in progress" set for good when the leader loses
// leadership while its transfer goroutine still waits for the target's
// replication to catch up (hashicorp/raft#696, no release fixes it): the
// node then refuses every write and barrier whenever it leads again. A
// target that is reachable and current leaves that wait almost no window;
// one that is partitioned, paused or far behind holds it open for the
// whole election timeout. A jepsen netns run hit it after a balance
// transfer towards a blackholed node.
func (g *group) caughtUp(id raft.ServerID) bool {
	f := g.layer.followers
	if f == nil {
		return true // in-memory test layers do not track followers
	}
	last := g.raft.LastIndex()
	f.mu.Lock()
	seen, ok := f.seen[id]
	f.mu.Unlock()
	return ok && time.Since(seen.at) < g.n.cfg.ElectionTimeout/2 && seen.lastLog+balanceMaxLag >= last
}
