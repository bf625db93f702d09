package node

import (
	"context"
	"fmt"
	"sync"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/transport/resp"
)

// The leader's side of a forwarded write (rpcWrite), on the write fast
// path: the mux runs handleWriteRPC on the connection's reader goroutine
// (mux.HandleDeferred), which queues the command in the group's batcher
// as a pendingWrite whose reply goes back over the connection; the batch's
// goroutine answers it, or writeWaits at its deadline. As a general-path
// handler (handleRPC -> propose) it cost a goroutine, a context with a
// timer and a result channel per request, the larger part of what the
// leader spent on a forwarded write beyond raft (docs/benchmarks.md).
//
// The answers are those handleRPC gave through propose, and the origin
// (forwardWrite, write) reads them as before:
//   - refused before anything is queued (not the leader, batcher stopped,
//     limits, memory quota, a full queue): the refusal at once. NOTLEADER,
//     UNAVAILABLE and BUSY tell the origin nothing was applied, so it
//     retries within its own deadline (retryUnapplied);
//   - the batch's outcome, errors included. An outcome that proves nothing
//     was applied (raft's ErrNotLeader, a transfer in progress, the
//     batcher stopping) goes back as NOTLEADER for the origin to retry: a
//     forwarded request is never forwarded again (forward.go);
//   - no outcome RequestTimeout after it was queued: INDETERMINATE, as the
//     handler's context ending was;
//   - the node closing does not answer it early: the batcher still
//     answers every proposal it took (queued ones NOTLEADER, proposed ones
//     with raft's outcome) before the mux closes, so the origin learns
//     what happened, as it did from propose.

// handleWriteRPC serves rpcWrite as a mux.DeferredHandler.
func (n *Node) handleWriteRPC(ctx context.Context, payload []byte, reply func([]byte, error)) {
	if err := n.checkCaller(ctx); err != nil {
		reply(nil, asReply(err))
		return
	}
	g, payload, err := n.rpcGroup(payload)
	if err != nil {
		reply(nil, err)
		return
	}
	cmd, err := fsm.DecodeCommand(payload)
	if err != nil {
		reply(nil, asReply(fmt.Errorf("%w: %v", ErrBadArg, err)))
		return
	}
	// The limits a local write passes (write): a peer gets no more than a
	// client.
	size := len(payload)
	if err := n.cfg.checkCommand(cmd, size); err != nil {
		reply(nil, asReply(err))
		return
	}
	if !g.isLeader() {
		reply(nil, asReply(ErrNotLeader))
		return
	}
	if g.batcherStopped() {
		reply(nil, asReply(fmt.Errorf("%w: shutting down", ErrNotLeader)))
		return
	}
	release, err := n.admitWrite(cmd, size)
	if err != nil {
		reply(nil, asReply(err))
		return
	}
	w := &pendingWrite{n: n, release: release, rpc: reply}
	w.prop = proposal{cmd: cmd, size: size, w: w}
	if !n.writeWaits.add(w) {
		// The node is closing and nothing was queued.
		release()
		reply(nil, asReply(fmt.Errorf("%w: shutting down", ErrNotLeader)))
		return
	}
	select {
	case g.proposeCh <- &w.prop:
	default:
		// A full queue: nothing was queued, so the origin may retry
		// (BUSY is retryable there). Waiting for room would need a
		// goroutine per refused write, or stall this connection.
		if w.claim() {
			n.writeWaits.remove(w)
			release()
			reply(nil, asReply(fmt.Errorf("%w: the group's write queue is full (nothing was applied)", ErrBusy)))
		}
	}
}

// replyRPC answers a forwarded write with its outcome (claimed by the
// caller, unlinked from writeWaits, its admission released).
func (w *pendingWrite) replyRPC(res fsm.Result, err error) {
	if err != nil {
		w.rpc(nil, asReply(err))
		return
	}
	w.rpc(fsm.AppendResult(nil, &res), nil)
}

// The origin's side of a forwarded write, on the fast path: a write of a
// group another node leads is sent to that leader from the connection's
// reader goroutine (mux.CallAsync) and its reply deferred, instead of a
// goroutine, context and timer per write waiting in forwardWrite. The
// semantics are the general path's (write, writeAttempt):
//   - an answer that proves nothing was applied (NOTLEADER, UNAVAILABLE,
//     the request never sent) is retried by the write path on a
//     goroutine, within the write's deadline;
//   - any other answer is the reply (a connection lost after the request
//     left is INDETERMINATE, translateCallErr);
//   - no answer by the deadline (RequestTimeout from now, writeWaits):
//     INDETERMINATE, and the call is abandoned.

// forwardCall holds the cancel function of a write's call to the leader,
// which arrives after the call may already have ended or expired.
type forwardCall struct {
	mu        sync.Mutex
	cancel    func()
	abandoned bool
}

// set records cancel, or runs it when the write was abandoned meanwhile.
func (c *forwardCall) set(cancel func()) {
	c.mu.Lock()
	abandoned := c.abandoned
	if !abandoned {
		c.cancel = cancel
	}
	c.mu.Unlock()
	if abandoned {
		cancel()
	}
}

// stop abandons the call to the leader, if one was made.
func (c *forwardCall) stop() {
	c.mu.Lock()
	c.abandoned = true
	cancel := c.cancel
	c.cancel = nil
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// forwardNow sends w's step to g's leader with the reply deferred, and
// reports whether it did; false: no leader is known, and the general path
// runs it.
func (h *handler) forwardNow(q request, g *group, w *pendingWrite) bool {
	n := h.n
	addr, _ := g.leaderAddr()
	if addr == "" {
		return false
	}
	w.release = func() {}
	if !w.track(q) {
		return true // the general path has it
	}
	w.call.set(n.mux.CallAsync(addr, rpcWrite, n.writeRequest(g.id, &w.step.cmd), w.forwarded))
	return true
}

// forwarded takes the leader's answer to w (mux.CallAsync's done: it
// runs on the mux's reader and must not block).
//
// The reply goes through a DoneBatch so that, when the client's
// connection is waiting for input, the mux reader writes it to the client
// itself (resp's kick: at most a short wait for socket space) instead of
// waking the connection's writer goroutine, a futex wake and two context
// switches per forwarded write; the writer goroutine was 11% of the
// origin's CPU under redis-benchmark SET (docs/benchmarks.md).
func (w *pendingWrite) forwarded(out []byte, err error) {
	if !w.claim() {
		return // the sweeper answered it at its deadline
	}
	w.n.writeWaits.remove(w)
	res, err := writeReply(out, err)
	var b resp.DoneBatch
	w.outcome(res, err, &b)
	b.Flush()
}
