package node

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/transport/resp"
	"github.com/sessionraft/sessionraft/transport/wire"
)

// The write fast path: a write of one command to a group this node leads
// is handed to the group's batcher (write.go) from the connection's reader
// goroutine, its reply deferred (resp.Deferred), and the batch's goroutine
// writes the reply when the entry applies, with the batch's other replies
// (resp.DoneBatch). No goroutine, context, timer or channel per request:
// that was most of what a create cost beyond raft itself (docs/benchmarks.md,
// round 6).
//
// The semantics are the general path's (write, on a goroutine):
//   - anything but "this node leads the group and its batcher takes the
//     command now" goes the general path (forwarding, no leader, refused
//     commands), except a full queue, which is answered ErrBusy at once;
//   - an outcome that guarantees nothing was applied (ErrNotLeader,
//     ErrUnavailable) is retried as write retries it, on a goroutine, within
//     the request's deadline;
//   - a request still waiting at its deadline (RequestTimeout after it was
//     queued) or when the node closes is answered ErrIndeterminate, as a
//     cancelled propose is: one sweeper per node (writeWaits) keeps the
//     deadlines, in order, instead of a timer per request;
//   - replies keep request order (the connection holds a deferred reply's
//     place) and are recorded in the request metrics when written
//     (observedDeferred).

// writeStep is a write command split for the fast path: what to propose,
// and how to answer its outcome.
type writeStep struct {
	gid int
	cmd fsm.Command
	// answer writes the reply to the outcome of write(gid, cmd). On the
	// fast path it runs on the batch's goroutine, so it must not block.
	answer func(ctx context.Context, r *resp.Reply, res fsm.Result, err error)
	// blocks, when set, reports outcomes answer cannot give without
	// waiting (a replayed create's record is read back): those are
	// answered on a goroutine.
	blocks func(res fsm.Result, err error) bool
}

// writeCmd adapts a write command made of prep (parse on the reader
// goroutine; false after writing a refusal) and a writeStep.
func writeCmd(prep func(h *handler, args [][]byte, r *resp.Reply) (writeStep, bool)) cmdFunc {
	return func(h *handler, q request) func(context.Context) {
		step, ok := prep(h, q.args, q.r)
		if !ok {
			return nil
		}
		return h.writeNow(q, step)
	}
}

// writeGeneral is the general path of a step: on a goroutine, through
// write (retries, forwarding, the request's context).
func (h *handler) writeGeneral(r *resp.Reply, step *writeStep) func(context.Context) {
	return func(ctx context.Context) {
		res, err := h.n.write(ctx, step.gid, step.cmd)
		step.answer(ctx, r, res, err)
	}
}

// writeNow proposes step from the reader goroutine and defers its reply
// when it can (nil), or returns the general path.
func (h *handler) writeNow(q request, step writeStep) func(context.Context) {
	// One allocation holds the step, its proposal and its wait (w), and
	// every path below uses w's copy: step itself then stays on the stack
	// (a closure of the general path would otherwise capture it, and
	// move it to the heap for every write).
	n := h.n
	w := &pendingWrite{n: n, step: step}
	g, err := n.group(w.step.gid)
	if err != nil || g.batcherStopped() {
		return h.writeGeneral(q.r, &w.step)
	}
	cmd := &w.step.cmd
	size := commandSize(cmd)
	if n.cfg.checkCommand(cmd, size) != nil || (addsData(cmd) && n.checkWriteSpace() != nil) {
		return h.writeGeneral(q.r, &w.step) // it gives the refusal
	}
	if !g.isLeader() {
		if h.forwardNow(q, g, w) { // writeforward.go
			return nil
		}
		return h.writeGeneral(q.r, &w.step)
	}
	release, err := n.admitWrite(cmd, size)
	if err != nil {
		return h.writeGeneral(q.r, &w.step)
	}
	w.release = release
	if !w.track(q) {
		return nil
	}
	w.prop = proposal{cmd: cmd, size: size, w: w}
	select {
	case g.proposeCh <- &w.prop:
		return nil
	default:
		// A full queue: nothing was queued, so say so (BUSY: the
		// client may retry). Waiting for room on a goroutine would
		// hold one per refused write, and the reply is already
		// deferred, so no cap on running requests would count it.
		if w.claim() {
			n.writeWaits.remove(w)
			w.release()
			w.answer(fsm.Result{}, fmt.Errorf("%w: the group's write queue is full (nothing was applied)", ErrBusy))
			w.done(nil)
		}
		return nil
	}
}

