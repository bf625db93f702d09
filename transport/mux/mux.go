package mux

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Mux is one node's internal port: it accepts connections, routes them by
// header to raft stream layers or the RPC server, and dials peers for raft
// and RPC. It is safe for concurrent use.
type Mux struct {
	cfg       Config
	log       *slog.Logger
	ln        net.Listener
	advertise string
	faults    *Faults
	serverTLS *tls.Config // nil without TLS

	inbound      atomic.Int64 // accepted conns not yet closed
	lastFullWarn atomic.Int64 // unix nanos of the last "too many connections" warning

	// ctx ends when Close starts; dials, handlers and waits derive from it.
	ctx    context.Context
	cancel context.CancelFunc

	handler atomic.Pointer[RPCHandler]
	sem     chan struct{}    // bounds concurrently running handlers
	inline  [4]atomic.Uint64 // methods run on the reader (inline.go), one bit each
	// deferred holds the handlers of deferred methods (deferred.go).
	deferred [256]atomic.Pointer[DeferredHandler]

	mu     sync.Mutex
	closed bool
	conns  map[*trackedConn]struct{}
	layers map[layerKey]*streamLayer
	peers  map[string]*peer

	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Listen binds addr and starts accepting connections in a goroutine.
func Listen(addr string, cfg Config) (*Mux, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	adv := cfg.Advertise
	if adv == "" {
		adv = ln.Addr().String()
	}
	if len(adv) > maxAddrLen {
		ln.Close()
		return nil, fmt.Errorf("%w: advertise address longer than %d bytes", ErrConfig, maxAddrLen)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Mux{
		cfg:       cfg,
		log:       cfg.Logger.With("component", "mux", "addr", adv),
		ln:        ln,
		advertise: adv,
		ctx:       ctx,
		cancel:    cancel,
		sem:       make(chan struct{}, cfg.MaxConcurrentHandlers),
		conns:     make(map[*trackedConn]struct{}),
		layers:    make(map[layerKey]*streamLayer),
		peers:     make(map[string]*peer),
	}
	if cfg.TLS != nil {
		m.serverTLS = cfg.TLS.ServerConfig()
	}
	m.faults = &Faults{m: m}
	m.goFn(m.acceptLoop)
	return m, nil
}

// Addr is the listener's bound address.
func (m *Mux) Addr() net.Addr { return m.ln.Addr() }

// AdvertiseAddr is the address sent to peers in headers and returned by the
// stream layers' Addr (so raft uses it as this server's address).
func (m *Mux) AdvertiseAddr() string { return m.advertise }

// Faults returns the fault injector. It has no effect until used.
func (m *Mux) Faults() *Faults { return m.faults }

// Close closes the listener, every accepted and dialed connection and every
// stream layer, then waits for all of the mux's goroutines, including
// running RPC handlers (which see their ctx cancelled and must return).
// Pending Calls fail with ErrConnLost or ErrUnreachable as appropriate.
func (m *Mux) Close() error {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closed = true
		layers := make([]*streamLayer, 0, len(m.layers))
		for _, l := range m.layers {
			layers = append(layers, l)
		}
		m.mu.Unlock()

		m.closeErr = m.ln.Close()
		for _, l := range layers {
			l.Close()
		}
		// Conns are closed before ctx is cancelled: a handler that returns
		// because of the cancellation must not get its reply out, or a caller
		// would see a "context canceled" RemoteError from a node that is
		// shutting down instead of the honest ErrConnLost.
		m.closeConns(func(*trackedConn) bool { return true })
		m.cancel()
		m.wg.Wait()
	})
	return m.closeErr
}

// goFn runs f in a goroutine counted by m.wg unless the mux is closing, in
// which case it reports false (Close may already be in wg.Wait).
func (m *Mux) goFn(f func()) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f()
	}()
	return true
}

func (m *Mux) acceptLoop() {
	var delay time.Duration
	for {
		c, err := m.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || m.ctx.Err() != nil {
				return
			}
			// Transient (e.g. EMFILE): back off instead of spinning.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			m.log.Warn("accept failed", "err", err, "retry_in", delay)
			select {
			case <-time.After(delay):
				continue
			case <-m.ctx.Done():
				return
			}
		}
		delay = 0
		// Over the cap, close before reading a byte: the connection costs
		// nothing beyond its file descriptor's brief life.
		if m.inbound.Add(1) > int64(m.cfg.MaxInboundConns) {
			m.inbound.Add(-1)
			c.Close()
			m.warnFull()
			continue
		}
		release := func() {}
		if m.cfg.Admit != nil && m.cfg.TLS != nil {
			var ok bool
			if release, ok = m.cfg.Admit.Admit(c.RemoteAddr()); !ok {
				m.inbound.Add(-1)
				c.Close()
				continue
			}
		}
		tc := m.newTrackedConn(c, inboundDir, "")
		if m.track(tc) != nil {
			release()
			return
		}
		if !m.goFn(func() { m.serveConn(tc, release) }) {
			release()
			tc.Close()
			return
		}
	}
}

// warnFull logs that MaxInboundConns was hit, at most every 10 seconds.
func (m *Mux) warnFull() {
	now := time.Now().UnixNano()
	last := m.lastFullWarn.Load()
	if now-last < int64(10*time.Second) || !m.lastFullWarn.CompareAndSwap(last, now) {
		return
	}
	m.log.Warn("refusing inbound connections: MaxInboundConns reached", "max", m.cfg.MaxInboundConns)
}

