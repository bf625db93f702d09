package raftnet

import (
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// follower answers every AppendEntries on tr's consumer until stop is
// closed: with success, or with a newer term when deposing.
func follower(tr *Transport, stop <-chan struct{}, deposing bool) {
	for {
		select {
		case rpc := <-tr.Consumer():
			req := rpc.Command.(*raft.AppendEntriesRequest)
			resp := &raft.AppendEntriesResponse{Term: req.Term, LastLog: req.PrevLogEntry + uint64(len(req.Entries)), Success: true}
			if deposing {
				resp.Term, resp.Success = req.Term+1, false
			}
			rpc.Respond(resp, nil)
		case <-stop:
			return
		}
	}
}

// TestPipelineConsumerGone is hashicorp/raft v1.8.0's pipeline deadlock,
// replayed on this transport: raft's decoder stops reading Consumer while
// its sender keeps appending. The sender must get an error instead of
// blocking for ever, and Close must return. (Timeout is short only so the
// test is quick: it is how long a vanished consumer is waited for.)
func TestPipelineConsumerGone(t *testing.T) {
	srvMux, cliMux := newMux(t, nil), newMux(t, nil)
	srv := newTransport(t, srvMux, Config{})
	cli := newTransport(t, cliMux, Config{MaxInFlight: 4, Timeout: 300 * time.Millisecond})
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); follower(srv, stop, false) }()
	t.Cleanup(func() { close(stop); <-done })

	p, err := cli.AppendEntriesPipeline("n1", srv.LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	// Nobody reads p.Consumer(). Keep sending, as raft's sender may.
	result := make(chan error, 1)
	go func() {
		for i := range 10000 {
			req := &raft.AppendEntriesRequest{Term: 1, Leader: []byte("x"), PrevLogEntry: uint64(i), Entries: []*raft.Log{{Index: uint64(i + 1), Term: 1, Data: []byte("d")}}}
			if _, err := p.AppendEntries(req, new(raft.AppendEntriesResponse)); err != nil {
				result <- err
				return
			}
		}
		result <- nil
	}()
	// A hang detector, not a timing assertion: it only fails a deadlock.
	select {
	case err := <-result:
		if !errors.Is(err, ErrPipelineStalled) {
			t.Fatalf("sender ended with %v, want ErrPipelineStalled", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("AppendEntries blocked with nobody consuming: the v1.8.0 deadlock")
	}
	closed := make(chan error, 1)
	go func() { closed <- p.Close() }()
	select {
	case <-closed:
	case <-time.After(60 * time.Second):
		t.Fatal("pipeline Close blocked")
	}
	// The transport still works for synchronous RPCs.
	var resp raft.AppendEntriesResponse
	if err := cli.AppendEntries("n1", srv.LocalAddr(), &raft.AppendEntriesRequest{Term: 1, Leader: []byte("x"), PrevLogEntry: 5}, &resp); err != nil || !resp.Success {
		t.Fatalf("sync append after the pipeline failed: %v %+v", err, resp)
	}
}

// TestPipelineInOrder: responses are matched to their requests in order,
// the consumer sees each exactly once, and Close fails what is in flight
// without blocking.
func TestPipelineInOrder(t *testing.T) {
	srvMux, cliMux := newMux(t, nil), newMux(t, nil)
	srv := newTransport(t, srvMux, Config{})
	cli := newTransport(t, cliMux, Config{MaxInFlight: 8})
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); follower(srv, stop, false) }()
	t.Cleanup(func() { close(stop); <-done })

	p, err := cli.AppendEntriesPipeline("n1", srv.LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			req := &raft.AppendEntriesRequest{Term: 1, Leader: []byte("x"), PrevLogEntry: uint64(i), Entries: []*raft.Log{{Index: uint64(i + 1), Term: 1}}}
			if _, err := p.AppendEntries(req, new(raft.AppendEntriesResponse)); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	for i := range n {
		var f raft.AppendFuture
		select {
		case f = <-p.Consumer():
		case <-time.After(60 * time.Second):
			t.Fatalf("no response %d", i)
		}
		if err := f.Error(); err != nil {
			t.Fatalf("future %d: %v", i, err)
		}
		if got := f.Response().LastLog; got != uint64(i+1) || f.Request().PrevLogEntry != uint64(i) {
			t.Fatalf("future %d: request %d answered with last log %d", i, f.Request().PrevLogEntry, got)
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.AppendEntries(&raft.AppendEntriesRequest{Term: 1}, new(raft.AppendEntriesResponse)); !errors.Is(err, raft.ErrPipelineShutdown) {
		t.Fatalf("append after Close: %v", err)
	}
}

// TestNoPipelineAtDepthOne: MaxInFlight 1 means synchronous replication;
// so does SendLegacy (raft's own pipeline is the one that deadlocks).
func TestNoPipelineAtDepthOne(t *testing.T) {
	m := newMux(t, nil)
	tr := newTransport(t, m, Config{MaxInFlight: 1})
	if _, err := tr.AppendEntriesPipeline("n1", "127.0.0.1:1"); !errors.Is(err, raft.ErrPipelineReplicationNotSupported) {
		t.Fatalf("got %v", err)
	}
}

// TestPipelineEndsOnNewerTerm is the deadlock's usual trigger: the
// follower answers with a newer term, raft's decoder takes that answer and
// returns. The sender's next append fails at once (no Timeout involved),
// so raft's sender leaves pipeline mode and closes the pipeline.
func TestPipelineEndsOnNewerTerm(t *testing.T) {
	srvMux, cliMux := newMux(t, nil), newMux(t, nil)
	srv := newTransport(t, srvMux, Config{})
	cli := newTransport(t, cliMux, Config{MaxInFlight: 4})
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); follower(srv, stop, true) }()
	t.Cleanup(func() { close(stop); <-done })

	p, err := cli.AppendEntriesPipeline("n1", srv.LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	// raft's decoder: take one answer, see the newer term, return.
	decoded := make(chan *raft.AppendEntriesResponse, 1)
	go func() {
		f := <-p.Consumer()
		decoded <- f.Response()
	}()
	result := make(chan error, 1)
	go func() {
		for i := range 10000 {
			req := &raft.AppendEntriesRequest{Term: 1, Leader: []byte("x"), PrevLogEntry: uint64(i)}
			if _, err := p.AppendEntries(req, new(raft.AppendEntriesResponse)); err != nil {
				result <- err
				return
			}
		}
		result <- nil
	}()
	select {
	case err := <-result:
		if !errors.Is(err, ErrPipelineEnded) {
			t.Fatalf("sender ended with %v, want ErrPipelineEnded", err)
		}
	case <-time.After(60 * time.Second): // a hang detector
		t.Fatal("AppendEntries blocked after the follower's newer term: the v1.8.0 deadlock")
	}
	if resp := <-decoded; resp.Term != 2 || resp.Success {
		t.Fatalf("raft's decoder got %+v, want the newer term", resp)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}
