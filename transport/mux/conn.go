package mux

import (
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
	net.Conn
	m   *Mux
	dir direction

	// Guarded by m.mu: set at dial time for outbound conns, after the
	// header for inbound ones.
	peer  string       // the peer's advertised mux address
	layer *streamLayer // raft conns: the layer that owns the conn

	closeOnce sync.Once
	closeErr  error
}

func (c *trackedConn) Close() error {
	c.closeOnce.Do(func() {
		c.m.mu.Lock()
		delete(c.m.conns, c)
		c.m.mu.Unlock()
		c.closeErr = c.Conn.Close()
	})
	return c.closeErr
}

// track registers c. It fails (and closes c) if the mux is closed.
func (m *Mux) track(c *trackedConn) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		c.Conn.Close()
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
