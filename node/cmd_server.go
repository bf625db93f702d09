package node

import (
	"github.com/sessionraft/sessionraft/transport/resp"
	"github.com/sessionraft/sessionraft/transport/wire"
)

// The server commands INFO and TOPOLOGY: this node's own view, answered
// inline. COMMAND is in cmd_command.go, INFO in info.go.

// topology answers TOPOLOGY: this node's view of every group, with the
// client address of each member so clients can route to leaders directly.
func (h *handler) topology(q request) {
	if len(q.args) > 1 {
		h.topologyWait(q) // topowatch.go
		return
	}
	epoch := h.n.topo.epoch.Load() // first: the view is then at least as new
	h.n.writeTopology(q.r, h.n.status(), epoch)
}

// writeTopology writes TOPOLOGY's reply: sts, and the epoch read before
// them (topowatch.go). That order matters: the epoch moves after the
// change it counts, so a view read after the epoch holds every change up
// to it, and a client that waits on that epoch misses none after it.
func (n *Node) writeTopology(r *resp.Reply, sts []groupStatus, epoch uint64) {
	r.WriteMapLen(6)
	r.WriteBulkString("node")
	r.WriteBulkString(n.cfg.ID)
	r.WriteBulkString("client_addr")
	r.WriteBulkString(n.clientAddr)
	r.WriteBulkString("vnodes")
	r.WriteInt(wire.DefaultVNodes)
	r.WriteBulkString("hash")
	r.WriteBulkString("fnv1a64-splitmix64")
	r.WriteBulkString("epoch")
	r.WriteInt(int64(epoch))
	r.WriteBulkString("groups")
	r.WriteArrayLen(len(sts))
	for _, st := range sts {
		r.WriteMapLen(10)
		r.WriteBulkString("group")
		r.WriteInt(int64(st.ID))
		r.WriteBulkString("role")
		r.WriteBulkString(st.Role)
		r.WriteBulkString("leader")
		r.WriteBulkString(st.Leader)
		r.WriteBulkString("leader_client_addr")
		r.WriteBulkString(st.LeaderClient)
		r.WriteBulkString("term")
		r.WriteInt(int64(st.Term))
		r.WriteBulkString("commit_index")
		r.WriteInt(int64(st.Commit))
		r.WriteBulkString("applied_index")
		r.WriteInt(int64(st.Applied))
		r.WriteBulkString("last_contact_ms")
		r.WriteInt(durMS(st.LastContact))
		r.WriteBulkString("sessions")
		r.WriteInt(int64(st.Sessions))
		r.WriteBulkString("members")
		r.WriteArrayLen(len(st.Members))
		for _, m := range st.Members {
			r.WriteMapLen(5)
			r.WriteBulkString("id")
			r.WriteBulkString(m.ID)
			r.WriteBulkString("raft_addr")
			r.WriteBulkString(m.RaftAddr)
			r.WriteBulkString("client_addr")
			r.WriteBulkString(m.ClientAddr)
			r.WriteBulkString("suffrage")
			r.WriteBulkString(m.Suffrage)
			r.WriteBulkString("alive")
			r.WriteBool(m.Alive)
		}
	}
}
