package node

import (
	"strings"

	"github.com/sessionraft/sessionraft/node/metrics"
)

// securityTotals are the guards' counters for /metrics and the status page.
func (n *Node) securityTotals() metrics.SecurityTotals {
	return metrics.SecurityTotals{
		RaftMessagesRefused: n.raftGuard.refused.Load(),
		Internal:            handshakeTotals(n.gates.internal),
		Client:              handshakeTotals(n.gates.client),
	}
}

// infoSecurity is INFO's Security section: what the ports' guards refused
// since start (docs/SECURITY.md).
func (n *Node) infoSecurity(b *strings.Builder) {
	st := n.securityTotals()
	kv(b, "internal_tls", n.tls != nil)
	kv(b, "raft_messages_refused", st.RaftMessagesRefused)
	for _, p := range []struct {
		name string
		h    metrics.HandshakeTotals
	}{{"internal", st.Internal}, {"client", st.Client}} {
		kv(b, p.name+"_handshakes_in_flight", p.h.InFlight)
		kv(b, p.name+"_handshakes_admitted", p.h.Admitted)
		kv(b, p.name+"_handshakes_rate_limited", p.h.RateLimited)
		kv(b, p.name+"_handshakes_busy", p.h.Busy)
		kv(b, p.name+"_handshakes_failed", p.h.Failed)
	}
}
