package raftnet

import (
	"reflect"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/raft"
)

// countingFollower answers AppendEntries on tr's consumer with answer(req)
// and counts the requests that reached it.
type countingFollower struct {
	got    atomic.Int64
	mu     sync.Mutex
	answer func(req *raft.AppendEntriesRequest) *raft.AppendEntriesResponse
}

func (f *countingFollower) setAnswer(a func(*raft.AppendEntriesRequest) *raft.AppendEntriesResponse) {
	f.mu.Lock()
	f.answer = a
	f.mu.Unlock()
}

func startCountingFollower(t *testing.T, tr *Transport) *countingFollower {
	t.Helper()
	f := &countingFollower{answer: func(req *raft.AppendEntriesRequest) *raft.AppendEntriesResponse {
		return &raft.AppendEntriesResponse{Term: req.Term, LastLog: req.PrevLogEntry + uint64(len(req.Entries)), Success: true}
	}}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case rpc := <-tr.Consumer():
				req := rpc.Command.(*raft.AppendEntriesRequest)
				f.got.Add(1)
				f.mu.Lock()
				a := f.answer
				f.mu.Unlock()
				rpc.Respond(a(req), nil)
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return f
}

// TestIdleAppendsReused: a repeated entry-less AppendEntries is answered
// without a message while the last identical one's success is fresh;
// anything new, a heartbeat, a refusal or an error sends again, and no
// reused answer reaches OnAppend.
func TestIdleAppendsReused(t *testing.T) {
	srvMux, cliMux := newMux(t, nil), newMux(t, nil)
	srv := newTransport(t, srvMux, Config{})
	var onAppend atomic.Int64
	// An hour: within this test every repeat is fresh.
	cli := newTransport(t, cliMux, Config{MaxInFlight: 1, IdleAppendInterval: 1 << 62,
		OnAppend: func(raft.ServerID, *raft.AppendEntriesResponse) { onAppend.Add(1) }})
	f := startCountingFollower(t, srv)
	target := srv.LocalAddr()

	idle := func(commit uint64) *raft.AppendEntriesRequest {
		return &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ID: []byte("n1"), Addr: []byte("lead")}, Term: 3, Leader: []byte("lead"),
			PrevLogEntry: 10, PrevLogTerm: 3, LeaderCommitIndex: commit}
	}
	send := func(req *raft.AppendEntriesRequest) *raft.AppendEntriesResponse {
		t.Helper()
		resp := new(raft.AppendEntriesResponse)
		if err := cli.AppendEntries("n2", target, req, resp); err != nil {
			t.Fatalf("AppendEntries: %v", err)
		}
		return resp
	}
	expect := func(step string, wantSent, wantReused, wantOnAppend int64) {
		t.Helper()
		if got := f.got.Load(); got != wantSent {
			t.Errorf("%s: %d requests reached the follower, want %d", step, got, wantSent)
		}
		if got := cli.IdleAppendsReused(); got != wantReused {
			t.Errorf("%s: %d answers reused, want %d", step, got, wantReused)
		}
		if got := onAppend.Load(); got != wantOnAppend {
			t.Errorf("%s: OnAppend called %d times, want %d", step, got, wantOnAppend)
		}
	}

	first := send(idle(9))
	expect("first", 1, 0, 1)
	again := send(idle(9))
	expect("repeat", 1, 1, 1)
	if !reflect.DeepEqual(again, first) {
		t.Errorf("reused answer %+v, want the real one %+v", again, first)
	}
	send(idle(10)) // the commit index moved: news
	expect("new commit index", 2, 1, 2)
	send(idle(10))
	expect("repeat of it", 2, 2, 2)

	withEntry := idle(10)
	withEntry.Entries = []*raft.Log{{Index: 11, Term: 3, Data: []byte("x")}}
	send(withEntry)
	send(idle(10)) // an entry went out since: the repeat is not trusted
	expect("after an entry", 4, 2, 4)

	hb := &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ID: []byte("n1"), Addr: []byte("lead")}, Term: 3, Leader: []byte("lead")}
	send(hb)
	send(hb)
	expect("heartbeats", 6, 2, 6)

	// answer makes the follower answer in the request's term plus
	// termAhead, with lastLog and success.
	answer := func(termAhead, lastLog uint64, success bool) {
		f.setAnswer(func(req *raft.AppendEntriesRequest) *raft.AppendEntriesResponse {
			return &raft.AppendEntriesResponse{Term: req.Term + termAhead, LastLog: lastLog, Success: success}
		})
	}
	// A refusal is never reused: the follower is asked again.
	answer(0, 5, false)
	send(idle(11))
	send(idle(11))
	expect("refused", 8, 2, 8)
	// A newer term is never reused either.
	answer(1, 5, false)
	send(idle(12))
	send(idle(12))
	expect("newer term", 10, 2, 10)

	answer(0, 10, true)
	send(idle(13))
	send(idle(13))
	expect("success again", 11, 3, 11)
	// An error forgets the remembered answer.
	srv.Close()
	if err := cli.AppendEntries("n2", target, idle(14), new(raft.AppendEntriesResponse)); err == nil {
		t.Fatal("AppendEntries to a closed transport succeeded")
	}
	if err := cli.AppendEntries("n2", target, idle(13), new(raft.AppendEntriesResponse)); err == nil {
		t.Error("a repeat after a failed request was answered from memory")
	}
}

// TestIdleAppendsOff: with IdleAppendInterval 0 every request is sent.
func TestIdleAppendsOff(t *testing.T) {
	srvMux, cliMux := newMux(t, nil), newMux(t, nil)
	srv := newTransport(t, srvMux, Config{})
	cli := newTransport(t, cliMux, Config{MaxInFlight: 1})
	f := startCountingFollower(t, srv)
	req := &raft.AppendEntriesRequest{Term: 3, Leader: []byte("lead"), PrevLogEntry: 10, PrevLogTerm: 3, LeaderCommitIndex: 9}
	for range 3 {
		if err := cli.AppendEntries("n2", srv.LocalAddr(), req, new(raft.AppendEntriesResponse)); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.got.Load(); got != 3 {
		t.Errorf("%d requests reached the follower, want 3", got)
	}
}
