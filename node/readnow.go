package node

import (
	"context"
	"fmt"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/transport/resp"
	"github.com/sessionraft/sessionraft/transport/wire"
)

// The fast path of one-key reads: SESSION.GET and the Redis reads of one
// key (GET, HGET, HGETALL, TTL, ...). Most reads need no waiting: a stale
// read whose replica is fresh enough, a leader read on the ready leader.
// Those are answered in Dispatch, on the connection's reader goroutine: no
// goroutine, no context, no timer per request, and a pipeline's replies
// leave in one write. A linearizable read on the ready leader takes its
// read index in Dispatch and defers its reply to the shared leadership
// round, which writes it (resp.Deferred). Anything else (forwarding, a
// leader not ready, a failed round, test-mode unsafe reads) takes the
// general path, readGeneral on a goroutine, which retries and forwards;
// the fast path never answers an error of its own, so errors read the same
// on both. Both paths ask the same read rules (read.go) whether a read may
// be answered, and both answer from the record through the command's
// keyRead, as a transaction's queued read does (txn_read.go).

// errSessionNotFound is the NOTFOUND of a read.
var errSessionNotFound = fmt.Errorf("%w: session not found", fsm.ErrNotFound)

// keyRead is a command that reads one key (args[1], or SESSION.GET's id)
// and answers from its record: the kind of key it works on (anyKind: any;
// another kind is WRONGTYPE) and its reply, which gets a nil record for a
// key that does not exist.
type keyRead struct {
	kind  fsm.Kind
	reply recordReply
}

// readKey adapts a keyRead into a command read at the connection's
// default level.
func readKey(k keyRead) cmdFunc {
	return func(h *handler, q request) func(context.Context) {
		o := q.st.opts
		q.st.obs.level = o.level
		return h.readOneKey(q, oneRead{keyRead: k, key: string(q.args[1]), args: q.args, o: o})
	}
}

// oneRead is one request of a keyRead.
type oneRead struct {
	keyRead
	key   string
	args  [][]byte // the command's, for the reply
	o     readOpts
	touch bool // SESSION.GET without NOTOUCH: an answered session is marked used
}

// readOneKey answers rd on the fast path when it can (readNow), and
// returns the general path otherwise.
func (h *handler) readOneKey(q request, rd oneRead) func(context.Context) {
	if h.readNow(q.r, &rd, q.st.obs) {
		return nil
	}
	return h.readLater(q.r, rd)
}

// readLater returns the general path for rd. It is a function of its own
// so that only this path puts a copy of rd on the heap: a closure in
// readOneKey capturing rd would move rd there on every read, the fast
// path's included.
func (h *handler) readLater(r *resp.Reply, rd oneRead) func(context.Context) {
	return func(ctx context.Context) { h.readGeneral(ctx, r, &rd) }
}

// readNow answers rd without waiting, or defers it to a leadership round,
// and reports whether it did; false leaves r untouched for the general
// path. Whether the read may be answered is decided by the read rules
// (read.go), as on the general path.
func (h *handler) readNow(r *resp.Reply, rd *oneRead, obs reqObs) bool {
	n := h.n
	if n.test.unsafeReads.Load() {
		return false // the general path implements the test hook
	}
	g := n.groups[n.ring.Group(rd.key)]
	if rd.o.level == wire.Linearizable {
		return h.readDeferred(g, rd, r, obs)
	}
	if g.weakRead(rd.o) != nil {
		return false // the general path waits, forwards or answers the error
	}
	h.answerLocal(r, g, rd)
	return true
}

// readDeferred is ReadIndex with the reply deferred: the read index is
// taken now, on the ready leader; the shared round that confirms
// leadership starts after this join; linearizableRead judges the outcome.
// When it says wait for the index or retry elsewhere, a goroutine finishes
// the read (finishRead).
func (h *handler) readDeferred(g *group, rd *oneRead, r *resp.Reply, obs reqObs) bool {
	ri, ok := g.readIndexNow()
	if !ok {
		if g.isLeader() {
			return false // not ready yet: the general path waits
		}
		h.readOnFollower(g, rd, r, obs) // followerread.go
		return true
	}
	d := observedDeferred{r.Defer(), obs} // its Done records the request
	kept := *rd                           // rd is the caller's, on its stack
	g.verifier.join(func(_ uint64, round error, b *resp.DoneBatch) {
		v, err := g.linearizableRead(ri, round)
		if v == readAnswer {
			h.answerLocal(d.Reply(), g, &kept)
			d.doneIn(b)
			return
		}
		// Tracked by the connection (Server.Close waits for d), and
		// bounded by RequestTimeout.
		go h.finishRead(d, g, ri, v, err, &kept)
	})
	return true
}

// finishRead completes a deferred linearizable read that the round could
// not answer on the spot, as linearizableRead's verdict v says.
func (h *handler) finishRead(d observedDeferred, g *group, ri readIndex, v readVerdict, verr error, rd *oneRead) {
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
		h.answerLocal(r, g, rd)
	case readFailed:
		writeErr(r, verr) // the round timed out
	default:
		// Leadership was lost or changed: the general path retries and
		// forwards to the new leader.
		h.readGeneral(ctx, r, rd)
	}
}

// answerLocal reads rd's key from g's local state and writes the reply.
// The caller has made the state safe to read at the request's level.
//
// One clock reading serves both the expiry check and the reply (TTLs,
// the touch): a record judged alive at now is answered as of now, and
// the fast path reads the clock once instead of twice.
func (h *handler) answerLocal(r *resp.Reply, g *group, rd *oneRead) {
	now := h.n.now()
	rec, _ := h.n.fsmGetAt(g.fsm, rd.key, now)
	h.answerRecord(r, g.id, rd, rec, now)
}

// readGeneral runs rd through the general path (localOrForward: it waits,
// retries and forwards within ctx) and writes the reply.
func (h *handler) readGeneral(ctx context.Context, r *resp.Reply, rd *oneRead) {
	rec, err := h.n.lookup(ctx, rd.key, rd.o)
	if err != nil {
		writeErr(r, err)
		return
	}
	h.answerRecord(r, h.n.ring.Group(rd.key), rd, rec, h.n.now())
}

// answerRecord writes rd's reply from the key's record (nil: no such key),
// read from group gid, as of now (Node.now), and marks an answered
// session used when rd asks.
func (h *handler) answerRecord(r *resp.Reply, gid int, rd *oneRead, rec *fsm.Record, now int64) {
	rec, err := ofKind(rec, rd.kind)
	if err != nil {
		writeErr(r, err)
		return
	}
	if rd.touch && rec != nil {
		h.n.touch.add(gid, rec, now)
	}
	rd.reply(r, rd.args, rec, now)
}
