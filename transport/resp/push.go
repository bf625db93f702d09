package resp

import "net"

// Out-of-band pushes (pub/sub messages): another goroutine hands a
// connection a complete message, which the writer sends between replies,
// in the order the pushes were made. A push is a done slot queued like a
// reply, so it never splits one and needs no second path to the socket.
//
// Order with the replies: a push made while the connection's reader is
// dispatching a request (the request that subscribed, say) is held until
// that request's reply is queued, so a SUBSCRIBE's confirmation always
// precedes the first message on the channel. Pushes take no inflight
// token; their bytes count toward MaxPushBytes, and a connection whose
// unwritten output passes it is closed, as Redis closes a pub/sub client
// past its client-output-buffer-limit.

// EnablePush prepares the connection for Push. Call it from Dispatch (for
// example when the connection first subscribes); until then dispatching
// costs no extra locking.
func (c *Conn) EnablePush() {
	c.mu.Lock()
	if !c.pushOn {
		c.pushOn = true
		c.inDispatch = true // called from Dispatch: hold pushes until its reply is queued
	}
	c.mu.Unlock()
}

// Push queues a message written by fn, in the connection's protocol (use
// WritePushLen: a push in RESP3, an array in RESP2). It is safe to call
// from any goroutine. It returns false if the connection is closed, or is
// closed now because its unwritten output exceeds MaxPushBytes.
func (c *Conn) Push(fn func(w *Writer)) bool {
	if c.ctx.Err() != nil {
		return false
	}
	sl := c.s.getSlot(c)
	fn(&sl.w)
	n := sl.w.Len()
	if c.pending.Add(int64(n)) > int64(c.s.cfg.MaxPushBytes) {
		c.pending.Add(-int64(n))
		c.s.putSlot(sl)
		c.s.log.Warn("resp: subscriber does not read its messages; closing",
			"id", c.id, "remote", c.nc.RemoteAddr(), "pending_bytes", c.pending.Load())
		c.abort()
		return false
	}
	sl.done, sl.push = true, true
	c.mu.Lock()
	if c.readerDone {
		c.mu.Unlock()
		c.pending.Add(-int64(n))
		c.s.putSlot(sl)
		return false
	}
	if c.inDispatch {
		c.held = append(c.held, sl)
		c.mu.Unlock()
		return true
	}
	c.q = append(c.q, sl)
	c.mu.Unlock()
	c.signal()
	return true
}

// beginDispatch marks the reader as dispatching, so pushes wait for the
// request's reply (see EnablePush).
func (c *Conn) beginDispatch() {
	if !c.pushOn {
		return // only the reader sets pushOn (in Dispatch): no lock needed to read it here
	}
	c.mu.Lock()
	c.inDispatch = true
	c.mu.Unlock()
}

// endDispatch queues the pushes held during the dispatch, after the
// request's slot.
func (c *Conn) endDispatch() {
	if !c.pushOn {
		return
	}
	c.mu.Lock()
	c.inDispatch = false
	held := c.held
	c.q = append(c.q, held...)
	clear(held)
	c.held = held[:0]
	c.mu.Unlock()
	if len(held) > 0 {
		c.signal()
	}
}

// OnClose sets fn to run once the connection has closed and its handler
// functions have returned (a subscriber leaves its channels). Call it from
// Dispatch; a later call replaces fn.
func (c *Conn) OnClose(fn func()) { c.onClose = fn }

// LocalAddr returns the server's side of the connection.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }
