package node

import (
	"crypto/tls"
	"net"

	"github.com/sessionraft/sessionraft/node/metrics"
	"github.com/sessionraft/sessionraft/transport/admit"
)

// portGates admit connections to their TLS handshake, one gate per port,
// so a flood on one port does not take the other's slots (transport/admit
// has the rules; docs/SECURITY.md the defaults). A nil gate: the port
// runs no TLS.
type portGates struct {
	internal, client *admit.Gate
}

// internalGate makes the internal port's gate (with TLS only).
func (p *portGates) internalGate(cfg admit.Config) *admit.Gate {
	p.internal = admit.New(cfg)
	return p.internal
}

// clientListener serves the client port's TLS on ln with handshakes
// admitted by the client port's gate.
func (p *portGates) clientListener(ln net.Listener, conf *tls.Config, cfg admit.Config) net.Listener {
	p.client = admit.New(cfg)
	return admit.NewTLSListener(ln, conf, p.client)
}

// handshakeTotals converts a gate's counters (zero for a nil gate).
func handshakeTotals(g *admit.Gate) metrics.HandshakeTotals {
	if g == nil {
		return metrics.HandshakeTotals{}
	}
	s := g.Stats()
	return metrics.HandshakeTotals{InFlight: s.InFlight, Admitted: s.Admitted, RateLimited: s.RateLimited, Busy: s.Busy, Failed: s.Failed}
}
