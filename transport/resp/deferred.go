package resp

import "context"

// Deferred is a reply that Dispatch left open for another goroutine to
// complete. It exists for requests that wait on something many requests
// share, such as a quorum round: whoever runs that round can write every
// waiting reply itself, so no goroutine is parked per request (the cost
// the function returned by Dispatch has).
//
// The holder must call Done exactly once, after writing one complete reply
// into Reply, and must not touch the reply afterwards. Until then the
// connection keeps the reply's place in the order, and Server.Close waits
// for it: a holder must complete every Deferred it takes, also when the
// connection is closing (Context is done then).
type Deferred struct {
	sl *slot
}

// Defer detaches r from Dispatch: Dispatch must then return nil, and the
// returned Deferred completes the reply later. Defer may only be called
// from Dispatch, once, on a Reply made by a Conn.
func (r *Reply) Defer() Deferred {
	if r.c == nil || r.deferred {
		panic("resp: Reply.Defer called outside Dispatch or twice")
	}
	r.deferred = true
	r.c.async.Add(1) // before any holder can call Done
	return Deferred{sl: r.sl}
}

// Reply is the reply to write into.
func (d Deferred) Reply() *Reply { return &d.sl.reply }

// Context is the connection's context: done when the connection or the
// server closes, at which point nobody will read the reply, so a holder may
// complete it with any error at once.
func (d Deferred) Context() context.Context { return d.sl.reply.c.ctx }

// InputDone is done once the client can send nothing more: it closed or
// half-closed its side of the connection, the server stopped reading it
// (a bad request, QUIT), or Context ended. The reply is still written
// while the connection lasts (a half-closed client reads it). A holder
// that waits on the client's behalf for something open-ended, such as a
// long poll, may answer at once then rather than hold the connection
// open until its timeout.
func (d Deferred) InputDone() context.Context { return d.sl.reply.c.input }

// Done hands the completed reply to the connection's writer.
func (d Deferred) Done() { d.sl.reply.c.complete(d.sl) }

// DoneBatch completes many Deferred replies at once, for a holder that
// answers a whole round of them (a quorum round's reads). Done per reply
// would wake each connection's writer goroutine per reply; a batch marks
// them all done and then, in Flush, writes each connection's finished
// replies itself, with one write(2) per connection, when neither the
// connection's reader nor its writer is busy with them (otherwise it
// leaves them to the writer, as Deferred.Done does). The zero value is
// ready; it may be reused after Flush. It is not safe for concurrent use.
type DoneBatch struct {
	conns []batchConn
}

type batchConn struct {
	c      *Conn
	n      int  // replies completed; their async counts are released by Flush
	atHead bool // one of them was at the head of the queue: the writer can make progress
}

// Done marks d's reply complete. The holder must not touch the reply
// afterwards, and must call Flush before long: until then the reply is
// not written.
func (b *DoneBatch) Done(d Deferred) {
	c := d.sl.reply.c
	atHead := c.markDone(d.sl)
	for i := range b.conns {
		if b.conns[i].c == c {
			b.conns[i].n++
			b.conns[i].atHead = b.conns[i].atHead || atHead
			return
		}
	}
	b.conns = append(b.conns, batchConn{c: c, n: 1, atHead: atHead})
}

// Flush hands every connection of the batch its completed replies.
func (b *DoneBatch) Flush() {
	for i := range b.conns {
		bc := &b.conns[i]
		if bc.atHead {
			bc.c.kick()
		}
		for range bc.n {
			bc.c.async.Done()
		}
		*bc = batchConn{}
	}
	b.conns = b.conns[:0]
}
