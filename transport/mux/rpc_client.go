package mux

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// Call sends one request to the mux at addr and waits for the handler's
// response. Its errors say precisely what is known about delivery:
//
//   - errors.Is(err, ErrUnreachable): not delivered (dial failed or refused,
//     Faults block, connection broke or ctx ended before any byte of the
//     request was written). Safe to retry.
//   - errors.Is(err, ErrConnLost): outcome unknown — the request may have run
//     (connection broke after the request was written, ctx ended while
//     waiting for the response, or the response exceeded MaxRPCBytes).
//   - *RemoteError: the handler's error (or the peer's BUSY / TOOLARGE /
//     NOHANDLER, for which nothing ran).
//   - ErrFrameTooLarge (request too big, nothing sent), ErrClosed (this Mux
//     is closed, nothing sent).
//
// A ctx error is wrapped too (errors.Is(err, context.DeadlineExceeded)).
// When ctx ends the call returns at once; the connection stays usable for
// other calls and a late response is dropped. The payload is copied, so the
// caller may reuse it as soon as Call returns.
func (m *Mux) Call(ctx context.Context, addr string, method uint8, payload []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, notSent(err)
	}
	if frameHeaderLen+len(payload) > m.cfg.MaxRPCBytes {
		return nil, fmt.Errorf("%w: request of %d bytes exceeds MaxRPCBytes %d", ErrFrameTooLarge, len(payload), m.cfg.MaxRPCBytes)
	}
	// Checked here as well as at dial time: Block closes pooled connections,
	// but a call racing with that close could otherwise pick one and report
	// ErrConnLost for a request that never left.
	if m.faults.blocked(addr, outboundDir) {
		return nil, notSent(fmt.Errorf("%w: call %s", ErrBlocked, addr))
	}
	p, err := m.peer(addr)
	if err != nil {
		return nil, err
	}
	body := append([]byte(nil), payload...)
	// A pooled conn may turn out dead before our request went out (peer
	// restarted, Faults closed it); then nothing was sent and a fresh
	// connection is tried, a bounded number of times.
	for attempt := 0; ; attempt++ {
		cc, err := p.get(ctx)
		if err != nil {
			return nil, err
		}
		resp, err := cc.call(ctx, method, body)
		if errors.Is(err, errStale) && attempt < 2 {
			continue
		}
		return resp, err
	}
}

// errStale marks a call refused by a connection already known dead; Call
// retries it on another connection.
var errStale = notSent(errors.New("connection already closed"))

// peer is the pool of persistent RPC connections to one address.
type peer struct {
	m     *Mux
	addr  string
	next  atomic.Uint32
	slots []slot
}

// slot holds one pooled connection, or the dial in progress that will
// become it. Callers waiting for a dial share it and can leave on ctx.
type slot struct {
	mu      sync.Mutex
	cc      *clientConn
	dialing *dialFuture
}

type dialFuture struct {
	done chan struct{}
	cc   *clientConn
	err  error
}

func (m *Mux) peer(addr string) (*peer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	p := m.peers[addr]
	if p == nil {
		p = &peer{m: m, addr: addr, slots: make([]slot, m.cfg.RPCConnsPerPeer)}
		m.peers[addr] = p
	}
	return p, nil
}

// get returns a live connection from the next slot, dialling if needed.
func (p *peer) get(ctx context.Context) (*clientConn, error) {
	return p.getSlot(ctx, p.nextSlot())
}

// nextSlot picks the slot of the next call, round-robin.
func (p *peer) nextSlot() *slot {
	return &p.slots[int(p.next.Add(1))%len(p.slots)]
}

// getSlot returns s's live connection, dialling if needed.
func (p *peer) getSlot(ctx context.Context, s *slot) (*clientConn, error) {
	s.mu.Lock()
	if s.cc != nil && !s.cc.isDead() {
		cc := s.cc
		s.mu.Unlock()
		return cc, nil
	}
	s.cc = nil
	f := s.dialing
	if f == nil {
		f = &dialFuture{done: make(chan struct{})}
		s.dialing = f
		// The dial is not tied to the first caller's ctx: the connection
		// serves everyone, and DialTimeout bounds it.
		if !p.m.goFn(func() { p.dial(s, f) }) {
			s.dialing = nil
			s.mu.Unlock()
			return nil, ErrClosed
		}
	}
	s.mu.Unlock()
	select {
	case <-f.done:
		return f.cc, f.err
	case <-ctx.Done():
		return nil, notSent(ctx.Err())
	}
}

func (p *peer) dial(s *slot, f *dialFuture) {
	tc, err := p.m.dial(p.addr, p.m.cfg.DialTimeout, header{kind: kindRPC}, nil)
	var cc *clientConn
	if err == nil {
		cc, err = p.m.newClientConn(tc)
	}
	s.mu.Lock()
	s.dialing = nil
	s.cc = cc
	s.mu.Unlock()
	f.cc, f.err = cc, err
	close(f.done)
}

// Call states, advanced by compare-and-swap so exactly one of the writer
// (queued → sent) and a giving-up caller or failing connection
// (queued → abandoned) wins: whoever abandons a queued call knows for
// certain that not one byte of it was written.
const (
	callQueued int32 = iota
	callSent
	callAbandoned
)

