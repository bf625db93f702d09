package resp

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessionraft/sessionraft/transport/wire"
)

// Conn is one client connection.
//
// Each connection runs a reader goroutine (parse, Dispatch, enqueue) and a
// writer goroutine (write completed replies in request order). Between them
// is a FIFO of slots, one per request; a slot is done when its reply is
// complete. Synchronous replies are done at enqueue and cost no goroutine;
// asynchronous ones get a goroutine each.
type Conn struct {
	// State is the handler's per-connection state (for example the default
	// read consistency). The server never touches it; only Dispatch, which
	// always runs on the same goroutine, should.
	State any

	s      *Server
	nc     net.Conn
	id     uint64
	proto  atomic.Int32
	ctx    context.Context // cancelled when the connection closes
	cancel context.CancelFunc
	// input is cancelled when the reader stops: the client closed or
	// half-closed its side, or ctx ended (Deferred.InputDone).
	input     context.Context
	inputDone context.CancelFunc
	quit      bool // CloseAfterReply was called by the current Dispatch

	mu         sync.Mutex // guards q, head, readerDone and slot.done
	q          []*slot    // requests in order; q[head:] not yet taken by the writer
	head       int
	readerDone bool // no more slots will be enqueued

	// Pushes (push.go): pushOn is set by EnablePush; while inDispatch,
	// pushes wait in held for the current request's slot. Guarded by mu
	// (pushOn is also read unlocked by the reader, its only writer).
	pushOn     bool
	inDispatch bool
	held       []*slot
	onClose    func() // set by OnClose; run by serve once the connection is closed

	// readerIdle is set while the reader waits for input (or for an
	// inflight token). The writer holds finished replies back while the
	// reader is busy parsing already-received pipelined requests, and
	// writes them all at once when it idles: one write(2) per pipeline.
	readerIdle atomic.Bool
	wake       chan struct{} // cap 1: "re-check the queue" for the writer
	sem        chan struct{} // inflight tokens, cap MaxInflight
	pending    atomic.Int64  // bytes of done replies not yet written
	async      sync.WaitGroup
	writerDone chan struct{}
	closeOnce  sync.Once

	// wmu is held by whoever moves replies from q to the socket: the writer
	// goroutine, or the reader itself when it is about to wait for input
	// and the writer is not busy (connReader.Read). Writing inline saves
	// the hand-off to the writer goroutine (a futex wake and two context
	// switches per request on an unpipelined connection), which was the
	// largest cost of a cached read after the syscalls themselves.
	wmu      sync.Mutex
	out      outBatch // replies taken from q, not yet written
	ready    []*slot  // scratch for takeReady
	wstop    bool     // the writing is over (closing reply written, or a write failed)
	graceful bool     // it ended after a closing reply (QUIT, protocol error)
	// handoff is set (under wmu) when a write by another goroutine (kick)
	// ran out of socket space: the rest of c.out is the writer's.
	handoff bool
	// shortDeadline: kick's write left a write deadline foreignWriteWait
	// away on the socket, which a write without WriteTimeout must clear.
	shortDeadline bool
	// tcp: nc is a plain TCP connection, so a write that times out can be
	// resumed (a TLS connection is unusable after a write timeout).
	tcp bool
}

// slot is one request's place in the reply order. The Writer is embedded
// so that a slot and its reply buffer are one pooled allocation.
type slot struct {
	w     Writer
	reply Reply // reply.Writer == &w
	done  bool  // reply complete; guarded by Conn.mu once enqueued
	close bool  // close the connection after writing this reply
	push  bool  // an out-of-band push (Conn.Push): holds no inflight token
}

const (
	// maxPooledReply: larger reply buffers are not kept in the pool.
	maxPooledReply = 64 << 10
	// smallReply: replies up to this size are copied into the writer's
	// coalescing buffer; larger ones are written from their own buffer
	// (writev), avoiding a copy of big values.
	smallReply = 4 << 10
	// outBufSize is the coalescing buffer's size; flushBytes the batch size
	// at which the writer writes even if more replies are ready, bounding
	// latency and memory.
	outBufSize = 32 << 10
	flushBytes = 256 << 10
)

