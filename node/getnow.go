package node

import (
	"context"
	"errors"
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
// handler.get on a goroutine, which retries and forwards; the fast path
// never answers an error of its own, so errors read exactly as before.

// errSessionNotFound is the NOTFOUND of a read.
var errSessionNotFound = fmt.Errorf("%w: session not found", fsm.ErrNotFound)

// getNow answers SESSION.GET without waiting, or defers it to a
// leadership round, and reports whether it did; false leaves r untouched
// for the general path.
func (h *handler) getNow(_ *resp.Conn, st *connState, args [][]byte, r *resp.Reply) bool {
	n := h.n
	if n.test.unsafeReads.Load() {
		return false // the general path implements the test hook
	}
	o, touch, err := parseReadOpts(args[2:], st.opts, true)
	if err != nil {
		return false
	}
	id := string(args[1])
	gid := n.ring.Group(id)
	g := n.groups[gid]
	switch o.level {
	case wire.Stale:
		if g.stateAge() > o.maxStale { // staleCheck's test, without its error
			return false
		}
	case wire.Leader:
		if _, ok := g.readyNow(); !ok {
			return false
		}
	case wire.Linearizable:
		return h.getDeferred(g, id, o, touch, r)
	default:
		return false
	}
	h.answerGet(r, g, id, touch)
	return true
}

// getDeferred is ReadIndex with the reply deferred: the read index is the
// commit index taken now, on a leader whose term barrier is applied; the
// shared round that confirms leadership starts after this join; the reply
// is written only if the leadership epoch is unchanged and the index is
// applied. Otherwise a goroutine finishes the read (finishGet).
func (h *handler) getDeferred(g *group, id string, o readOpts, touch bool, r *resp.Reply) bool {
	epoch, ok := g.readyNow()
	if !ok {
		return false
	}
	idx := g.raft.CommitIndex()
	d := r.Defer()
	g.verifier.join(func(err error) {
		if err == nil && g.stillReady(epoch) && g.rfsm.applied.Load() >= idx {
			h.answerGet(d.Reply(), g, id, touch)
			d.Done()
			return
		}
		// Tracked by the connection (Server.Close waits for d), and
		// bounded by RequestTimeout.
		go h.finishGet(d, g, epoch, idx, err, id, o, touch)
	})
	return true
}

// finishGet completes a deferred linearizable read that the round could not
// answer on the spot.
func (h *handler) finishGet(d resp.Deferred, g *group, epoch, idx uint64, verr error, id string, o readOpts, touch bool) {
	defer d.Done()
	ctx, cancel := context.WithTimeout(d.Context(), h.n.cfg.RequestTimeout)
	defer cancel()
	r := d.Reply()
	switch {
	case verr == nil && g.stillReady(epoch):
		// Leadership confirmed after the read index was taken; the state
		// machine has not applied it yet.
		if err := g.rfsm.waitApplied(ctx, idx); err != nil {
			writeErr(r, err)
			return
		}
		h.answerGet(r, g, id, touch)
	case verr != nil && !errors.Is(verr, ErrNotLeader):
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
