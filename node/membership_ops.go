package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Membership changes, per group. Every change of a group's configuration
// runs on that group's leader (raft refuses it elsewhere), so MEMBER
// commands, answered by any node, send each step to the leader of the group
// it concerns over the internal RPC (rpcMember) and retry while leadership
// moves. Raft itself allows one configuration change in flight per group;
// the commands wait for each to commit before the next.
//
// Each group has its own voter set: nothing here assumes that a node is in
// every group, only that the commands ask for it today.

// Operations of rpcMember.
const (
	memberAddNonvoter byte = 1 // leader: add id at addr as a non-voter, if absent
	memberRemove      byte = 2 // leader: remove id from the group
	memberDrain       byte = 3 // on the named node: stop taking leaderships, transfer every one it holds
	memberAdmit       byte = 4 // on the named node: admit incarnation addr (the data directory's)
	// memberRemoved, on the named node: the sender leads the group and its
	// configuration lacks the node. A removed server is not always sent
	// the entry that removes it (raft stops replicating to it), so leaders
	// tell it; once every group's leader has, within removedWindow, it
	// stops serving.
	memberRemoved byte = 5
)

// removedWindow bounds how far apart the removal notices of the groups
// may be for a node to conclude it was removed from all of them.
const removedWindow = 30 * time.Second

// groupConfig returns group g's latest configuration as this node knows it.
func (g *group) config() ([]raft.Server, error) {
	f := g.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return f.Configuration().Servers, nil
}

// suffrageOf returns id's suffrage in servers, and whether it is there.
func suffrageOf(servers []raft.Server, id string) (raft.ServerSuffrage, raft.ServerAddress, bool) {
	for _, s := range servers {
		if string(s.ID) == id {
			return s.Suffrage, s.Address, true
		}
	}
	return 0, "", false
}

// localMemberOp runs op on this node for group g. Leader operations fail
// with ErrNotLeader elsewhere, which the caller retries on the new leader.
func (n *Node) localMemberOp(ctx context.Context, g *group, op byte, id, addr string) error {
	timeout := time.Until(deadlineOr(ctx, 10*time.Second))
	switch op {
	case memberAddNonvoter:
		if !g.isLeader() {
			return ErrNotLeader
		}
		servers, err := g.config()
		if err != nil {
			return err
		}
		if _, a, ok := suffrageOf(servers, id); ok && string(a) == addr {
			return nil // already there: voter or non-voter, the promoter decides
		}
		n.log.Info("adding non-voter", "group", g.id, "id", id, "addr", addr)
		return translateConfErr(g.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout).Error())
	case memberRemove:
		if !g.isLeader() {
			return ErrNotLeader
		}
		servers, err := g.config()
		if err != nil {
			return err
		}
		if _, _, ok := suffrageOf(servers, id); !ok {
			return nil
		}
		if id == n.cfg.ID {
			// The caller transfers leadership away first; until that
			// happened, answer as a follower would.
			return fmt.Errorf("%w: removing the leader itself", ErrNotLeader)
		}
		voters := 0
		for _, s := range servers {
			if s.Suffrage == raft.Voter && string(s.ID) != id {
				voters++
			}
		}
		if voters == 0 {
			return fmt.Errorf("%w: %s is the last voter of group %d", ErrMemberRefused, id, g.id)
		}
		n.log.Info("removing server", "group", g.id, "id", id)
		return translateConfErr(g.raft.RemoveServer(raft.ServerID(id), 0, timeout).Error())
	case memberDrain:
		if id != n.cfg.ID {
			return fmt.Errorf("%w: drain for server %q reached %q", ErrBadArg, clipID([]byte(id)), n.cfg.ID)
		}
		n.ident.draining.Store(true)
		n.gossipSelf()
		return n.transferLeaderships(ctx)
	case memberAdmit:
		if id != n.cfg.ID {
			return fmt.Errorf("%w: admit for server %q reached %q", ErrBadArg, clipID([]byte(id)), n.cfg.ID)
		}
		cur := n.ident.get()
		if cur.Incarnation != addr {
			return fmt.Errorf("%w: %s's data directory changed since its incarnation was checked (now %s)", ErrMemberRefused, id, cur.Incarnation)
		}
		if cur.Removed {
			return fmt.Errorf("%w: %s's data directory was removed from the cluster; wipe it to add the node again", ErrMemberRefused, id)
		}
		if !cur.Admitted {
			n.log.Info("admitted to the cluster", "incarnation", addr)
		}
		if err := n.ident.update(func(i *identity) { i.Admitted = true }); err != nil {
			return fmt.Errorf("%w: cannot record admission: %v", ErrUnavailable, err)
		}
		n.gossipSelf()
		return nil
	case memberRemoved:
		if id != n.cfg.ID {
			return fmt.Errorf("%w: removal notice for server %q reached %q", ErrBadArg, clipID([]byte(id)), n.cfg.ID)
		}
		n.removalNotice(g.id)
		return nil
	default:
		return fmt.Errorf("%w: unknown member op %d", ErrBadArg, op)
	}
}

