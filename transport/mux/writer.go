package mux

import (
	"bufio"
	"net"
	"time"
)

// outFrame is one frame waiting to be written.
type outFrame struct {
	id      uint64
	tag     byte
	payload []byte
	// call is set for client requests: the writer claims it (queued → sent)
	// before writing a byte, so a caller that gave up first knows for
	// certain that nothing was sent.
	call *pendingCall
}

// frameWriter owns the write side of an RPC connection. One goroutine drains
// a queue and flushes only when the queue is empty, so many concurrent calls
// share few syscalls without any caller holding a lock across a write.
type frameWriter struct {
	conn    net.Conn
	bw      *bufio.Writer
	q       chan outFrame
	stop    chan struct{} // closed by the owner to end run
	dead    chan struct{} // closed when run returns; enqueuers stop waiting
	timeout time.Duration
}

func newFrameWriter(conn net.Conn, timeout time.Duration) *frameWriter {
	return &frameWriter{
		conn:    conn,
		bw:      bufio.NewWriterSize(conn, 64<<10),
		q:       make(chan outFrame, 256),
		stop:    make(chan struct{}),
		dead:    make(chan struct{}),
		timeout: timeout,
	}
}

// run writes queued frames until stop is closed or a write fails.
func (w *frameWriter) run() error {
	defer close(w.dead)
	for {
		var f outFrame
		select {
		case f = <-w.q:
		case <-w.stop:
			return nil
		}
		// One deadline per batch: a peer that stops reading fails the batch
		// instead of stalling the connection forever.
		if err := w.conn.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil {
			return err
		}
		if err := w.write(f); err != nil {
			return err
		}
	drain:
		for range cap(w.q) {
			select {
			case f = <-w.q:
				if err := w.write(f); err != nil {
					return err
				}
			default:
				break drain
			}
		}
		if err := w.bw.Flush(); err != nil {
			return err
		}
	}
}

func (w *frameWriter) write(f outFrame) error {
	if f.call != nil && !f.call.state.CompareAndSwap(callQueued, callSent) {
		return nil // caller gave up before we started: skip, nothing sent
	}
	var hdr [frameHeaderLen]byte
	putFrameHeader(&hdr, f.id, f.tag, len(f.payload))
	if _, err := w.bw.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.bw.Write(f.payload)
	return err
}

// enqueue queues f; it reports false if the writer is gone.
func (w *frameWriter) enqueue(f outFrame) bool {
	select {
	case w.q <- f:
		return true
	case <-w.dead:
		return false
	}
}
