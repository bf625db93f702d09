package resp

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"testing"
	"time"
)

// A client that stops reading must delay only itself. A DoneBatch is
// flushed by a goroutine that answers many connections (a quorum round, a
// group's write batch); when it completes a non-reading client's replies
// and the socket is full, it must leave the rest to that connection's
// writer instead of waiting WriteTimeout on it, so the next connection's
// reply in the same batch still goes out. The non-reading client then
// gets every reply, whole and in order, once it reads.
func TestDoneBatchSlowReaderDelaysOnlyItself(t *testing.T) {
	const n, size = 96, 256 << 10 // 24 MiB: more than loopback's socket buffers hold
	queue, fastQueue := make(chan Deferred, n), make(chan Deferred, 1)
	h := HandlerFunc(func(c *Conn, args [][]byte, r *Reply) func(context.Context) {
		d := r.Defer()
		i, _ := strconv.Atoi(string(args[1]))
		d.Reply().WriteBulk(payload(i, size))
		if i < 0 {
			fastQueue <- d
		} else {
			queue <- d
		}
		return nil
	})
	// A write may wait ten minutes for a slow client: longer than the
	// test's own deadline, so waiting on the slow client fails the test.
	_, addr := startServer(t, ServerConfig{WriteTimeout: 10 * time.Minute, MaxPendingBytes: 1 << 30}, h)

	slow := dialRaw(t, addr)
	// A small receive buffer, so the server's writes fill it early.
	if tc, ok := slow.Conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(64 << 10)
	}
	var req []byte
	for i := range n {
		req = appendCommand(req, []string{"DEFER", strconv.Itoa(i)})
	}
	if _, err := slow.Conn.Write(req); err != nil {
		t.Fatal(err)
	}
	fast := dialRaw(t, addr)
	if _, err := fast.Conn.Write(appendCommand(nil, []string{"DEFER", "-1"})); err != nil {
		t.Fatal(err)
	}
	// One round: the slow connection's replies first, then the fast one's.
	var slowDs []Deferred
	deadline := time.After(30 * time.Second)
	for len(slowDs) < n {
		select {
		case d := <-queue:
			slowDs = append(slowDs, d)
		case <-deadline:
			t.Fatalf("got %d of %d deferred requests", len(slowDs), n)
		}
	}
	var fastD Deferred
	select {
	case fastD = <-fastQueue:
	case <-deadline:
		t.Fatal("the fast client's request never arrived")
	}
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		var b DoneBatch
		for _, d := range slowDs {
			b.Done(d)
		}
		b.Done(fastD)
		b.Flush()
	}()
	_ = fast.Conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if v := fast.read(t); v.Kind != Bulk || !bytes.Equal([]byte(v.Str), payload(-1, size)) {
		t.Fatalf("fast client's reply is wrong (%d bytes)", len(v.Str))
	}
	select {
	case <-flushed:
	case <-time.After(30 * time.Second):
		t.Fatal("DoneBatch.Flush is still waiting on a client that does not read")
	}
	// Now the slow client reads: every reply, whole, in order.
	_ = slow.Conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	for i := range n {
		v := slow.read(t)
		if v.Kind != Bulk || !bytes.Equal([]byte(v.Str), payload(i, size)) {
			t.Fatalf("slow client's reply %d is wrong (%d bytes)", i, len(v.Str))
		}
	}
}

// payload is reply i's content: size bytes that differ for every i.
func payload(i, size int) []byte {
	p := bytes.Repeat([]byte{byte('a' + (i+26)%26)}, size)
	copy(p, strconv.Itoa(i)+":")
	return p
}
