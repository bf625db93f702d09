package node

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/transport/resp"
	"github.com/sessionraft/sessionraft/transport/wire"
)

// MEMBER: the operator's membership commands, answered by any node; each
// step runs on the leader of the group it changes (membership_ops.go).
//
//	MEMBER LIST                 every known server: suffrage per group, health, last contact, lag
//	MEMBER ADD id               admit a gossiped server and add it as a non-voter everywhere;
//	                            each group's leader promotes it once caught up (membership_promote.go)
//	MEMBER REMOVE id            move its leaderships away, then remove it, one group at a time
//	MEMBER REPLACE old new      ADD new, wait until it votes in every group, REMOVE old
func (h *handler) member(q request) func(context.Context) {
	sub := strings.ToUpper(string(q.args[1]))
	want := map[string]int{"LIST": 2, "ADD": 3, "REMOVE": 3, "REPLACE": 4}
	n, ok := want[sub]
	if !ok {
		q.r.WriteError(wire.CodeBadArg, fmt.Sprintf("unknown MEMBER subcommand '%.32s' (LIST, ADD, REMOVE, REPLACE)", q.args[1]))
		return nil
	}
	if len(q.args) != n {
		q.r.WriteError(wire.CodeBadArg, fmt.Sprintf("wrong number of arguments for 'member|%s'", strings.ToLower(sub)))
		return nil
	}
	args := make([]string, len(q.args)-2)
	for i := range args {
		args[i] = string(q.args[i+2])
	}
	r := q.r
	return func(ctx context.Context) {
		if sub == "LIST" {
			h.n.writeMemberList(ctx, r)
			return
		}
		// A membership change outlives a request's timeout: a REPLACE
		// waits for a promotion. It ends with MemberTimeout or the node.
		mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.n.cfg.MemberTimeout)
		defer cancel()
		go func() {
			select {
			case <-h.n.closing:
				cancel()
			case <-mctx.Done():
			}
		}()
		var err error
		switch sub {
		case "ADD":
			err = h.n.MemberAdd(mctx, args[0])
		case "REMOVE":
			err = h.n.MemberRemove(mctx, args[0])
		case "REPLACE":
			err = h.n.MemberReplace(mctx, args[0], args[1])
		}
		if err != nil {
			writeErr(r, err)
			return
		}
		r.WriteSimple("OK")
	}
}

