package node

import (
	"strings"

	"github.com/sessionraft/sessionraft/node/metrics"
)

// securityTotals are the guards' counters for /metrics and the status page.
func (n *Node) securityTotals() metrics.SecurityTotals {
	return metrics.SecurityTotals{
		RaftMessagesRefused: n.raftGuard.refused.Load(),
	}
}

// infoSecurity is INFO's Security section: what the ports' guards refused
// since start (docs/SECURITY.md).
func (n *Node) infoSecurity(b *strings.Builder) {
	st := n.securityTotals()
	kv(b, "internal_tls", n.tls != nil)
	kv(b, "raft_messages_refused", st.RaftMessagesRefused)
}