func newConn(s *Server, nc net.Conn, id uint64) *Conn {
	ctx, cancel := context.WithCancel(s.ctx)
	c := &Conn{
		s:          s,
		nc:         nc,
		id:         id,
		ctx:        ctx,
		cancel:     cancel,
		wake:       make(chan struct{}, 1),
		sem:        make(chan struct{}, s.cfg.MaxInflight),
		writerDone: make(chan struct{}),
	}
	c.input, c.inputDone = context.WithCancel(ctx)
	c.out.s = s
	_, c.tcp = nc.(*net.TCPConn)
	c.proto.Store(2)
	return c
}

// Proto returns the connection's protocol version (2 or 3).
func (c *Conn) Proto() int { return int(c.proto.Load()) }

// SetProto sets the protocol version for replies to later requests. (The
// current Reply's Writer has its own SetProto.)
func (c *Conn) SetProto(proto int) {
	if proto != 3 {
		proto = 2
	}
	c.proto.Store(int32(proto))
}

// RemoteAddr returns the client's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// ID returns the connection's id, unique within its Server.
func (c *Conn) ID() uint64 { return c.id }

// CloseAfterReply makes the connection close once the reply to the request
// being dispatched has been written (QUIT). Later pipelined requests are
// not read. Call it only from Dispatch.
func (c *Conn) CloseAfterReply() { c.quit = true }

// serve runs the connection until it closes.
func (c *Conn) serve() {
	defer c.s.wg.Done()
	c.s.log.Debug("resp: connection opened", "id", c.id, "remote", c.nc.RemoteAddr())
	go c.writeLoop()
	err := c.readLoop()
	c.inputDone()
	c.readerIdle.Store(true)
	c.mu.Lock()
	c.readerDone = true
	c.mu.Unlock()
	c.signal()
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, ErrProtocol) && !errors.Is(err, ErrTooLarge) {
		// Reset, idle timeout, server closing: nobody will read replies.
		// (After EOF the client may only have half-closed, and after a
		// bad request it must still get the error: drain those.)
		c.abort()
	}
	<-c.writerDone
	if c.graceful {
		linger(c.nc)
	}
	c.abort()
	c.async.Wait()
	if c.onClose != nil {
		c.onClose()
	}
	c.s.removeConn(c)
	c.s.log.Debug("resp: connection closed", "id", c.id, "remote", c.nc.RemoteAddr(), "err", err)
}

// abort closes the connection at once: cancels running handler functions
// and unblocks both goroutines. Safe to call any number of times.
func (c *Conn) abort() {
	c.closeOnce.Do(func() {
		c.cancel()
		_ = c.nc.Close()
	})
}

// signal wakes the writer goroutine.
func (c *Conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// connReader is the socket as seen by the request parser. It marks the
// reader idle around each read(2): the parser only reads the socket when it
// has used up what was already received, which is exactly when the writer
// should flush.
type connReader struct{ c *Conn }

func (r connReader) Read(p []byte) (int, error) {
	c := r.c
	c.readerIdle.Store(true)
	if c.wmu.TryLock() {
		// Write what is done ourselves. Anything left (replies still
		// being computed) is the writer's, and their completion wakes it.
		if !c.pump(false) {
			c.signal() // the writing is over: let the writer goroutine exit
		}
		c.wmu.Unlock()
	} else {
		c.signal() // the writer is busy; it re-checks before it sleeps
	}
	if t := c.s.cfg.IdleTimeout; t > 0 {
		if err := c.nc.SetReadDeadline(time.Now().Add(t)); err != nil {
			return 0, err
		}
	}
	for {
		n, err := c.nc.Read(p)
		c.s.stats.bytesIn.Add(uint64(n))
		if err != nil && c.s.cfg.IdleTimeout > 0 && errors.Is(err, os.ErrDeadlineExceeded) && len(c.sem) > 0 {
			// Not idle: the client is waiting for replies still in flight.
			if err := c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout)); err != nil {
				return 0, err
			}
			continue
		}
		c.readerIdle.Store(false)
		return n, err
	}
}

