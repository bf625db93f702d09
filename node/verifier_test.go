package node

import (
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/transport/resp"
)

// fakeRounds stands in for a group's rounds: each round announces its
// start on started and ends with what the test sends on results.
type fakeRounds struct {
	started chan int
	results chan error
	n       int
}

// answers collects verifier callbacks by waiter name.
type answers struct {
	mu  sync.Mutex
	got map[string][]error
	ch  chan string
}

func (a *answers) waiter(name string) roundWaiter {
	return func(_ uint64, err error, _ *resp.DoneBatch) {
		a.mu.Lock()
		a.got[name] = append(a.got[name], err)
		a.mu.Unlock()
		a.ch <- name
	}
}

func (a *answers) next(t *testing.T) string {
	t.Helper()
	return receive(t, a.ch, 10*time.Second, "timed out waiting for a verifier answer")
}

func (a *answers) errs(name string) []error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.got[name]
}

// start is verifier.start: the outcome comes from another goroutine.
func (f *fakeRounds) start(done func(uint64, error)) {
	f.n++
	f.started <- f.n
	go func() { done(0, <-f.results) }()
}

// newTestVerifier returns a verifier whose rounds f runs, in read cycles
// of its own.
func newTestVerifier(t *testing.T, timeout time.Duration) (*verifier, *fakeRounds, *answers) {
	t.Helper()
	f := &fakeRounds{started: make(chan int, 8), results: make(chan error)}
	var wg sync.WaitGroup
	v := &verifier{start: f.start, timeout: timeout, gate: &roundGate{wg: &wg}, cycles: &readCycles{timeout: time.Hour}}
	t.Cleanup(wg.Wait)
	return v, f, &answers{got: map[string][]error{}, ch: make(chan string, 8)}
}

func waitStarted(t *testing.T, f *fakeRounds, want int) {
	t.Helper()
	select {
	case n := <-f.started:
		if n != want {
			t.Fatalf("round %d started, want %d", n, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for round %d", want)
	}
}

// A reader that joins while a round runs is answered by the next round,
// which starts after it joined: the ReadIndex rule.
func TestVerifierJoinsNextRound(t *testing.T) {
	v, f, a := newTestVerifier(t, time.Hour)
	v.join(a.waiter("first"))
	waitStarted(t, f, 1)
	v.join(a.waiter("second")) // round 1 is running
	f.results <- nil
	if name := a.next(t); name != "first" {
		t.Fatalf("round 1 answered %q, want first", name)
	}
	waitStarted(t, f, 2)
	if errs := a.errs("second"); len(errs) != 0 {
		t.Fatalf("second answered by the round it did not precede: %v", errs)
	}
	f.results <- errors.New("lost leadership")
	if name := a.next(t); name != "second" {
		t.Fatalf("round 2 answered %q, want second", name)
	}
	if errs := a.errs("second"); len(errs) != 1 || !errors.Is(errs[0], ErrNotLeader) {
		t.Fatalf("second got %v, want one ErrNotLeader", errs)
	}
}

// Readers stuck behind a round that does not return are answered with
// ErrUnavailable after the timeout, once; the round's late answer is
// dropped.
func TestVerifierRoundTimeout(t *testing.T) {
	v, f, a := newTestVerifier(t, 20*time.Millisecond)
	v.join(a.waiter("stuck"))
	waitStarted(t, f, 1)
	v.join(a.waiter("queued")) // waits for round 2, which cannot start yet
	got := map[string]bool{a.next(t): true, a.next(t): true}
	if !got["stuck"] || !got["queued"] {
		t.Fatalf("answered %v, want stuck and queued", got)
	}
	for _, name := range []string{"stuck", "queued"} {
		if errs := a.errs(name); len(errs) != 1 || !errors.Is(errs[0], ErrUnavailable) {
			t.Fatalf("%s got %v, want one ErrUnavailable", name, errs)
		}
	}
	f.results <- nil // round 1 ends late; nobody is waiting for it
	v.join(a.waiter("later"))
	waitStarted(t, f, 2)
	f.results <- nil
	if name := a.next(t); name != "later" {
		t.Fatalf("answered %q, want later", name)
	}
	if errs := a.errs("stuck"); len(errs) != 1 {
		t.Fatalf("stuck answered %d times", len(errs))
	}
}

// A verifier in read cycles whose rounds answer before start returns (a
// round that fails at once) runs the rounds queued meanwhile in a loop,
// not in nested calls, and every waiter is answered once, by a round
// that started after it joined.
func TestVerifierRoundsAnsweredAtOnce(t *testing.T) {
	var wg sync.WaitGroup
	defer wg.Wait()
	v := &verifier{timeout: time.Hour, gate: &roundGate{wg: &wg}, cycles: &readCycles{timeout: time.Hour}}
	rounds, answered := 0, 0
	var join func()
	join = func() {
		joinedAt := rounds
		v.join(func(_ uint64, err error, _ *resp.DoneBatch) {
			if rounds <= joinedAt {
				t.Errorf("answered by round %d, joined after round %d started", rounds, joinedAt)
			}
			answered++
			var pcs [128]uintptr
			if runtime.Callers(0, pcs[:]) == len(pcs) {
				t.Fatalf("waiter %d answered %d+ frames deep: rounds nest", answered, len(pcs))
			}
			if answered < 500 {
				join() // joins while its round is still answering
			}
		})
	}
	v.start = func(done func(uint64, error)) {
		rounds++
		done(0, nil)
	}
	join()
	if answered != 500 || rounds != 500 {
		t.Fatalf("%d waiters answered in %d rounds, want 500 in 500", answered, rounds)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.running || v.pending != nil {
		t.Fatal("the verifier is still running with nothing to do")
	}
}

// A verifier whose group is shutting down (its round gate closed) starts
// no round: its readers are answered at once, and the group's WaitGroup,
// which the shutdown waits on, is never taken up from zero by a read.
func TestVerifierGateClosed(t *testing.T) {
	v, f, a := newTestVerifier(t, time.Hour)
	v.gate.close()
	v.join(a.waiter("late"))
	if name := a.next(t); name != "late" {
		t.Fatalf("answered %q", name)
	}
	if errs := a.errs("late"); len(errs) != 1 || !errors.Is(errs[0], errRoundsClosed) {
		t.Fatalf("late reader got %v, want errRoundsClosed", errs)
	}
	select {
	case n := <-f.started:
		t.Fatalf("round %d started after the gate closed", n)
	default:
	}
}
