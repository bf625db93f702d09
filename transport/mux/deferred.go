package mux

import (
	"context"
	"sync/atomic"
)

// Deferred methods. A forwarded write waits for a raft commit: as an
// ordinary method it holds a goroutine (and its caller's context and
// timer) per request for that whole wait, although the node already
// queues the write and is told its outcome by the batch that commits it.
// A deferred method's handler only starts the work, on the connection's
// reader goroutine, and answers through a reply function later, from
// whichever goroutine learns the outcome.

// DeferredHandler serves a deferred method. It runs on the connection's
// reader goroutine, so it must not block: it starts the work and returns.
// It must call reply exactly once, at once or later, from any goroutine;
// reply never blocks. Its arguments are handled as an RPCHandler's
// return values (a non-nil error is sent as a *RemoteError). A reply
// after the connection broke or the Mux closed is dropped: the caller has
// already been told ErrConnLost. ctx is the connection's (CallerFrom
// works on it) and ends with it; the handler need not watch it, but work
// it keeps past its end only to reply may stop then. payload is the
// handler's, as an RPCHandler's is.
type DeferredHandler func(ctx context.Context, payload []byte, reply func([]byte, error))

// HandleDeferred installs h for method: its requests go to h instead of
// the RPCHandler, without a goroutine each and without counting against
// the concurrent-handler bound (h's own queues must bound the work).
// Set it before traffic arrives; nil removes it.
func (m *Mux) HandleDeferred(method uint8, h DeferredHandler) {
	if h == nil {
		m.deferred[method].Store(nil)
		return
	}
	m.deferred[method].Store(&h)
}

// runDeferred hands request id to h with a reply function bound to w.
func (m *Mux) runDeferred(ctx context.Context, w *frameWriter, h DeferredHandler, id uint64, method uint8, payload []byte) {
	var replied atomic.Bool
	reply := func(resp []byte, err error) {
		if !replied.CompareAndSwap(false, true) {
			m.log.Error("deferred rpc handler replied twice", "method", method)
			return
		}
		m.replyNoWait(w, id, resp, err)
	}
	defer func() {
		if r := recover(); r != nil {
			err := m.panicked(method, r)
			// Unless it replied before panicking, the caller is owed an
			// answer.
			if replied.CompareAndSwap(false, true) {
				m.replyNoWait(w, id, nil, err)
			}
		}
	}()
	h(ctx, payload, reply)
}

// replyNoWait is reply without blocking its caller (a batch answering
// many requests must not wait for one slow peer): when the connection's
// queue is full, a goroutine waits for room instead. A connection that
// is gone drops the reply, as reply does.
func (m *Mux) replyNoWait(w *frameWriter, id uint64, resp []byte, err error) {
	f := m.replyFrame(id, resp, err)
	select {
	case w.q <- f:
		return
	case <-w.dead:
		return
	default:
	}
	m.goFn(func() { w.enqueue(f) })
}

// deferredFor returns method's deferred handler, if one is installed.
func (m *Mux) deferredFor(method uint8) (DeferredHandler, bool) {
	hp := m.deferred[method].Load()
	if hp == nil {
		return nil, false
	}
	return *hp, true
}