// readLoop parses and dispatches requests until the input ends, a protocol
// error, a QUIT, or the connection is aborted. It returns why it stopped
// (nil after QUIT).
func (c *Conn) readLoop() error {
	rd := NewReader(connReader{c}, c.s.cfg.Limits)
	for {
		args, err := rd.ReadCommand()
		if err != nil {
			var pe *parseError
			if errors.As(err, &pe) && c.acquire() {
				// Answer after all earlier replies, then close.
				sl := c.s.getSlot(c)
				sl.w.WriteError(pe.code(), pe.msg)
				sl.close = true
				c.enqueueDone(sl)
				c.s.log.Debug("resp: bad request; closing", "id", c.id, "remote", c.nc.RemoteAddr(), "err", err)
			}
			return err
		}
		if !c.acquire() {
			return c.ctx.Err()
		}
		sl := c.s.getSlot(c)
		c.s.stats.commands.Add(1)
		c.beginDispatch()
		fn := c.dispatch(args, sl)
		closing := c.quit
		sl.close = closing
		// Once enqueued, sl belongs to the writer (which may already have
		// recycled it): do not touch it below.
		switch {
		case sl.reply.deferred:
			// The holder may already have completed it (complete copes
			// with a slot not yet queued); c.async was counted by Defer.
			c.mu.Lock()
			c.q = append(c.q, sl)
			c.mu.Unlock()
		case fn == nil:
			c.enqueueDone(sl)
		case c.s.running.Add(1) > int64(c.s.cfg.MaxRunning):
			// Node-wide cap on goroutines: refuse rather than queue, so
			// the client backs off (and the request had no effect).
			c.s.running.Add(-1)
			sl.w.Reset()
			sl.w.WriteError(wire.CodeBusy, "server busy, too many requests in flight")
			c.enqueueDone(sl)
		default:
			c.mu.Lock()
			c.q = append(c.q, sl)
			c.mu.Unlock()
			c.async.Add(1)
			go c.runAsync(sl, fn)
		}
		c.endDispatch()
		if closing {
			return nil
		}
	}
}

// acquire takes an inflight token, waiting (and marking the reader idle, so
// the writer flushes and frees tokens) when MaxInflight are taken. It
// returns false if the connection is aborted meanwhile.
func (c *Conn) acquire() bool {
	select {
	case c.sem <- struct{}{}:
		return true
	default:
	}
	c.readerIdle.Store(true)
	c.signal()
	defer c.readerIdle.Store(false)
	select {
	case c.sem <- struct{}{}:
		return true
	case <-c.ctx.Done():
		return false
	}
}

// dispatch calls the handler, turning a panic into an ERR reply.
func (c *Conn) dispatch(args [][]byte, sl *slot) (fn func(context.Context)) {
	defer func() {
		if p := recover(); p != nil {
			fn = nil
			if sl.reply.deferred {
				// The reply is the Deferred holder's now; touching it
				// would race with them.
				c.s.log.Error("resp: handler panicked after Defer", "id", c.id, "panic", p, "stack", string(debug.Stack()))
				return
			}
			c.handlerPanic(sl, p)
		}
	}()
	fn = c.s.h.Dispatch(c, args, &sl.reply)
	if sl.reply.deferred {
		if fn != nil {
			c.s.log.Error("resp: handler deferred its reply and returned a function; function ignored", "id", c.id)
		}
		return nil
	}
	if fn == nil && sl.w.Len() == 0 {
		sl.w.WriteError(wire.CodeInternal, "handler wrote no reply")
	}
	return fn
}

