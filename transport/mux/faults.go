package mux

import "sync"

// Faults injects network partitions at connection level, for the jepsen
// harness. Peers are named by their advertised mux address, compared as
// exact strings (use the same spelling the cluster configuration uses).
// Directions are about who opens the connection:
//
//   - outbound: connections this mux dials to the peer (raft and RPC). New
//     dials fail with ErrUnreachable; existing ones are closed.
//   - inbound: connections the peer dials to this mux, identified by the
//     address in their header. New ones are refused (closed before the ack,
//     so the peer's dial fails with ErrUnreachable); existing ones are
//     closed.
//
// Blocking both directions on one side fully partitions the pair, since
// every connection between them is either dialed or accepted by this mux.
// Safe for concurrent use.
type Faults struct {
	m *Mux

	mu  sync.Mutex
	in  map[string]struct{}
	out map[string]struct{}
}

// Block adds blocks on traffic with peerAddr; false leaves that direction
// as it was (use Unblock to lift blocks).
func (f *Faults) Block(peerAddr string, inbound, outbound bool) {
	f.mu.Lock()
	if inbound {
		if f.in == nil {
			f.in = make(map[string]struct{})
		}
		f.in[peerAddr] = struct{}{}
	}
	if outbound {
		if f.out == nil {
			f.out = make(map[string]struct{})
		}
		f.out[peerAddr] = struct{}{}
	}
	f.mu.Unlock()
	// The rule is published before the sweep; see Mux.identify for why no
	// connection can slip between the two.
	f.m.closeConns(func(c *trackedConn) bool {
		return c.peer == peerAddr && ((inbound && c.dir == inboundDir) || (outbound && c.dir == outboundDir))
	})
}

// Unblock lifts both directions of blocks on peerAddr.
func (f *Faults) Unblock(peerAddr string) {
	f.mu.Lock()
	delete(f.in, peerAddr)
	delete(f.out, peerAddr)
	f.mu.Unlock()
}

// Clear lifts every block.
func (f *Faults) Clear() {
	f.mu.Lock()
	f.in, f.out = nil, nil
	f.mu.Unlock()
}

// Blocked reports the current blocks on peerAddr.
func (f *Faults) Blocked(peerAddr string) (inbound, outbound bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, inbound = f.in[peerAddr]
	_, outbound = f.out[peerAddr]
	return inbound, outbound
}

// blocked reports whether a connection with peer in direction d is blocked.
func (f *Faults) blocked(peer string, d direction) bool {
	in, out := f.Blocked(peer)
	return (d == inboundDir && in) || (d == outboundDir && out)
}
