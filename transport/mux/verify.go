package mux

import (
	"errors"
	"fmt"
)

// VerifyPeer proves that the server listening at addr is node id: it dials
// addr, completes the TLS handshake expecting a certificate that names id
// (whatever Config.PeerID says about addr) and the header exchange, then
// closes the connection. A nil error means the peer holds a certificate of
// the cluster CA for id and accepted ours.
//
// This is how a node checks a claim it learnt from an unauthenticated
// source (gossip) before acting on it, e.g. before making a newly seen
// server a raft voter or moving a voter to a new address. Without TLS there
// is nothing to prove with and VerifyPeer returns ErrNoTLS.
func (m *Mux) VerifyPeer(addr, id string) error {
	if m.cfg.TLS == nil {
		return ErrNoTLS
	}
	if id == "" {
		return errors.New("mux: VerifyPeer needs a node id")
	}
	tc, err := m.dialAs(addr, id, m.cfg.DialTimeout, header{kind: kindRPC}, nil)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrIdentity, err)
	}
	return tc.Close()
}