// track defers w's reply to q, counts w as pending (Drain waits for it
// until done) and gives it a deadline in writeWaits. It reports false when
// the node is closing: w then goes the general path, which answers it.
func (w *pendingWrite) track(q request) bool {
	w.d = observedDeferred{q.r.Defer(), q.st.obs}
	w.n.pendingWrites.Add(1)
	if !w.n.writeWaits.add(w) {
		w.claim()
		w.release()
		w.general(nil)
		return false
	}
	return true
}

// batcherStopped reports whether the group's batcher has stopped (the node
// is closing): a proposal queued now would wait for its deadline.
func (g *group) batcherStopped() bool {
	select {
	case <-g.batchStopped:
		return true
	default:
		return false
	}
}

// pendingWrite is a fast-path write waiting for its outcome: settled by
// the batch (settle), by the sweeper at its deadline or at shutdown
// (expire), whichever claims it first.
type pendingWrite struct {
	n        *Node
	step     writeStep
	prop     proposal // what the batcher gets: points to step.cmd
	d        observedDeferred
	release  func() // admitWrite's
	deadline time.Time
	// rpc, when set, is a forwarded write's reply (writeforward.go): it
	// takes the outcome, and step and d are unused.
	rpc func([]byte, error)
	// call is set on the origin of a write forwarded from the fast path
	// (forwardNow): it abandons the call to the leader.
	call forwardCall
	// prev and next link writeWaits' list (under its mu).
	prev, next *pendingWrite
	claimed    atomic.Bool
}

// claim reports whether the caller is the one to answer w.
func (w *pendingWrite) claim() bool { return w.claimed.CompareAndSwap(false, true) }

// settle answers the batch's outcome for w.
func (w *pendingWrite) settle(r proposalResult, b *resp.DoneBatch) {
	if !w.claim() {
		return // the sweeper answered it already
	}
	w.n.writeWaits.remove(w)
	w.release()
	if w.rpc != nil {
		// Every outcome goes back to the origin, which retries those
		// that prove nothing was applied (a forwarded write is never
		// forwarded again).
		w.replyRPC(r.res, r.err)
		return
	}
	w.outcome(r.res, r.err, b)
}

// outcome answers w, claimed by the caller, with the write's outcome: on
// a goroutine when it proves nothing was applied (the write path retries
// it) or when the step's answer must wait, at once otherwise.
func (w *pendingWrite) outcome(res fsm.Result, err error, b *resp.DoneBatch) {
	switch {
	case err != nil && retryable(err):
		w.general(err)
	case w.step.blocks != nil && w.step.blocks(res, err):
		w.general(nil, res)
	default:
		w.answer(res, err)
		w.done(b)
	}
}

// answer runs the step's answer on a goroutine that must not die of it.
func (w *pendingWrite) answer(res fsm.Result, err error) {
	r := w.d.Reply()
	defer func() {
		if p := recover(); p != nil {
			r.Reset()
			r.WriteError(wire.CodeInternal, "internal error")
			w.n.log.Error("write reply panicked", "panic", p, "stack", string(debug.Stack()))
		}
	}()
	w.step.answer(w.d.Context(), r, res, err)
}

// general finishes w on a goroutine, within its deadline: with the write
// path's retries after a first outcome firstErr that guarantees nothing was
// applied, or, given a result, with the step's blocking answer, or (neither)
// running the whole write path.
func (w *pendingWrite) general(firstErr error, res ...fsm.Result) {
	go func() {
		ctx, cancel := context.WithDeadline(w.d.Context(), w.deadlineOr())
		defer cancel()
		defer w.done(nil)
		r := w.d.Reply()
		defer func() { // as answer: a panic must not take the node down
			if p := recover(); p != nil {
				r.Reset()
				r.WriteError(wire.CodeInternal, "internal error")
				w.n.log.Error("write reply panicked", "panic", p, "stack", string(debug.Stack()))
			}
		}()
		switch {
		case len(res) == 1:
			w.step.answer(ctx, r, res[0], nil)
		case firstErr != nil:
			n := w.n
			g, _ := n.group(w.step.gid)
			size := commandSize(&w.step.cmd)
			var out fsm.Result
			err := n.retryAfter(ctx, firstErr, func() (err error) {
				out, err = n.writeAttempt(ctx, g, w.step.cmd, size)
				return err
			})
			w.step.answer(ctx, r, out, err)
		default:
			out, err := w.n.write(ctx, w.step.gid, w.step.cmd)
			w.step.answer(ctx, r, out, err)
		}
	}()
}

