package node

import (
	"github.com/sessionraft/sessionraft/transport/wire"
)

// The server commands INFO and TOPOLOGY: this node's own view, answered
// inline. COMMAND is in cmd_command.go, INFO in info.go.

// topology answers TOPOLOGY: this node's view of every group, with the
// client address of each member so clients can route to leaders directly.
func (h *handler) topology(q request) {
	r := q.r
	sts := h.n.status()
	r.WriteMapLen(5)
	r.WriteBulkString("node")
	r.WriteBulkString(h.n.cfg.ID)
	r.WriteBulkString("client_addr")
	r.WriteBulkString(h.n.clientAddr)
	r.WriteBulkString("vnodes")
	r.WriteInt(wire.DefaultVNodes)
	r.WriteBulkString("hash")
	r.WriteBulkString("fnv1a64-splitmix64")
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
