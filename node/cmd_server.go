package node

import (
	"fmt"
	"strings"
	"time"

	"github.com/sessionraft/sessionraft/transport/wire"
)

// The server commands INFO and TOPOLOGY: this node's own view, answered
// inline. COMMAND is in cmd_command.go.

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

// info answers INFO in Redis's "# Section / key:value" text format.
func (h *handler) info(q request) {
	r := q.r
	n := h.n
	var b strings.Builder
	fmt.Fprintf(&b, "# Server\r\nsessionraft_version:%s\r\nnode_id:%s\r\nuptime_in_seconds:%d\r\nclient_addr:%s\r\nraft_addr:%s\r\n",
		Version, n.cfg.ID, int64(time.Since(n.started).Seconds()), n.clientAddr, n.self.Raft)
	fmt.Fprintf(&b, "\r\n# Clients\r\nconnected_clients:%d\r\n", n.respSrv.NumConns())
	total := 0
	sts := n.status()
	for _, st := range sts {
		total += st.Sessions
	}
	fmt.Fprintf(&b, "\r\n# Keyspace\r\nsessions:%d\r\n", total)
	// The state's estimated size, which --max-memory bounds (memlimit.go).
	fmt.Fprintf(&b, "\r\n# Memory\r\nused_memory_dataset:%d\r\nmaxmemory:%d\r\n", n.memoryUsage(), n.cfg.MaxMemory)
	fmt.Fprintf(&b, "\r\n# Cluster\r\ngroups:%d\r\nmembers:%d\r\n", len(sts), len(n.members()))
	for _, st := range sts {
		fmt.Fprintf(&b, "group%d:role=%s,leader=%s,term=%d,commit_index=%d,applied_index=%d,last_contact_ms=%d,sessions=%d,read_rounds=%d,read_round_fallbacks=%d\r\n",
			st.ID, st.Role, st.Leader, st.Term, st.Commit, st.Applied, durMS(st.LastContact), st.Sessions, st.ReadRounds, st.ReadFallbacks)
	}
	r.WriteBulkString(b.String())
}