// configs returns this node's view of every group's configuration.
func (n *Node) configs() ([][]raft.Server, error) {
	out := make([][]raft.Server, len(n.groups))
	for i, g := range n.groups {
		s, err := g.config()
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// configAddr returns id's raft address from any configuration, and
// whether id is in one.
func configAddr(cfgs [][]raft.Server, id string) (string, bool) {
	for _, servers := range cfgs {
		if _, a, ok := suffrageOf(servers, id); ok {
			return string(a), true
		}
	}
	return "", false
}

// checkAuthority refuses a membership change asked of a node that is not
// itself a member: its checks read its own view of the configurations,
// and a node that was never admitted, or not yet added, or was removed,
// has none worth trusting. Without this, a wiped voter sent MEMBER ADD
// for its own id sees no configuration holding it (its raft state is
// gone), admits itself, and votes again with an empty log under an id the
// others still count: the very thing incarnations exist to prevent.
func (n *Node) checkAuthority() error {
	id := n.ident.get()
	if !id.Admitted || !id.Member || id.Removed {
		return fmt.Errorf("%w: %s is not a member of the cluster (its data directory was not admitted, not added yet, or removed); send MEMBER to a member", ErrMemberRefused, n.cfg.ID)
	}
	return nil
}

// MemberAdd admits the gossiped server id and adds it to every group as a
// non-voter. It refuses a data directory that cannot be trusted: one that
// was removed, one with state from an earlier membership, or a wiped one
// under an id still in a configuration.
func (n *Node) MemberAdd(ctx context.Context, id string) error {
	if err := n.checkAuthority(); err != nil {
		return err
	}
	m, ok := n.memberByID(id)
	if !ok || !m.Alive {
		return fmt.Errorf("%w: %s is not alive in gossip; start it with --join and no --bootstrap-expect first", ErrMemberRefused, clipID([]byte(id)))
	}
	if m.Groups != len(n.groups) {
		return fmt.Errorf("%w: %s runs %d groups, this cluster %d", ErrMemberRefused, id, m.Groups, len(n.groups))
	}
	if m.Removed {
		return fmt.Errorf("%w: %s's data directory (incarnation %s) was removed from the cluster; wipe it and start the node again to add it", ErrMemberRefused, id, m.Inc)
	}
	cfgs, err := n.configs()
	if err != nil {
		return err
	}
	_, present := configAddr(cfgs, id)
	if m.Admitted && m.Member && !present {
		n.log.Error("refusing a server with state from an earlier membership", "id", id, "incarnation", m.Inc)
		return fmt.Errorf("%w: %s holds state from an earlier membership (incarnation %s); wipe its data directory to add it again", ErrMemberRefused, id, m.Inc)
	}
	if !m.Admitted && present {
		n.log.Error("refusing a wiped server under an id still in the cluster", "id", id, "incarnation", m.Inc)
		return fmt.Errorf("%w: %s came back with a new data directory (incarnation %s) under an id still in the cluster; MEMBER REMOVE %s first, then MEMBER ADD it", ErrMemberRefused, id, m.Inc, id)
	}
	// Admit through the server itself even when gossip says it is
	// admitted already: gossip can still carry the previous process's
	// state for a while after a wiped node restarts under the same id and
	// address, and adding it on that word left the new data directory
	// unadmitted, refusing the raft traffic of the groups it was added to
	// (a 10-minute jepsen run with the member nemesis). The server checks
	// that its incarnation is still m.Inc, so a stale view fails here and
	// the operator (or the nemesis) retries once gossip has caught up.
	if err := n.retryUnapplied(ctx, func() error {
		return n.memberCall(ctx, n.groups[0], m.Raft, memberAdmit, id, m.Inc)
	}); err != nil {
		return err
	}
	for _, g := range n.groups {
		if err := n.onLeader(ctx, g, memberAddNonvoter, id, m.Raft); err != nil {
			return fmt.Errorf("group %d: %w", g.id, err)
		}
	}
	n.log.Info("member added as non-voter in every group", "id", id)
	return nil
}

// MemberRemove moves every leadership id holds to an up-to-date voter,
// then removes id from each group in turn.
func (n *Node) MemberRemove(ctx context.Context, id string) error {
	if err := n.checkAuthority(); err != nil {
		return err
	}
	cfgs, err := n.configs()
	if err != nil {
		return err
	}
	addr, present := configAddr(cfgs, id)
	if !present {
		return fmt.Errorf("%w: %s is in no group", ErrMemberRefused, clipID([]byte(id)))
	}
	drain := func() {
		dctx, cancel := context.WithTimeout(ctx, 3*n.cfg.ElectionTimeout+time.Second)
		defer cancel()
		if err := n.memberCall(dctx, n.groups[0], addr, memberDrain, id, ""); err != nil {
			n.log.Info("could not drain the server being removed (down?)", "id", id, "err", err)
		}
	}
	if m, ok := n.memberByID(id); !ok || m.Alive {
		drain()
	}
	for _, g := range n.groups {
		var s memberSteps
		err := n.retryUnapplied(ctx, func() error {
			laddr, lid := g.leaderAddr()
			if laddr == "" {
				return fmt.Errorf("%w: group %d has no leader", ErrUnavailable, g.id)
			}
			if lid == id {
				drain()
				return fmt.Errorf("%w: %s still leads group %d", ErrNotLeader, id, g.id)
			}
			return s.call(ctx, n, g, laddr, lid, memberRemove, id, "")
		})
		if err != nil {
			return fmt.Errorf("group %d: %w", g.id, err)
		}
	}
	n.log.Info("member removed from every group", "id", id)
	return nil
}

// MemberReplace adds newID, waits until it is a voter in every group, then
// removes oldID: the voter count never drops below what it was.
func (n *Node) MemberReplace(ctx context.Context, oldID, newID string) error {
	if oldID == newID {
		return fmt.Errorf("%w: old and new are the same server", ErrMemberRefused)
	}
	if err := n.checkAuthority(); err != nil {
		return err
	}
	cfgs, err := n.configs()
	if err != nil {
		return err
	}
	if _, ok := configAddr(cfgs, oldID); !ok {
		return fmt.Errorf("%w: %s is in no group", ErrMemberRefused, clipID([]byte(oldID)))
	}
	if err := n.MemberAdd(ctx, newID); err != nil {
		return err
	}
	if err := n.waitVoterEverywhere(ctx, newID); err != nil {
		return err
	}
	return n.MemberRemove(ctx, oldID)
}

// waitVoterEverywhere polls this node's configurations until id votes in
// every group.
func (n *Node) waitVoterEverywhere(ctx context.Context, id string) error {
	for {
		cfgs, err := n.configs()
		if err == nil {
			all := true
			for _, servers := range cfgs {
				if s, _, ok := suffrageOf(servers, id); !ok || s != raft.Voter {
					all = false
				}
			}
			if all {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %s not yet a voter in every group: %v", ErrUnavailable, id, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// memberRow is one server of MEMBER LIST.
type memberRow struct {
	ID, Raft, Client, Inc, Health string
	Admitted, Draining, Removed   bool
	Groups                        []memberGroupRow
}

type memberGroupRow struct {
	Suffrage    string // voter, nonvoter, none
	Lag         int64  // entries behind the most advanced log seen; -1 unknown
	LastContact int64  // ms since it heard from the leader; -1 leader or unknown
}

// memberRows gathers MEMBER LIST: every server gossip knows or a
// configuration names, with each one's own stats (asked over RPC, one
// second each, all at once).
func (n *Node) memberRows(ctx context.Context) ([]memberRow, error) {
	cfgs, err := n.configs()
	if err != nil {
		return nil, err
	}
	rows := map[string]*memberRow{}
	for _, m := range n.members() {
		health := "failed"
		if m.Alive {
			health = "alive"
		}
		rows[m.ID] = &memberRow{ID: m.ID, Raft: m.Raft, Client: m.Client, Inc: m.Inc, Health: health,
			Admitted: m.Admitted, Draining: m.Draining, Removed: m.Removed}
	}
	for _, servers := range cfgs {
		for _, s := range servers {
			if _, ok := rows[string(s.ID)]; !ok {
				rows[string(s.ID)] = &memberRow{ID: string(s.ID), Raft: string(s.Address), Health: "unknown"}
			}
		}
	}
	if r, ok := rows[n.cfg.ID]; ok {
		id := n.ident.get()
		r.Health, r.Inc, r.Admitted, r.Removed, r.Draining = "alive", id.Incarnation, id.Admitted, id.Removed, n.ident.draining.Load()
	}
	out := make([]memberRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })

	stats := make([][]groupStat, len(out))
	var wg sync.WaitGroup
	for i := range out {
		if out[i].Raft == "" || out[i].Health == "failed" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			if st, err := n.statsOf(sctx, out[i].Raft); err == nil && len(st) == len(n.groups) {
				stats[i] = st
			}
		}()
	}
	wg.Wait()
	newest := make([]uint64, len(n.groups))
	for _, st := range stats {
		for g, s := range st {
			newest[g] = max(newest[g], s.LastIndex)
		}
	}
	for i := range out {
		out[i].Groups = make([]memberGroupRow, len(n.groups))
		for g := range n.groups {
			row := memberGroupRow{Suffrage: "none", Lag: -1, LastContact: -1}
			if s, _, ok := suffrageOf(cfgs[g], out[i].ID); ok {
				row.Suffrage = strings.ToLower(s.String())
			}
			if st := stats[i]; st != nil {
				row.Lag = int64(newest[g] - min(newest[g], st[g].LastIndex))
				row.LastContact = durMS(st[g].LastContact)
			}
			out[i].Groups[g] = row
		}
	}
	return out, nil
}

func (n *Node) writeMemberList(ctx context.Context, r *resp.Reply) {
	rows, err := n.memberRows(ctx)
	if err != nil {
		writeErr(r, err)
		return
	}
	r.WriteArrayLen(len(rows))
	for _, m := range rows {
		r.WriteMapLen(9)
		for _, kv := range [][2]string{{"id", m.ID}, {"raft_addr", m.Raft}, {"client_addr", m.Client}, {"incarnation", m.Inc}, {"health", m.Health}} {
			r.WriteBulkString(kv[0])
			r.WriteBulkString(kv[1])
		}
		r.WriteBulkString("admitted")
		r.WriteBool(m.Admitted)
		r.WriteBulkString("draining")
		r.WriteBool(m.Draining)
		r.WriteBulkString("removed")
		r.WriteBool(m.Removed)
		r.WriteBulkString("groups")
		r.WriteArrayLen(len(m.Groups))
		for g, gr := range m.Groups {
			r.WriteMapLen(4)
			r.WriteBulkString("group")
			r.WriteInt(int64(g))
			r.WriteBulkString("suffrage")
			r.WriteBulkString(gr.Suffrage)
			r.WriteBulkString("lag")
			r.WriteInt(gr.Lag)
			r.WriteBulkString("last_contact_ms")
			r.WriteInt(gr.LastContact)
		}
	}
}