// serveConn authenticates an accepted connection, reads its header and
// routes it. release frees the connection's Admit slot once it is
// authenticated (or refused).
func (m *Mux) serveConn(tc *trackedConn, release func()) {
	// One deadline covers the TLS handshake, the header and the ack.
	tc.SetDeadline(time.Now().Add(m.cfg.HeaderTimeout))
	certID, err := tc.handshake(m.ctx)
	if err != nil {
		release()
		if m.cfg.Admit != nil {
			m.cfg.Admit.Failed()
		}
		m.log.Debug("rejecting connection", "remote", tc.RemoteAddr().String(), "err", err)
		tc.Close()
		return
	}
	h, err := readHeader(tc)
	release()
	if err != nil {
		m.log.Debug("rejecting connection", "remote", tc.RemoteAddr().String(), "err", err)
		tc.Close()
		return
	}
	if m.cfg.TLS != nil {
		if err := m.checkClaim(h, certID); err != nil {
			// Only a holder of a cluster certificate gets this far: a
			// member lying about itself, or misconfigured, is worth a
			// warning (handshake failures above are scanners, kept quiet).
			m.log.Warn("rejecting connection", "remote", tc.RemoteAddr().String(), "err", err)
			tc.Close()
			return
		}
	}
	isRaft := h.kind == kindRaft || h.kind == kindRaftBin
	if isRaft && m.cfg.TLS != nil && m.cfg.RaftPeer != nil && !m.cfg.RaftPeer(certID) {
		m.log.Warn("rejecting raft connection from a node that is not a voter", "remote", tc.RemoteAddr().String(), "id", certID)
		tc.Close()
		return
	}
	var layer *streamLayer
	if isRaft {
		m.mu.Lock()
		layer = m.layers[layerKey{h.kind, h.group}]
		m.mu.Unlock()
		if layer == nil {
			m.log.Debug("rejecting raft connection for unknown group", "group", h.group, "peer", h.addr)
			tc.Close()
			return
		}
	}
	if err := m.identify(tc, h.addr, layer); err != nil {
		m.log.Debug("rejecting connection", "peer", h.addr, "err", err)
		return
	}
	// The deadline (still HeaderTimeout) also bounds the ack write.
	if _, err := tc.Write([]byte{ackByte}); err != nil {
		tc.Close()
		return
	}
	tc.SetDeadline(time.Time{})
	switch h.kind {
	case kindRaft, kindRaftBin:
		tc.setPeerID(certID, h.id)
		layer.deliver(tc)
	case kindRPC:
		m.serveRPC(tc, Caller{ID: h.id, Addr: h.addr, Verified: m.cfg.TLS != nil})
	}
}

// checkClaim refuses a header whose claimed identity the certificate does
// not prove: the claimed id must be the certificate's, and the address it
// claims as its own must not belong to another node as far as PeerID knows.
func (m *Mux) checkClaim(h header, certID string) error {
	if h.id != certID {
		return fmt.Errorf("%w: certificate names node %q, header claims %q", ErrIdentity, certID, h.id)
	}
	if want := m.cfg.PeerID(h.addr); want != "" && want != certID {
		return fmt.Errorf("%w: node %q claims address %s, which belongs to node %q", ErrIdentity, certID, h.addr, want)
	}
	return nil
}

// dial connects to a peer's mux and completes the header/ack handshake
// within timeout. Every failure wraps ErrUnreachable: no request byte has
// been sent yet.
func (m *Mux) dial(addr string, timeout time.Duration, h header, layer *streamLayer) (*trackedConn, error) {
	return m.dialAs(addr, m.cfg.PeerID(addr), timeout, h, layer)
}

// dialAs is dial expecting the server to prove the node id serverID ("":
// any node of the cluster).
func (m *Mux) dialAs(addr, serverID string, timeout time.Duration, h header, layer *streamLayer) (*trackedConn, error) {
	if m.faults.blocked(addr, outboundDir) {
		return nil, notSent(fmt.Errorf("%w: dial %s", ErrBlocked, addr))
	}
	h.addr, h.id = m.advertise, m.cfg.NodeID
	hdr, err := appendHeader(make([]byte, 0, 16+len(h.addr)+len(h.id)), h)
	if err != nil {
		return nil, notSent(err)
	}
	ctx, cancel := context.WithTimeout(m.ctx, timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, notSent(err)
	}
	tc := m.newTrackedConn(c, outboundDir, serverID)
	if err := m.track(tc); err != nil {
		return nil, notSent(err)
	}
	if err := m.identify(tc, addr, layer); err != nil {
		return nil, notSent(fmt.Errorf("dial %s: %w", addr, err))
	}
	deadline, _ := ctx.Deadline()
	tc.SetDeadline(deadline)
	// Closing the conn when ctx ends (mux closing) interrupts the handshake.
	stop := context.AfterFunc(ctx, func() { tc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	// The server is verified here (chain, and node id when PeerID knows
	// it). With TLS 1.3 our certificate is judged after this returns: a
	// refusal shows up as the ack read failing below.
	if _, err := tc.handshake(ctx); err != nil {
		tc.Close()
		return nil, notSent(fmt.Errorf("dial %s: %w", addr, err))
	}
	if _, err := tc.Write(hdr); err != nil {
		tc.Close()
		return nil, notSent(fmt.Errorf("dial %s: write header: %w", addr, err))
	}
	var ack [1]byte
	if _, err := tc.Read(ack[:]); err != nil || ack[0] != ackByte {
		tc.Close()
		if err == nil {
			err = fmt.Errorf("bad ack byte %#x", ack[0])
		}
		return nil, notSent(fmt.Errorf("dial %s: connection refused by peer mux: %w", addr, err))
	}
	if !stop() {
		tc.Close()
		return nil, notSent(fmt.Errorf("dial %s: %w", addr, ctx.Err()))
	}
	tc.SetDeadline(time.Time{})
	return tc, nil
}