// removalNotice records that group gid's leader no longer has this node,
// and marks the node removed once every group's leader said so recently.
func (n *Node) removalNotice(gid int) {
	n.memberMu.Lock()
	if n.removedFrom == nil {
		n.removedFrom = map[int]time.Time{}
	}
	n.removedFrom[gid] = time.Now()
	all := len(n.removedFrom) == len(n.groups)
	for _, t := range n.removedFrom {
		all = all && time.Since(t) < removedWindow
	}
	n.memberMu.Unlock()
	cur := n.ident.get()
	if !all || cur.Removed || !cur.Admitted {
		return
	}
	n.log.Error("every group's leader says this node was removed from the cluster; it serves no more requests. To use it again, wipe its data directory, start it and run MEMBER ADD " + n.cfg.ID)
	if err := n.ident.update(func(i *identity) { i.Removed = true }); err != nil {
		n.log.Error("cannot record the removal", "err", err)
	}
	n.gossipSelf()
}

// translateConfErr maps a configuration change's error. A change raft
// refused before appending it (not leader, a transfer in progress) is
// retried; any other failure may have been appended, and the callers
// re-read the configuration before trying again, so it is also retried.
func translateConfErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress),
		errors.Is(err, raft.ErrLeadershipLost):
		return fmt.Errorf("%w: %v", ErrNotLeader, err)
	default:
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
}

func deadlineOr(ctx context.Context, d time.Duration) time.Time {
	if dl, ok := ctx.Deadline(); ok {
		return dl
	}
	return time.Now().Add(d)
}

// memberCall runs op for group g on the node at raft address addr (this
// node when addr is its own).
func (n *Node) memberCall(ctx context.Context, g *group, addr string, op byte, id, arg string) error {
	if addr == n.self.Raft {
		return n.localMemberOp(ctx, g, op, id, arg)
	}
	p := appendMemberOp(binary.AppendUvarint(nil, uint64(g.id)), op, id, arg)
	_, err := g.layer.peers.Call(ctx, addr, rpcMember, p)
	return translateCallErr(err, false)
}

// onLeader runs a leader op for group g on its current leader, retrying
// while the group has none or leadership moves.
func (n *Node) onLeader(ctx context.Context, g *group, op byte, id, arg string) error {
	var s memberSteps
	return n.retryUnapplied(ctx, func() error {
		addr, lid := g.leaderAddr()
		if addr == "" {
			return fmt.Errorf("%w: group %d has no leader", ErrUnavailable, g.id)
		}
		return s.call(ctx, n, g, addr, lid, op, id, arg)
	})
}

// memberStepTimeout bounds one attempt of a leader op: a call that hangs
// (a leader that lost its quorum, a connection gone half-dead) is given
// up and tried again on whoever leads then, instead of holding the whole
// MEMBER command until its own deadline. The ops are idempotent.
const memberStepTimeout = 15 * time.Second