func (c *Conn) runAsync(sl *slot, fn func(context.Context)) {
	func() {
		defer func() {
			if p := recover(); p != nil {
				c.handlerPanic(sl, p)
			}
		}()
		fn(c.ctx)
	}()
	c.s.running.Add(-1)
	c.complete(sl)
}

// complete marks an asynchronous or deferred reply done and wakes the
// writer if it was waiting for it. sl may not be queued yet (a Deferred
// completed before Dispatch returned): then the reader queues it as done,
// and its going idle wakes the writer as for any synchronous reply.
func (c *Conn) complete(sl *slot) {
	defer c.async.Done()
	// Only the head's completion can let the writer make progress.
	if c.markDone(sl) {
		c.signal()
	}
}

// markDone marks an asynchronous or deferred reply done and reports
// whether it is at the head of the queue (complete, DoneBatch).
func (c *Conn) markDone(sl *slot) (atHead bool) {
	if sl.w.Len() == 0 {
		sl.w.WriteError(wire.CodeInternal, "handler wrote no reply")
	}
	c.addPending(sl.w.Len())
	c.mu.Lock()
	sl.done = true
	atHead = c.head < len(c.q) && c.q[c.head] == sl
	c.mu.Unlock()
	return atHead
}

// kick writes the done replies at the head of the queue from the calling
// goroutine when the reader waits for input and nobody else is writing,
// as the reader itself does before it waits (connReader); otherwise it
// wakes the writer, which re-checks before it sleeps.
//
// The calling goroutine is someone else's (a quorum round, a group's
// batch answering many connections), so it must not wait on this client:
// its write waits at most foreignWriteWait for socket space, and what did
// not fit is left to the writer goroutine (handoff). A client that stops
// reading thus delays only itself. Over TLS, where a timed-out write
// cannot be resumed, the writer goroutine always writes.
func (c *Conn) kick() {
	if c.tcp && c.readerIdle.Load() && c.wmu.TryLock() {
		more := c.pump(true)
		handoff := c.handoff
		c.handoff = false
		c.wmu.Unlock()
		if more && !handoff {
			return
		}
		// The writing is over, or the rest is the writer's: wake it.
	}
	c.signal()
}

// foreignWriteWait is how long kick's write may wait for socket space.
const foreignWriteWait = 200 * time.Microsecond

func (c *Conn) handlerPanic(sl *slot, p any) {
	c.s.log.Error("resp: handler panicked", "id", c.id, "panic", p, "stack", string(debug.Stack()))
	// Drop whatever part of the reply was written: a half reply would
	// desynchronise the client.
	sl.w.Reset()
	sl.w.WriteError(wire.CodeInternal, "internal error")
}

// enqueueDone appends a slot whose reply is complete. The writer is not
// woken: the reader wakes it when it runs out of input (connReader), so
// that a pipeline's replies are written together.
func (c *Conn) enqueueDone(sl *slot) {
	c.addPending(sl.w.Len())
	c.mu.Lock()
	sl.done = true
	c.q = append(c.q, sl)
	c.mu.Unlock()
}

// addPending accounts n more bytes of replies waiting to be written and
// aborts the connection if they exceed MaxPendingBytes.
func (c *Conn) addPending(n int) {
	if c.pending.Add(int64(n)) > int64(c.s.cfg.MaxPendingBytes) {
		c.s.log.Warn("resp: client does not read its replies; closing",
			"id", c.id, "remote", c.nc.RemoteAddr(), "pending_bytes", c.pending.Load())
		c.abort()
	}
}

// takeReady moves the done slots at the front of the queue to ready.
// c.mu must be held.
func (c *Conn) takeReady(ready []*slot) []*slot {
	for c.head < len(c.q) && c.q[c.head].done {
		ready = append(ready, c.q[c.head])
		c.q[c.head] = nil
		c.head++
	}
	if c.head == len(c.q) {
		c.q, c.head = c.q[:0], 0
	} else if c.head > 64 && c.head*2 > len(c.q) {
		n := copy(c.q, c.q[c.head:])
		clear(c.q[n:])
		c.q, c.head = c.q[:n], 0
	}
	return ready
}

