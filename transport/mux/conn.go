package mux

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
)

type direction uint8

const (
	inboundDir direction = iota + 1
	outboundDir
)

// trackedConn is every connection the mux accepted or dialed. The registry
// (Mux.conns) lets Close, StreamLayer.Close and Faults.Block find and close
// connections; Close unregisters, so raft closing a conn keeps it tidy.
type trackedConn struct {
	net.Conn // what reads and writes go through: raw, or a *tls.Conn over it
	raw      net.Conn
	m        *Mux
	dir      direction

	// Guarded by m.mu: set at dial time for outbound conns, after the
	// header for inbound ones.
	peer  string       // the peer's advertised mux address
	layer *streamLayer // raft conns: the layer that owns the conn

	// Inbound raft conns, set before Accept returns them: the node id the
	// peer's certificate names (verified) or, without TLS, the one its
	// header claims (not verified).
	peerID   string
	verified bool

	closeOnce sync.Once
	closeErr  error
}

// newTrackedConn wraps raw, in TLS as a server (inbound) or a client
// dialing the node serverID (outbound) when the mux has TLS. No I/O
// happens until the handshake.
func (m *Mux) newTrackedConn(raw net.Conn, dir direction, serverID string) *trackedConn {
	c := &trackedConn{Conn: raw, raw: raw, m: m, dir: dir}
	switch {
	case m.cfg.TLS == nil:
	case dir == inboundDir:
		c.Conn = tls.Server(raw, m.serverTLS)
	default:
		c.Conn = tls.Client(raw, m.cfg.TLS.ClientConfig(serverID))
	}
	return c
}

// Close closes the underlying TCP connection directly: a TLS close_notify
// could block up to 5s on a peer that stopped reading, and every reader of
// ours treats a bare EOF at a frame boundary as the end anyway.
func (c *trackedConn) Close() error {
	c.closeOnce.Do(func() {
		c.m.mu.Lock()
		delete(c.m.conns, c)
		c.m.mu.Unlock()
		if c.dir == inboundDir {
			c.m.inbound.Add(-1)
		}
		c.closeErr = c.raw.Close()
	})
	return c.closeErr
}

// handshake runs the TLS handshake, if any, within ctx and the conn's
// deadline. Inbound, it returns the id the client's certificate names.
func (c *trackedConn) handshake(ctx context.Context) (peerID string, err error) {
	tc, ok := c.Conn.(*tls.Conn)
	if !ok {
		return "", nil
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		return "", fmt.Errorf("tls handshake: %w", err)
	}
	id, err := c.m.cfg.TLS.PeerID(tc.ConnectionState())
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrIdentity, err)
	}
	return id, nil
}

// track registers c. It fails (and closes c) if the mux is closed.
func (m *Mux) track(c *trackedConn) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		c.Close()
		return ErrClosed
	}
	m.conns[c] = struct{}{}
	m.mu.Unlock()
	return nil
}

// identify records who c belongs to and then re-checks the rules that a
// concurrent Faults.Block or StreamLayer.Close may have just changed.
// Ordering: those set their rule first and then sweep m.conns under m.mu;
// we publish peer/layer under m.mu first and check the rule after. Either the
// sweep sees our fields, or we see the rule — a conn can never slip through.
func (m *Mux) identify(c *trackedConn, peer string, layer *streamLayer) error {
	m.mu.Lock()
	c.peer, c.layer = peer, layer
	m.mu.Unlock()
	if layer != nil && layer.isClosed() {
		c.Close()
		return ErrClosed
	}
	if m.faults.blocked(peer, c.dir) {
		c.Close()
		return ErrBlocked
	}
	return nil
}

// closeConns closes every tracked conn for which match (called under m.mu)
// is true. Closing happens outside the lock since Close re-takes it.
func (m *Mux) closeConns(match func(*trackedConn) bool) {
	var victims []*trackedConn
	m.mu.Lock()
	for c := range m.conns {
		if match(c) {
			victims = append(victims, c)
		}
	}
	m.mu.Unlock()
	for _, c := range victims {
		c.Close()
	}
}

// setPeerID records an accepted raft connection's peer before it is
// handed to Accept (which publishes it to the reader).
func (c *trackedConn) setPeerID(certID, claimed string) {
	c.peerID, c.verified = claimed, false
	if c.m.cfg.TLS != nil {
		c.peerID, c.verified = certID, true
	}
}

// PeerOf returns the node id of the peer of a raft connection accepted
// by a stream layer of this package: the id its TLS certificate names
// (verified true), or, on a mux without TLS, the id its header claimed
// (verified false: nothing proves it). For any other conn it returns
// "", false. A transport calls it to check, per RPC, that the server id
// an RPC claims is the connection's.
func PeerOf(c net.Conn) (id string, verified bool) {
	tc, ok := c.(*trackedConn)
	if !ok {
		return "", false
	}
	return tc.peerID, tc.verified
}

// PeerCertID returns the node id that the certificate of c, an inbound
// raft connection returned by a StreamLayer's Accept, proved. ok is false
// when the mux runs without TLS (nothing is proven) or c is not such a
// connection. A raft transport uses it to check that each message names
// the server the certificate proves.
func PeerCertID(c net.Conn) (id string, ok bool) {
	tc, isTracked := c.(*trackedConn)
	if !isTracked || tc.dir != inboundDir || !tc.verified {
		return "", false
	}
	return tc.peerID, true
}
