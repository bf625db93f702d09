package mux

import (
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// streamLayer is the raft.StreamLayer of one raft group, for one kind of
// raft connection: msgpack (kindRaft, raft's NetworkTransport) or binary
// (kindRaftBin, transport/raftnet).
type streamLayer struct {
	m      *Mux
	kind   byte
	group  uint16
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
}

var _ raft.StreamLayer = (*streamLayer)(nil)

// layerKey names a stream layer: connection kind and raft group.
type layerKey struct {
	kind  byte
	group uint16
}

// StreamLayer returns the raft stream layer of group, creating it on first
// use; a later call returns the same layer until it is closed, after which a
// fresh one is created (so a group's transport can be rebuilt). Accept
// yields inbound raft connections whose header names this group; Dial
// connects to a peer's mux and sends the header. On a closed Mux the layer
// returned is already closed.
func (m *Mux) StreamLayer(group uint16) raft.StreamLayer {
	return m.streamLayer(kindRaft, group)
}

// BinaryRaftLayer is StreamLayer for the connections of transport/raftnet's
// binary raft protocol: a separate connection kind, so the two transports
// of a group can run side by side (a rolling upgrade) and a mux that does
// not know the kind refuses it at the header. PeerOf tells who an accepted
// connection's certificate names.
func (m *Mux) BinaryRaftLayer(group uint16) raft.StreamLayer {
	return m.streamLayer(kindRaftBin, group)
}

func (m *Mux) streamLayer(kind byte, group uint16) raft.StreamLayer {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := layerKey{kind, group}
	if l := m.layers[key]; l != nil {
		return l
	}
	l := &streamLayer{
		m:      m,
		kind:   kind,
		group:  group,
		ch:     make(chan net.Conn, 16),
		closed: make(chan struct{}),
	}
	if m.closed {
		close(l.closed)
		return l
	}
	m.layers[key] = l
	return l
}

// Accept waits for the next inbound connection of this group.
func (l *streamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, fmt.Errorf("mux: stream layer %d: %w (%w)", l.group, ErrClosed, net.ErrClosed)
	}
}

// Close closes only this layer: Accept returns an error, and every
// connection of this group accepted or dialed through it is closed. (raft's
// NetworkTransport.Close closes the layer but not the connections it holds;
// closing them here makes its per-connection goroutines exit instead of
// leaking when one group is torn down.) Other groups are unaffected.
func (l *streamLayer) Close() error {
	l.once.Do(func() {
		close(l.closed)
		l.m.mu.Lock()
		key := layerKey{l.kind, l.group}
		if l.m.layers[key] == l {
			delete(l.m.layers, key)
		}
		l.m.mu.Unlock()
		l.m.closeConns(func(c *trackedConn) bool { return c.layer == l })
	})
	return nil
}

func (l *streamLayer) isClosed() bool {
	select {
	case <-l.closed:
		return true
	default:
		return false
	}
}

// Addr is the mux's advertised address, which raft uses as this server's
// address in its configuration.
func (l *streamLayer) Addr() net.Addr { return advertisedAddr(l.m.advertise) }

// Dial connects to the mux at address for this group. The header/ack
// handshake is bounded by timeout as well, so raft learns promptly when the
// peer has no such group or refuses us.
func (l *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if l.isClosed() {
		return nil, notSent(ErrClosed)
	}
	if timeout <= 0 {
		timeout = l.m.cfg.DialTimeout
	}
	tc, err := l.m.dial(string(address), timeout, header{kind: l.kind, group: l.group}, l)
	if err != nil {
		return nil, err
	}
	return tc, nil
}

// deliver hands an accepted connection to Accept.
func (l *streamLayer) deliver(tc *trackedConn) {
	select {
	case l.ch <- tc:
	case <-l.closed:
		tc.Close()
	case <-l.m.ctx.Done():
		tc.Close()
	}
}

// advertisedAddr is a net.Addr for an address string.
type advertisedAddr string

func (a advertisedAddr) Network() string { return "tcp" }
func (a advertisedAddr) String() string  { return string(a) }