type pendingCall struct {
	id    uint64
	state atomic.Int32
	res   chan callResult // buffered(1); written once by whoever removed the call from pending
	// fn, when set (CallAsync), takes the result instead of res, called by
	// whoever removed the call from pending.
	fn func([]byte, error)
}

// deliver hands the call its result; only whoever removed it from
// pending may.
func (pc *pendingCall) deliver(r callResult) {
	if pc.fn != nil {
		pc.fn(r.payload, r.err)
		return
	}
	pc.res <- r
}

type callResult struct {
	payload []byte
	err     error
}

// clientConn is one persistent RPC connection with its writer and reader.
type clientConn struct {
	m  *Mux
	tc *trackedConn
	w  *frameWriter

	mu      sync.Mutex
	dead    bool
	nextID  uint64
	pending map[uint64]*pendingCall

	failOnce sync.Once
	done     chan struct{} // closed after fail has settled every pending call
}

func (m *Mux) newClientConn(tc *trackedConn) (*clientConn, error) {
	cc := &clientConn{
		m:       m,
		tc:      tc,
		w:       newFrameWriter(tc, m.cfg.WriteTimeout),
		pending: make(map[uint64]*pendingCall),
		done:    make(chan struct{}),
	}
	if !m.goFn(func() {
		if err := cc.w.run(); err != nil {
			cc.fail(err)
		}
	}) {
		tc.Close()
		return nil, notSent(ErrClosed)
	}
	if !m.goFn(cc.readLoop) {
		cc.fail(ErrClosed)
		return nil, notSent(ErrClosed)
	}
	return cc, nil
}

func (cc *clientConn) isDead() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.dead
}

func (cc *clientConn) call(ctx context.Context, method uint8, body []byte) ([]byte, error) {
	pc := &pendingCall{res: make(chan callResult, 1)}
	cc.mu.Lock()
	if cc.dead {
		cc.mu.Unlock()
		return nil, errStale
	}
	cc.nextID++
	pc.id = cc.nextID
	cc.pending[pc.id] = pc
	cc.mu.Unlock()

	select {
	case cc.w.q <- outFrame{id: pc.id, tag: method, payload: body, call: pc}:
	case <-ctx.Done():
		return cc.abandon(pc, ctx.Err())
	case <-cc.w.dead:
		// The writer is gone, so fail settles (or has settled) pc.
		r := <-pc.res
		return r.payload, r.err
	}
	select {
	case r := <-pc.res:
		return r.payload, r.err
	case <-ctx.Done():
		return cc.abandon(pc, ctx.Err())
	}
}

// abandon gives up on pc because ctx ended.
func (cc *clientConn) abandon(pc *pendingCall, cause error) ([]byte, error) {
	cc.mu.Lock()
	_, mine := cc.pending[pc.id]
	delete(cc.pending, pc.id)
	cc.mu.Unlock()
	if !mine {
		// A response or a failure claimed it first and is delivering now.
		r := <-pc.res
		return r.payload, r.err
	}
	if pc.state.CompareAndSwap(callQueued, callAbandoned) {
		return nil, notSent(cause)
	}
	return nil, connLost(cause)
}

// take removes and returns the pending call id, if still waiting.
func (cc *clientConn) take(id uint64) *pendingCall {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	pc := cc.pending[id]
	delete(cc.pending, id)
	return pc
}

// fail marks the connection dead, closes it and settles every pending call:
// calls the writer had not started are not-sent, the rest are lost.
func (cc *clientConn) fail(cause error) {
	cc.failOnce.Do(func() {
		cc.mu.Lock()
		cc.dead = true
		pending := cc.pending
		cc.pending = nil
		cc.mu.Unlock()
		cc.tc.Close()
		close(cc.w.stop)
		for _, pc := range pending {
			if pc.state.CompareAndSwap(callQueued, callAbandoned) {
				pc.deliver(callResult{err: notSent(cause)})
			} else {
				pc.deliver(callResult{err: connLost(cause)})
			}
		}
		close(cc.done)
	})
}

func (cc *clientConn) readLoop() {
	fr := &frameReader{br: bufio.NewReaderSize(cc.tc, 64<<10), max: cc.m.cfg.MaxRPCBytes}
	for {
		id, status, payload, err := fr.next()
		if tl, ok := errors.AsType[*frameTooLargeError](err); ok {
			// Peer configured with a larger limit: its handler ran, but we
			// refuse the result. Fail just this call, as indeterminate.
			if err := fr.skip(tl); err != nil {
				cc.fail(err)
				return
			}
			if pc := cc.take(id); pc != nil {
				pc.deliver(callResult{err: connLost(tl)})
			}
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF // the peer went away with calls possibly in flight
			}
			cc.fail(err)
			return
		}
		var r callResult
		switch status {
		case statusOK:
			r.payload = payload
		case statusErr:
			re, err := decodeRemoteError(payload)
			if err != nil {
				cc.fail(err)
				return
			}
			r.err = re
			if re.Code == codeRespTooLarge {
				r.err = connLost(fmt.Errorf("%w: %s", ErrFrameTooLarge, re.Msg))
			}
		default:
			cc.fail(fmt.Errorf("%w: unknown response status %d", ErrBadFrame, status))
			return
		}
		if pc := cc.take(id); pc != nil {
			pc.deliver(r)
		}
	}
}