// memberSteps logs, at most every few seconds, why a leader op is still
// being retried: without it a MEMBER command that never finishes says
// nothing about which group and leader it waits for.
type memberSteps struct{ logged time.Time }

func (s *memberSteps) call(ctx context.Context, n *Node, g *group, addr, lid string, op byte, id, arg string) error {
	actx, cancel := context.WithTimeout(ctx, memberStepTimeout)
	defer cancel()
	err := n.memberCall(actx, g, addr, op, id, arg)
	if err != nil && time.Since(s.logged) > 5*time.Second {
		s.logged = time.Now()
		n.log.Info("membership step not done yet; retrying", "group", g.id, "op", op, "id", id, "leader", lid, "err", err)
	}
	return err
}

// handleMemberRPC serves rpcMember and rpcMemberStat (forward.go routes
// them here).
func (n *Node) handleMemberRPC(ctx context.Context, g *group, method uint8, payload []byte) ([]byte, error) {
	switch method {
	case rpcMemberStat:
		return appendStats(nil, n.localStats()), nil
	case rpcMember:
		op, id, arg, err := decodeMemberOp(payload)
		if err != nil {
			return nil, asReply(err)
		}
		ctx, cancel := context.WithTimeout(ctx, n.cfg.MemberTimeout)
		defer cancel()
		return nil, asReply(n.localMemberOp(ctx, g, op, id, arg))
	}
	return nil, asReply(fmt.Errorf("%w: unknown rpc method %d", ErrBadArg, method))
}

// appendMemberOp encodes an rpcMember body (after the group id).
func appendMemberOp(dst []byte, op byte, id, arg string) []byte {
	dst = append(dst, op)
	dst = binary.AppendUvarint(dst, uint64(len(id)))
	dst = append(dst, id...)
	return append(dst, arg...)
}

// decodeMemberOp reads what appendMemberOp wrote.
func decodeMemberOp(b []byte) (op byte, id, arg string, err error) {
	if len(b) < 1 {
		return 0, "", "", fmt.Errorf("%w: bad member header", ErrBadArg)
	}
	l, k := binary.Uvarint(b[1:])
	if k <= 0 || uint64(len(b)-1-k) < l {
		return 0, "", "", fmt.Errorf("%w: bad member header", ErrBadArg)
	}
	return b[0], string(b[1+k : 1+k+int(l)]), string(b[1+k+int(l):]), nil
}

// groupStat is one node's view of one of its groups.
type groupStat struct {
	LastIndex   uint64
	Applied     uint64
	LastContact time.Duration // -1: leader, or never heard from one
	Leader      bool
}

func (n *Node) localStats() []groupStat {
	out := make([]groupStat, len(n.groups))
	for i, g := range n.groups {
		st := groupStat{LastIndex: g.raft.LastIndex(), Applied: g.rfsm.applied.Load(), LastContact: -1}
		if g.raft.State() == raft.Leader {
			st.Leader = true
		} else if lc := g.raft.LastContact(); !lc.IsZero() {
			st.LastContact = time.Since(lc)
		}
		out[i] = st
	}
	return out
}

func appendStats(dst []byte, sts []groupStat) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(sts)))
	for _, s := range sts {
		dst = binary.AppendUvarint(dst, s.LastIndex)
		dst = binary.AppendUvarint(dst, s.Applied)
		var lc uint64 // 0: none (leader, or never heard from one)
		if s.LastContact >= 0 {
			lc = uint64(s.LastContact.Milliseconds()) + 1
		}
		dst = binary.AppendUvarint(dst, lc)
		var b byte
		if s.Leader {
			b = 1
		}
		dst = append(dst, b)
	}
	return dst
}

