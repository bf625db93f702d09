package raftnet

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/transport/raftcodec"
)

// A pipeline sends AppendEntries on a connection of its own without
// waiting for their responses, at most MaxInFlight unanswered or not yet
// taken by raft.
//
// hashicorp/raft v1.8.0's own pipeline deadlocks when a leader is
// deposed with it full: raft's decoder goroutine returns (it saw a newer
// term or a failed append) and stops reading the Consumer channel; the
// transport's response reader blocks handing it the next response; the
// sender's AppendEntries blocks because the in-flight queue only drains
// through that reader; and the sender is the goroutine that would Close
// the pipeline. Every wait in that cycle is on someone else, for ever.
//
// Here the cycle cannot close:
//   - raft's decoder returns only after a response with a newer term or
//     without success (or once the sender has left its loop, which is
//     the sender's own doing). The reader sees that response too: it
//     hands it to raft and then fails the pipeline (ErrPipelineEnded), so
//     the sender's next AppendEntries returns at once with an error, raft
//     leaves pipeline mode and Closes the pipeline;
//   - should raft stop consuming anyway, the reader waits at most
//     Config.Timeout to hand over a response, then fails the pipeline
//     (ErrPipelineStalled) instead of waiting for ever;
//   - AppendEntries waits only for a slot or the failure; a slot is freed
//     when the reader has handed a response over, and reads and writes
//     have deadlines (no response for Config.Timeout fails the pipeline).
//
// A consumer that is merely slow is waited for (that is back-pressure,
// not a failure). A failed future is not handed to raft: its decoder would
// count a zero response as contact with the follower.
type pipeline struct {
	t  *Transport
	id raft.ServerID
	cc *clientConn

	slots    chan struct{}          // one per unanswered request
	inflight chan *appendFuture     // sent, in order, for the reader
	done     chan raft.AppendFuture // answered, for raft

	mu      sync.Mutex
	pending []byte // encoded frames the writer has not taken yet
	wake    chan struct{}

	failed   chan struct{}
	failOnce sync.Once
	err      error // set before failed is closed

	wg sync.WaitGroup
}

var _ raft.AppendPipeline = (*pipeline)(nil)

// AppendEntriesPipeline implements raft.Transport.
func (t *Transport) AppendEntriesPipeline(id raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	if t.cfg.SendLegacy || t.cfg.MaxInFlight < 2 {
		// raft's own pipeline is the one that deadlocks; a depth of one
		// is synchronous replication.
		return nil, raft.ErrPipelineReplicationNotSupported
	}
	cc, _, err := t.getConn(target)
	if err != nil {
		return nil, err
	}
	p := &pipeline{
		t:        t,
		id:       id,
		cc:       cc,
		slots:    make(chan struct{}, t.cfg.MaxInFlight),
		inflight: make(chan *appendFuture, t.cfg.MaxInFlight),
		done:     make(chan raft.AppendFuture, t.cfg.MaxInFlight),
		wake:     make(chan struct{}, 1),
		failed:   make(chan struct{}),
	}
	cc.c.SetDeadline(time.Time{})
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		cc.c.Close()
		return nil, shutdownErr()
	}
	t.pipelines[p] = struct{}{}
	t.mu.Unlock()
	p.wg.Add(2)
	go p.writer()
	go p.reader()
	return p, nil
}

// AppendEntries implements raft.AppendPipeline.
func (p *pipeline) AppendEntries(args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) (raft.AppendFuture, error) {
	select {
	case <-p.failed:
		return nil, p.err // a failure wins over a free slot
	default:
	}
	select {
	case p.slots <- struct{}{}:
	case <-p.failed:
		return nil, p.err
	}
	f := &appendFuture{start: time.Now(), args: args, resp: resp, ch: make(chan struct{})}
	p.mu.Lock()
	if p.cc.hello {
		p.pending = append(p.pending, protoVersion)
		p.cc.hello = false
	}
	var err error
	p.pending, err = appendFrame(p.pending, typeAppendEntries, p.t.cfg.MaxFrameBytes,
		func(b []byte) []byte { return raftcodec.EncodeAppendEntriesRequest(b, args) })
	if err != nil {
		p.mu.Unlock()
		<-p.slots
		return nil, err
	}
	// Queued before the writer can see the frame, so the reader always
	// knows the request a response answers. Never blocks: a slot is held.
	p.inflight <- f
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return f, nil
}