// writeLoop writes replies in request order until the reader is done and
// every reply is written, a closing reply is written, or the connection is
// aborted. The reader writes too when it can (see wmu); the writer is
// what writes replies that complete while the reader is blocked.
func (c *Conn) writeLoop() {
	defer close(c.writerDone)
	defer func() {
		// Whatever ended the writer, the writing is over: the reader must
		// not pump into c.out afterwards (its buffer goes back to the pool
		// here, and replies must never leave out of order or after an
		// abort).
		c.wmu.Lock()
		c.wstop = true
		c.giveBack(&c.out)
		c.out.reset()
		c.out.release()
		c.wmu.Unlock()
	}()
	for {
		c.wmu.Lock()
		more := c.pump(false)
		c.wmu.Unlock()
		if !more {
			return
		}
		select {
		case <-c.wake:
		case <-c.ctx.Done():
			return
		}
	}
}

// pump moves done replies from the front of q into c.out, in order, and
// writes the batch when the reader is idle or done (one write per
// pipeline) or the batch is big. It returns false when the writing is
// over: every reply written after the reader finished, a closing reply
// written, or a write failed. c.wmu must be held. foreign is kick's mode:
// a write that runs out of socket space sets c.handoff and returns true
// with the rest still in c.out.
func (c *Conn) pump(foreign bool) bool {
	if c.wstop || c.ctx.Err() != nil {
		return false
	}
	for {
		c.mu.Lock()
		if c.head == len(c.q) || !c.q[c.head].done || c.out.closing {
			finished := c.head == len(c.q) && c.readerDone
			c.mu.Unlock()
			if c.out.size > 0 && (finished || c.readerIdle.Load() || c.out.closing) {
				closing := c.out.closing
				if !c.flush(&c.out, foreign) {
					c.wstop = true
					return false
				}
				if c.handoff {
					return true
				}
				if closing {
					c.graceful, c.wstop = true, true
					return false
				}
				continue
			}
			if finished {
				c.wstop = true
				return false
			}
			return true
		}
		ready := c.takeReady(c.ready[:0])
		c.mu.Unlock()
		for i, sl := range ready {
			ready[i] = nil
			closing, push := sl.close, sl.push
			if c.out.add(sl) {
				c.s.putSlot(sl)
			}
			// The slot's inflight token is given back once its reply is
			// written (flush), not now: while a token is out the reader
			// does not count the connection idle, and an idle timeout
			// must not close it with a reply still unwritten.
			if !push { // (sl may be recycled by now)
				c.out.tokens++
			}
			if closing {
				// Nothing after it is written; the flush above the loop
				// writes the batch and ends the writing.
				c.out.closing = true
				clear(ready[i+1:])
				break
			}
			// After a handoff the rest of ready is only queued in c.out:
			// it is the writer's to write, after what did not fit.
			if c.out.size >= flushBytes && !c.handoff && !c.flush(&c.out, foreign) {
				c.wstop = true
				return false
			}
		}
		c.ready = ready[:0]
		if c.handoff {
			return true
		}
	}
}