func decodeStats(b []byte) ([]groupStat, error) {
	bad := fmt.Errorf("%w: bad stat reply", ErrUnavailable)
	cnt, k := binary.Uvarint(b)
	if k <= 0 || cnt > maxGroups {
		return nil, bad
	}
	b = b[k:]
	out := make([]groupStat, 0, cnt)
	for range cnt {
		var v [3]uint64
		for i := range v {
			x, k := binary.Uvarint(b)
			if k <= 0 {
				return nil, bad
			}
			v[i], b = x, b[k:]
		}
		if len(b) < 1 {
			return nil, bad
		}
		lc := time.Duration(-1)
		if v[2] > 0 {
			lc = time.Duration(v[2]-1) * time.Millisecond
		}
		out = append(out, groupStat{LastIndex: v[0], Applied: v[1], LastContact: lc, Leader: b[0] == 1})
		b = b[1:]
	}
	if len(b) != 0 {
		return nil, bad
	}
	return out, nil
}

// statsOf asks the node at raft address addr for its group stats.
func (n *Node) statsOf(ctx context.Context, addr string) ([]groupStat, error) {
	if addr == n.self.Raft {
		return n.localStats(), nil
	}
	if len(n.groups) == 0 {
		return nil, ErrUnavailable
	}
	b, err := n.groups[0].layer.peers.Call(ctx, addr, rpcMemberStat, binary.AppendUvarint(nil, 0))
	if err != nil {
		return nil, translateCallErr(err, false)
	}
	return decodeStats(b)
}

// transferLeaderships hands every group this node leads to an up-to-date
// voter (raft picks the one with the highest match index) and waits until
// it leads none, or ctx ends. Groups without another voter stay.
func (n *Node) transferLeaderships(ctx context.Context) error {
	for {
		led := 0
		for _, g := range n.groups {
			if !g.isLeader() {
				continue
			}
			servers, err := g.config()
			if err != nil {
				continue
			}
			others := 0
			for _, s := range servers {
				if s.Suffrage == raft.Voter && string(s.ID) != n.cfg.ID {
					others++
				}
			}
			if others == 0 {
				continue
			}
			led++
			if err := g.raft.LeadershipTransfer().Error(); err != nil {
				n.log.Debug("leadership transfer", "group", g.id, "err", err)
			} else {
				n.log.Info("leadership transferred", "group", g.id)
			}
		}
		if led == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: leadership transfer: %v", ErrUnavailable, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// gossipSelf refreshes this node's gossiped metadata from its identity.
func (n *Node) gossipSelf() {
	id := n.ident.get()
	n.mu.Lock()
	n.self.Inc = id.Incarnation
	n.self.Admitted = id.Admitted
	n.self.Member = id.Member
	n.self.Removed = id.Removed
	n.self.Draining = n.ident.draining.Load()
	n.mu.Unlock()
	if n.ml != nil {
		if err := n.ml.UpdateNode(time.Second); err != nil {
			n.log.Debug("gossip update", "err", err)
		}
	}
}

// noteMembership records, from the groups' configurations, that this node
// became a member, or that every group removed it. A removed node stops
// serving for good: its data directory records it.
func (n *Node) noteMembership() {
	cur := n.ident.get()
	if cur.Removed || !cur.Admitted {
		return
	}
	in, known := 0, 0
	for _, g := range n.groups {
		has, err := g.hasState()
		if err != nil || !has {
			continue
		}
		servers, err := g.config()
		if err != nil {
			return
		}
		known++
		if _, _, ok := suffrageOf(servers, n.cfg.ID); ok {
			in++
		}
	}
	switch {
	case in > 0 && !cur.Member:
		_ = n.ident.update(func(i *identity) { i.Member = true })
		n.gossipSelf()
	case in == 0 && known == len(n.groups) && known > 0 && cur.Member:
		n.log.Error("this node was removed from every group of the cluster; it serves no more requests. To use it again, wipe its data directory, start it and run MEMBER ADD " + n.cfg.ID)
		if err := n.ident.update(func(i *identity) { i.Removed = true }); err != nil {
			n.log.Error("cannot record the removal", "err", err)
		}
		n.gossipSelf()
	}
}
