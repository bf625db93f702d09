package raftnet

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// Transport is a raft.Transport speaking the binary protocol of frame.go
// over Config.Stream. It also implements raft.WithClose and
// raft.WithPreVote. Safe for concurrent use.
type Transport struct {
	cfg   Config
	log   *slog.Logger
	local raft.ServerAddress

	consumeCh  chan raft.RPC
	shutdownCh chan struct{}
	closeOnce  sync.Once
	wg         sync.WaitGroup

	hbMu sync.Mutex
	hbFn func(raft.RPC)

	idle       idleAppends  // idle.go
	idleReused atomic.Int64 // AppendEntries answered by idle, for IdleAppendsReused

	mu        sync.Mutex
	closed    bool
	pools     map[raft.ServerAddress][]*clientConn // idle conns per peer
	inbound   map[net.Conn]struct{}
	pipelines map[*pipeline]struct{}
}

var (
	_ raft.Transport   = (*Transport)(nil)
	_ raft.WithClose   = (*Transport)(nil)
	_ raft.WithPreVote = (*Transport)(nil)
)

// New starts a transport: it accepts connections from cfg.Stream (and
// forwards cfg.Legacy's inbound RPCs) until Close.
func New(cfg Config) (*Transport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	t := &Transport{
		cfg:        cfg,
		log:        cfg.Logger.With("component", "raftnet"),
		local:      raft.ServerAddress(cfg.Stream.Addr().String()),
		consumeCh:  make(chan raft.RPC),
		shutdownCh: make(chan struct{}),
		pools:      make(map[raft.ServerAddress][]*clientConn),
		inbound:    make(map[net.Conn]struct{}),
		pipelines:  make(map[*pipeline]struct{}),
		idle:       idleAppends{every: cfg.IdleAppendInterval},
	}
	t.wg.Add(1)
	go t.acceptLoop()
	if cfg.Legacy != nil {
		t.wg.Add(1)
		go t.pumpLegacy()
	}
	return t, nil
}

// IdleAppendsReused is how many AppendEntries were answered without a
// message because they repeated the last one (idle.go).
func (t *Transport) IdleAppendsReused() int64 { return t.idleReused.Load() }

// pumpLegacy hands the legacy transport's inbound RPCs to raft through
// this transport's consumer; raft answers them on their own RespChan.
func (t *Transport) pumpLegacy() {
	defer t.wg.Done()
	in := t.cfg.Legacy.Consumer()
	for {
		select {
		case rpc := <-in:
			select {
			case t.consumeCh <- rpc:
			case <-t.shutdownCh:
				rpc.Respond(nil, raft.ErrTransportShutdown)
				return
			}
		case <-t.shutdownCh:
			return
		}
	}
}

// Consumer implements raft.Transport.
func (t *Transport) Consumer() <-chan raft.RPC { return t.consumeCh }

// LocalAddr implements raft.Transport.
func (t *Transport) LocalAddr() raft.ServerAddress { return t.local }

// EncodePeer implements raft.Transport the way NetworkTransport does, so
// peers encoded by either transport decode with the other.
func (t *Transport) EncodePeer(_ raft.ServerID, addr raft.ServerAddress) []byte {
	return []byte(addr)
}

// DecodePeer implements raft.Transport.
func (t *Transport) DecodePeer(b []byte) raft.ServerAddress { return raft.ServerAddress(b) }

// SetHeartbeatHandler implements raft.Transport: heartbeats are answered
// by cb on the connection's goroutine, never queued behind the consumer.
func (t *Transport) SetHeartbeatHandler(cb func(raft.RPC)) {
	t.hbMu.Lock()
	t.hbFn = cb
	t.hbMu.Unlock()
	if t.cfg.Legacy != nil {
		t.cfg.Legacy.SetHeartbeatHandler(cb)
	}
}

func (t *Transport) heartbeatFn() func(raft.RPC) {
	t.hbMu.Lock()
	defer t.hbMu.Unlock()
	return t.hbFn
}

// Close implements raft.WithClose: it stops accepting, closes every
// connection and pipeline and the legacy transport, and waits for the
// transport's goroutines. It is idempotent.
func (t *Transport) Close() error {
	var err error
	t.closeOnce.Do(func() {
		close(t.shutdownCh)
		err = t.cfg.Stream.Close()
		t.mu.Lock()
		t.closed = true
		var conns []io.Closer
		for _, idle := range t.pools {
			for _, c := range idle {
				conns = append(conns, c.c)
			}
		}
		t.pools = nil
		for c := range t.inbound {
			conns = append(conns, c)
		}
		var pipes []*pipeline
		for p := range t.pipelines {
			pipes = append(pipes, p)
		}
		t.mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
		for _, p := range pipes {
			p.Close()
		}
		if t.cfg.Legacy != nil {
			if lerr := t.cfg.Legacy.Close(); err == nil {
				err = lerr
			}
		}
		t.wg.Wait()
	})
	return err
}

func (t *Transport) isClosed() bool {
	select {
	case <-t.shutdownCh:
		return true
	default:
		return false
	}
}

// shutdownErr is what calls on a closed transport return: raft compares
// with raft.ErrTransportShutdown.
func shutdownErr() error {
	return fmt.Errorf("%w: %w", ErrClosed, raft.ErrTransportShutdown)
}