// writer writes whatever frames are pending in one write per wake-up:
// requests queued while a write is under way go out together.
func (p *pipeline) writer() {
	defer p.wg.Done()
	var spare []byte
	for {
		select {
		case <-p.wake:
		case <-p.failed:
			return
		}
		p.mu.Lock()
		buf := p.pending
		if len(buf) == 0 {
			p.mu.Unlock()
			continue
		}
		// Swap buffers: the sender appends to spare while buf is written.
		p.pending = spare[:0]
		p.mu.Unlock()
		p.cc.c.SetWriteDeadline(time.Now().Add(p.t.cfg.Timeout))
		if _, err := p.cc.c.Write(buf); err != nil {
			p.fail(err)
			return
		}
		spare = buf[:0]
		if cap(spare) > 4<<20 {
			spare = nil // do not keep a burst's buffer for ever
		}
	}
}

// reader matches responses to requests in order and hands them to raft.
func (p *pipeline) reader() {
	defer p.wg.Done()
	stall := time.NewTimer(time.Hour)
	stall.Stop()
	for {
		var f *appendFuture
		select {
		case f = <-p.inflight:
		case <-p.failed:
			return
		}
		p.cc.c.SetReadDeadline(time.Now().Add(p.t.cfg.Timeout))
		status, body, err := readFrame(p.cc.br, p.t.cfg.MaxFrameBytes)
		var text string
		var msg []byte
		if err == nil {
			text, msg, err = splitResponse(status, body)
		}
		if err == nil {
			if derr := raftcodec.DecodeAppendEntriesResponse(msg, f.resp); derr != nil {
				err = fmt.Errorf("%w: %w", ErrProtocol, derr)
			}
		}
		if err != nil {
			f.respond(err)
			p.fail(err)
			return
		}
		if text != "" {
			f.respond(errors.New(text))
		} else {
			f.respond(nil)
			if p.t.cfg.OnAppend != nil {
				p.t.cfg.OnAppend(p.id, f.resp)
			}
		}
		// raft's decoder returns after this response: nothing more will
		// be taken, so nothing more may be sent.
		last := f.resp.Term > f.args.Term || !f.resp.Success
		select {
		case p.done <- f:
		default:
			stall.Reset(p.t.cfg.Timeout)
			select {
			case p.done <- f:
				stall.Stop()
			case <-p.failed:
				stall.Stop()
				return
			case <-stall.C:
				p.fail(ErrPipelineStalled)
				return
			}
		}
		<-p.slots
		if last {
			p.fail(ErrPipelineEnded)
			return
		}
	}
}

// fail records the first error, wakes every waiter and closes the
// connection (unblocking the reader and writer).
func (p *pipeline) fail(err error) {
	p.failOnce.Do(func() {
		p.err = fmt.Errorf("pipeline to %s: %w", p.cc.target, err)
		close(p.failed)
		p.cc.c.Close()
	})
}

// Consumer implements raft.AppendPipeline.
func (p *pipeline) Consumer() <-chan raft.AppendFuture { return p.done }

// Close implements raft.AppendPipeline: it fails what is in flight and
// waits for the pipeline's two goroutines, which the closed connection
// has already released.
func (p *pipeline) Close() error {
	p.fail(fmt.Errorf("%w: %w", ErrClosed, raft.ErrPipelineShutdown))
	p.wg.Wait()
	for {
		select {
		case f := <-p.inflight:
			f.respond(p.err)
		default:
			p.t.mu.Lock()
			delete(p.t.pipelines, p)
			p.t.mu.Unlock()
			return nil
		}
	}
}

// appendFuture is one pipelined AppendEntries.
type appendFuture struct {
	start time.Time
	args  *raft.AppendEntriesRequest
	resp  *raft.AppendEntriesResponse
	err   error
	ch    chan struct{}
}

var _ raft.AppendFuture = (*appendFuture)(nil)

func (f *appendFuture) respond(err error) {
	f.err = err
	close(f.ch)
}

// Error implements raft.Future: it waits for the response.
func (f *appendFuture) Error() error {
	<-f.ch
	return f.err
}

func (f *appendFuture) Start() time.Time                      { return f.start }
func (f *appendFuture) Request() *raft.AppendEntriesRequest   { return f.args }
func (f *appendFuture) Response() *raft.AppendEntriesResponse { return f.resp }
