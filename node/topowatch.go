package node

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// TOPOLOGY WAIT is a long poll (as Consul's blocking queries are): it lets a
// client learn of a change in what TOPOLOGY reports when it happens, not at
// its next periodic refresh. Without it a client keeps sending a group's
// writes to a node that no longer leads the group, which forwards each one
// (an extra hop and its CPU), for up to a refresh interval after every
// leader change: after a failover, after the balancer moves leaders once a
// cluster starts, after a leadership transfer.
//
// The node numbers its views of the cluster. The epoch starts at the
// process's start time in nanoseconds, so a restarted node does not repeat
// an epoch a client saw from its previous run, and goes up by one on each
// change a client routes by: a group's leader and a server a leader's
// configuration gains or loses (raft's observations, watchLeaders), and a
// member that joins, leaves or changes its addresses or id (gossip,
// noteMember). TOPOLOGY reports it. TOPOLOGY WAIT epoch
// ms answers at once when the epoch is no longer epoch, and otherwise
// defers its reply until the epoch moves or ms pass, whichever is first;
// either way the reply is the topology of that moment. A waiting request
// holds no goroutine: a deferred reply, a runtime timer and a
// context.AfterFunc for its connection's input ending (a client that
// closes its connection frees its place at once). A connection holds at
// most one, so the connection limit (--max-clients) bounds them: a cap of
// their own below it would only let one client that opens many
// connections refuse everyone else's waits.

// maxTopoWait bounds one TOPOLOGY WAIT. (A pending reply keeps the client
// port's idle timeout from closing its connection.)
const maxTopoWait = 5 * time.Minute

// topoWaitCmd is a wait's command label in the request metrics: its
// duration is the long poll's, which must not count as TOPOLOGY's
// latency.
const topoWaitCmd = "TOPOLOGY WAIT"

// topoWatch is the node's topology epoch and the requests waiting for it
// to move.
type topoWatch struct {
	epoch atomic.Uint64
	kick  chan struct{} // capacity 1: the epoch moved; pending kicks coalesce

	mu      sync.Mutex
	waiters map[*topoWaiter]struct{}
}

// topoWaiter is one deferred TOPOLOGY WAIT. Whoever removes it from
// topoWatch.waiters (the epoch's loop, its timer, its connection's end)
// answers it, so it is answered exactly once.
type topoWaiter struct {
	d     observedDeferred
	st    *connState
	epoch uint64 // the epoch it waits to move from
	timer *time.Timer
	stop  func() bool // stops the connection-end callback
}

func newTopoWatch(start time.Time) *topoWatch {
	tw := &topoWatch{kick: make(chan struct{}, 1), waiters: map[*topoWaiter]struct{}{}}
	tw.epoch.Store(uint64(start.UnixNano()))
	return tw
}

// bump records a change clients route by. It is cheap and never blocks:
// gossip's event callbacks call it.
func (tw *topoWatch) bump() {
	tw.epoch.Add(1)
	select {
	case tw.kick <- struct{}{}:
	default:
	}
}

// pending is how many waits the node holds.
func (tw *topoWatch) pending() int {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	return len(tw.waiters)
}

// take removes w, reporting whether the caller is the one to answer it.
func (tw *topoWatch) take(w *topoWaiter) bool {
	tw.mu.Lock()
	_, ok := tw.waiters[w]
	delete(tw.waiters, w)
	tw.mu.Unlock()
	return ok
}

// moved removes and returns the waiters whose epoch is no longer current.
func (tw *topoWatch) moved() []*topoWaiter {
	now := tw.epoch.Load()
	tw.mu.Lock()
	defer tw.mu.Unlock()
	var out []*topoWaiter
	for w := range tw.waiters {
		if w.epoch != now {
			out = append(out, w)
			delete(tw.waiters, w)
		}
	}
	return out
}

// topoWatchLoop answers the waiting requests whenever the epoch moves,
// until ctx ends; after that their timers or their connections' ends
// answer them.
func (n *Node) topoWatchLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.topo.kick:
		}
		ws := n.topo.moved()
		if len(ws) == 0 {
			continue
		}
		epoch := n.topo.epoch.Load() // before the view: writeTopology
		sts := n.status()
		for _, w := range ws {
			w.timer.Stop()
			w.stop()
			n.writeTopology(w.d.Reply(), sts, epoch)
			w.finish()
		}
	}
}

// answerWait answers w with the topology of the moment, taken from
// topoWatch.waiters by its timer or its connection's end. A connection
// that is closing gets a short error instead: nobody will read it, and the
// server's Close answers every wait at once.
func (n *Node) answerWait(w *topoWaiter) {
	if w.d.Context().Err() != nil {
		writeErr(w.d.Reply(), ErrShutdown)
		w.finish()
		return
	}
	epoch := n.topo.epoch.Load() // before the view: writeTopology
	n.writeTopology(w.d.Reply(), n.status(), epoch)
	w.finish()
}

func (w *topoWaiter) finish() {
	w.st.topoWaiting.Store(false)
	w.d.Done()
}

// topologyWait answers TOPOLOGY WAIT epoch timeout-ms.
func (h *handler) topologyWait(q request) {
	r := q.r
	if len(q.args) != 4 || !strings.EqualFold(string(q.args[1]), "WAIT") {
		writeErr(r, errSyntax)
		return
	}
	epoch, err := parseUint(q.args[2], "epoch")
	if err != nil {
		writeErr(r, err)
		return
	}
	ms, err := parseUint(q.args[3], "timeout")
	if err != nil || ms == 0 || ms > uint64(maxTopoWait/time.Millisecond) {
		writeErr(r, fmt.Errorf("%w: timeout must be 1 to %d milliseconds, got %q", ErrBadArg, maxTopoWait/time.Millisecond, q.args[3]))
		return
	}
	tw := h.n.topo
	if !q.st.topoWaiting.CompareAndSwap(false, true) {
		writeErr(r, fmt.Errorf("%w: this connection already has a TOPOLOGY WAIT pending", ErrBadArg))
		return
	}
	tw.mu.Lock()
	now := tw.epoch.Load()
	if now != epoch {
		tw.mu.Unlock()
		q.st.topoWaiting.Store(false)
		h.n.writeTopology(r, h.n.status(), now)
		return
	}
	obs := q.st.obs
	obs.cmd = topoWaitCmd
	w := &topoWaiter{d: observedDeferred{r.Defer(), obs}, st: q.st, epoch: epoch}
	tw.waiters[w] = struct{}{}
	// The callbacks are set before the lock is released: until then
	// nobody else can take w and reach them.
	n := h.n
	w.timer = time.AfterFunc(time.Duration(ms)*time.Millisecond, func() {
		if tw.take(w) {
			w.stop()
			n.answerWait(w)
		}
	})
	// A client that closed its connection will not read the answer; one
	// that half-closed it reads it now. Either way the wait need not
	// hold the connection open any longer.
	w.stop = context.AfterFunc(w.d.InputDone(), func() {
		if tw.take(w) {
			w.timer.Stop()
			n.answerWait(w)
		}
	})
	tw.mu.Unlock()
}