// flush writes the batch. It returns false (and aborts the connection) if
// the write fails or times out. foreign (kick's write, TCP only) waits
// at most foreignWriteWait: if the socket's buffer stays full that long,
// the unwritten rest stays in b, c.handoff is set, and flush returns true.
func (c *Conn) flush(b *outBatch, foreign bool) bool {
	if b.size == 0 {
		c.giveBack(b)
		return true
	}
	switch t := c.s.cfg.WriteTimeout; {
	case foreign:
		_ = c.nc.SetWriteDeadline(time.Now().Add(foreignWriteWait))
		c.shortDeadline = true
	case t > 0:
		_ = c.nc.SetWriteDeadline(time.Now().Add(t))
	case c.shortDeadline:
		_ = c.nc.SetWriteDeadline(time.Time{})
		c.shortDeadline = false
	}
	var err error
	var n int64
	if len(b.iov) == 1 {
		var k int
		k, err = c.nc.Write(b.iov[0])
		n = int64(k)
		if err != nil {
			b.iov[0] = b.iov[0][k:]
		}
	} else {
		bufs := net.Buffers(b.iov) // writev(2) on TCP
		n, err = bufs.WriteTo(c.nc)
		if err != nil {
			// WriteTo consumed what it wrote from bufs (and trimmed a
			// partly written buffer in place): keep the rest, in order.
			k := copy(b.iov, bufs)
			clear(b.iov[k:])
			b.iov = b.iov[:k]
		}
	}
	c.s.stats.bytesOut.Add(uint64(n))
	if err != nil && foreign && errors.Is(err, os.ErrDeadlineExceeded) && c.ctx.Err() == nil {
		// The client is not reading fast enough: what is left is the
		// writer goroutine's, which may wait WriteTimeout for it. The
		// batch's replies keep their tokens until they are all written.
		c.pending.Add(-n)
		b.size -= int(n)
		b.tail = false // iov's last entry may no longer end where *out ends
		c.handoff = true
		return true
	}
	c.pending.Add(-int64(b.size))
	c.giveBack(b)
	b.reset()
	if err != nil {
		if c.ctx.Err() == nil {
			c.s.log.Debug("resp: write failed; closing", "id", c.id, "remote", c.nc.RemoteAddr(), "err", err)
		}
		c.abort()
		return false
	}
	return true
}

// giveBack returns the inflight tokens of the batch's replies.
func (c *Conn) giveBack(b *outBatch) {
	for ; b.tokens > 0; b.tokens-- {
		<-c.sem
	}
}

// outBatch is the set of replies the writer will send with its next write:
// small replies coalesced into one pooled buffer, big ones referenced in
// place.
type outBatch struct {
	s         *Server
	out       *[]byte  // coalescing buffer (fixed capacity, so iov slices into it stay valid)
	iov       [][]byte // what to write, in order
	tail      bool     // iov's last entry ends at the end of *out and can be extended
	tailStart int      // where in *out that entry starts
	held      []*slot  // slots whose buffers iov references; recycled after the write
	size      int
	closing   bool // the batch ends with a closing reply (QUIT, protocol error)
	tokens    int  // inflight tokens of the replies in the batch (see pump)
}

// add appends sl's reply to the batch. It returns true if the slot can be
// recycled at once (its reply was copied).
func (b *outBatch) add(sl *slot) bool {
	p := sl.w.buf
	b.size += len(p)
	if len(p) <= smallReply {
		if b.out == nil {
			b.out, _ = b.s.outs.Get().(*[]byte)
			if b.out == nil {
				buf := make([]byte, 0, outBufSize)
				b.out = &buf
			}
		}
		out := *b.out
		if len(out)+len(p) <= cap(out) {
			start := len(out)
			out = append(out, p...)
			*b.out = out
			if b.tail {
				b.iov[len(b.iov)-1] = out[b.tailStart:len(out):len(out)]
			} else {
				b.iov = append(b.iov, out[start:len(out):len(out)])
				b.tail, b.tailStart = true, start
			}
			return true
		}
	}
	b.iov = append(b.iov, p)
	b.tail = false
	b.held = append(b.held, sl)
	return false
}

// reset empties the batch after a write and recycles held slots.
func (b *outBatch) reset() {
	clear(b.iov)
	b.iov, b.tail, b.size, b.closing = b.iov[:0], false, 0, false
	for i, sl := range b.held {
		b.s.putSlot(sl)
		b.held[i] = nil
	}
	b.held = b.held[:0]
	if b.out != nil {
		*b.out = (*b.out)[:0]
		b.s.outs.Put(b.out)
		b.out = nil
	}
}

// release returns pooled memory when the writer exits.
func (b *outBatch) release() {
	if b.out != nil {
		*b.out = (*b.out)[:0]
		b.s.outs.Put(b.out)
		b.out = nil
	}
}