// deadlineOr is w's deadline, or RequestTimeout from now for a write that
// never got one (refused by writeWaits).
func (w *pendingWrite) deadlineOr() time.Time {
	if w.deadline.IsZero() {
		return time.Now().Add(w.n.cfg.RequestTimeout)
	}
	return w.deadline
}

// expire answers w as a propose cancelled by ctx's end (cause) is.
func (w *pendingWrite) expire(cause error) {
	w.call.stop()
	w.release()
	err := fmt.Errorf("%w: %v while waiting for commit", ErrIndeterminate, cause)
	if w.rpc != nil {
		w.replyRPC(fsm.Result{}, err)
		return
	}
	w.answer(fsm.Result{}, err)
	w.done(nil)
}

// done sends w's reply (with batch b's when given) and stops counting it
// as pending.
func (w *pendingWrite) done(b *resp.DoneBatch) {
	if b != nil {
		w.d.doneIn(b)
	} else {
		w.d.Done()
	}
	if w.n != nil {
		w.n.pendingWrites.Add(-1)
	}
}

// writeWaits keeps the deadlines of the node's fast-path writes. Each gets
// RequestTimeout from the moment it is added, under mu, so the list is in
// deadline order and the sweeper only ever looks at its head.
type writeWaits struct {
	mu         sync.Mutex
	head, tail *pendingWrite
	closed     bool
	wake       chan struct{} // buffered(1): the list was empty
	timeout    time.Duration
}

func newWriteWaits(timeout time.Duration) *writeWaits {
	return &writeWaits{wake: make(chan struct{}, 1), timeout: timeout}
}

// add links w in with its deadline; false once the node is closing.
func (ws *writeWaits) add(w *pendingWrite) bool {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.closed {
		return false
	}
	w.deadline = time.Now().Add(ws.timeout)
	if ws.tail == nil {
		ws.head, ws.tail = w, w
		select {
		case ws.wake <- struct{}{}:
		default:
		}
		return true
	}
	w.prev = ws.tail
	ws.tail.next = w
	ws.tail = w
	return true
}

// remove unlinks w (claimed by the caller, so the sweeper no longer wants it).
func (ws *writeWaits) remove(w *pendingWrite) {
	ws.mu.Lock()
	ws.unlink(w)
	ws.mu.Unlock()
}

func (ws *writeWaits) unlink(w *pendingWrite) {
	if w.prev != nil {
		w.prev.next = w.next
	} else if ws.head == w {
		ws.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else if ws.tail == w {
		ws.tail = w.prev
	}
	w.prev, w.next = nil, nil
}

// expired unlinks and returns the writes whose deadline is before now that
// it could claim, and the next deadline (zero: none).
func (ws *writeWaits) expired(now time.Time) (out []*pendingWrite, next time.Time) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for w := ws.head; w != nil && !w.deadline.After(now); w = ws.head {
		ws.unlink(w)
		if w.claim() {
			out = append(out, w)
		}
	}
	if ws.head != nil {
		next = ws.head.deadline
	}
	return out, next
}

// close refuses further writes and unlinks and returns those of the
// client port it could claim (rpc false) or all that are left (rpc true).
func (ws *writeWaits) close(rpc bool) (out []*pendingWrite) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ws.closed = true
	for w := ws.head; w != nil; {
		next := w.next
		if rpc || w.rpc == nil {
			ws.unlink(w)
			if w.claim() {
				out = append(out, w)
			}
		}
		w = next
	}
	return out
}

// loop answers writes at their deadline. When closing closes it answers
// every client write still waiting (the connections' contexts end then
// too, which is what a general-path write would have seen), but keeps the
// deadlines of forwarded writes: the batchers still answer those with
// their real outcome (NOTLEADER for queued ones, the origin retries)
// while the internal port is up. When stopped closes (after the internal
// port did, so no reply gets out) it ends the rest and returns.
func (ws *writeWaits) loop(closing, stopped <-chan struct{}) {
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		select {
		case <-closing:
			closing = nil
			for _, w := range ws.close(false) {
				w.expire(context.Canceled)
			}
		case <-stopped:
			for _, w := range ws.close(true) {
				w.expire(context.Canceled)
			}
			return
		case <-ws.wake:
		case <-t.C:
		}
		out, next := ws.expired(time.Now())
		for _, w := range out {
			w.expire(context.DeadlineExceeded)
		}
		if !next.IsZero() {
			t.Reset(time.Until(next))
		}
	}
}
