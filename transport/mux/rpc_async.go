package mux

import (
	"context"
	"errors"
	"fmt"
)

// CallAsync is Call without a goroutine per call, for callers that fan one
// request out to several peers (a leadership round's term poll). It never
// waits for the connection: a request that finds the queue full waits
// for room on a goroutine of its own. done is called exactly once with what Call would have returned, from the
// connection's reader (or writer, or this goroutine when the request
// cannot be queued at all). done must not block.
//
// The returned cancel gives up on the call as a cancelled ctx does for
// Call: done gets ErrUnreachable if no byte of the request was written,
// ErrConnLost otherwise, unless the answer won the race. Calling cancel
// after done ran does nothing.
//
// The request goes out on the next pooled connection to addr when it is
// up; otherwise the call runs on a goroutine of its own, which dials that
// connection. The payload is copied, as by Call.
func (m *Mux) CallAsync(addr string, method uint8, payload []byte, done func([]byte, error)) (cancel func()) {
	if frameHeaderLen+len(payload) > m.cfg.MaxRPCBytes {
		done(nil, fmt.Errorf("%w: request of %d bytes exceeds MaxRPCBytes %d", ErrFrameTooLarge, len(payload), m.cfg.MaxRPCBytes))
		return func() {}
	}
	if m.faults.blocked(addr, outboundDir) {
		done(nil, notSent(fmt.Errorf("%w: call %s", ErrBlocked, addr)))
		return func() {}
	}
	p, err := m.peer(addr)
	if err != nil {
		done(nil, err)
		return func() {}
	}
	s := p.nextSlot()
	body := append([]byte(nil), payload...)
	if cc := s.live(); cc != nil {
		if cancel, ok := cc.callAsync(method, body, done); ok {
			return cancel
		}
	}
	// This slot has no connection up: dial it (so the next call through
	// it is asynchronous) and call on a goroutine, as Call does.
	ctx, cancelCtx := context.WithCancel(m.ctx)
	if !m.goFn(func() {
		defer cancelCtx()
		cc, err := p.getSlot(ctx, s)
		if err != nil {
			done(nil, err)
			return
		}
		resp, err := cc.call(ctx, method, body)
		if errors.Is(err, errStale) {
			resp, err = m.Call(ctx, addr, method, body)
		}
		done(resp, err)
	}) {
		cancelCtx()
		done(nil, ErrClosed)
	}
	return cancelCtx
}

// live returns the slot's connection if it is up, without dialling.
func (s *slot) live() *clientConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cc != nil && !s.cc.isDead() {
		return s.cc
	}
	return nil
}

// callAsync queues the request with done as its result's taker. It
// reports false, having done nothing, when the connection is already
// dead (the caller tries another way).
func (cc *clientConn) callAsync(method uint8, body []byte, done func([]byte, error)) (cancel func(), ok bool) {
	pc := &pendingCall{fn: done}
	cc.mu.Lock()
	if cc.dead {
		cc.mu.Unlock()
		return nil, false
	}
	cc.nextID++
	pc.id = cc.nextID
	cc.pending[pc.id] = pc
	cc.mu.Unlock()
	cancel = func() { cc.abandonAsync(pc, context.Canceled) }
	f := outFrame{id: pc.id, tag: method, payload: body, call: pc}
	select {
	case cc.w.q <- f:
	case <-cc.w.dead:
		// The writer is gone, so fail settles (or has settled) pc.
	default:
		// The queue is full: the peer reads slowly or not at all (paused).
		// The caller must not wait for room, as it may be a connection's
		// reader running another call's done, or a read cycle that every
		// group's reads wait for (node/readcycles.go): a goroutine waits
		// instead, until the writer takes the frame or dies (at the
		// latest WriteTimeout after its last write). cancel works as
		// for a queued call.
		if !cc.m.goFn(func() {
			select {
			case cc.w.q <- f:
			case <-cc.w.dead:
			}
		}) {
			cc.abandonAsync(pc, ErrClosed)
		}
	}
	return cancel, true
}

// abandonAsync gives up on an asynchronous call still pending; if its
// result is already being delivered, that delivery stands.
func (cc *clientConn) abandonAsync(pc *pendingCall, cause error) {
	if cc.take(pc.id) != pc {
		return
	}
	if pc.state.CompareAndSwap(callQueued, callAbandoned) {
		pc.deliver(callResult{err: notSent(cause)})
		return
	}
	pc.deliver(callResult{err: connLost(cause)})
}
