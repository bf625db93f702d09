package node

import (
	"context"
	"fmt"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/transport/resp"
	"github.com/sessionraft/sessionraft/transport/wire"
)

// The SESSION.GET fast path. Most reads need no waiting: a stale read whose
// replica is fresh enough, a leader read on the ready leader. Those are
// answered in Dispatch, on the connection's reader goroutine: no goroutine,
// no context, no timer per request, and a pipeline's replies leave in one
// write. A linearizable read on the ready leader takes its read index in
// Dispatch and defers its reply to the shared leadership round, which
// writes it (resp.Deferred). Anything else (forwarding, a leader not ready,
// a failed round, test-mode unsafe reads) takes the general path,
// readGet on a goroutine, which retries and forwards; the fast path never
// answers an error of its own, so errors read the same on both. Both paths
// ask the same read rules (read.go) whether a read may be answered.

// errSessionNotFound is the NOTFOUND of a read.
var errSessionNotFound = fmt.Errorf("%w: session not found", fsm.ErrNotFound)

// getNow answers SESSION.GET without waiting, or defers it to a
// leadership round, and reports whether it did; false leaves r untouched
// for the general path. Whether the read may be answered is decided by the
// read rules (read.go), as on the general path.
func (h *handler) getNow(r *resp.Reply, id string, o readOpts, touch bool, obs reqObs) bool {
	n := h.n
	if n.test.unsafeReads.Load() {
		return false // the general path implements the test hook
	}
	g := n.groups[n.ring.Group(id)]
	if o.level == wire.Linearizable {
		return h.getDeferred(g, id, o, touch, r, obs)
	}
	if g.weakRead(o) != nil {
		return false // the general path waits, forwards or answers the error
	}
	h.answerGet(r, g, id, touch)
	return true
}

// getDeferred is ReadIndex with the reply deferred: the read index is taken
// now, on the ready leader; the shared round that confirms leadership
// starts after this join; linearizableRead judges the outcome. When it
// says wait for the index or retry elsewhere, a goroutine finishes the
// read (finishGet).
func (h *handler) getDeferred(g *group, id string, o readOpts, touch bool, r *resp.Reply, obs reqObs) bool {
	ri, ok := g.readIndexNow()
	if !ok {
		return false
	}
	d := observedDeferred{r.Defer(), obs} // its Done records the request
	g.verifier.join(func(round error, b *resp.DoneBatch) {
		v, err := g.linearizableRead(ri, round)
		if v == readAnswer {
			h.answerGet(d.Reply(), g, id, touch)
			d.doneIn(b)
			return
		}
		// Tracked by the connection (Server.Close waits for d), and
		// bounded by RequestTimeout.
		go h.finishGet(d, g, ri, v, err, id, o, touch)
	})
	return true
}

// finishGet completes a deferred linearizable read that the round could not
// answer on the spot, as linearizableRead's verdict v says.
func (h *handler) finishGet(d observedDeferred, g *group, ri readIndex, v readVerdict, verr error, id string, o readOpts, touch bool) {
	defer d.Done()
	ctx, cancel := context.WithTimeout(d.Context(), h.n.cfg.RequestTimeout)
	defer cancel()
	r := d.Reply()
	switch v {
	case readApplied:
		// Leadership confirmed after the read index was taken; the state
		// machine has not applied it yet.
		if err := g.rfsm.waitApplied(ctx, ri.index); err != nil {
			writeErr(r, err)
			return
		}
		h.answerGet(r, g, id, touch)
	case readFailed:
		writeErr(r, verr) // the round timed out
	default:
		// Leadership was lost or changed: the general path retries and
		// forwards to the new leader.
		h.readGet(ctx, r, id, o, touch)
	}
}

// answerGet reads id from g's local state and writes the reply. The
// caller has made the state safe to read at the request's level.
func (h *handler) answerGet(r *resp.Reply, g *group, id string, touch bool) {
	rec, ok := h.n.fsmGet(g.fsm, id)
	if !ok {
		writeErr(r, errSessionNotFound)
		return
	}
	if touch {
		h.n.touch.add(g.id, rec, h.n.now())
	}
	writeRecord(r, rec)
}
