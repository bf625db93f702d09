package node

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/transport/mux"
	"github.com/sessionraft/sessionraft/transport/resp"
)

// fakeRoundCaller records rpcReadRound calls for the test to answer.
type fakeRoundCaller struct {
	mu    sync.Mutex
	calls []*fakeRoundCall
	// now, when set, answers every call before CallAsync returns.
	now func() ([]byte, error)
	got chan *fakeRoundCall
}

type fakeRoundCall struct {
	addr     string
	parts    []partRequest
	done     func([]byte, error)
	canceled chan struct{}
	once     sync.Once
}

func (c *fakeRoundCall) answer(out []byte, err error) { c.once.Do(func() { c.done(out, err) }) }

func (f *fakeRoundCaller) Call(context.Context, string, uint8, []byte) ([]byte, error) {
	panic("read cycles call asynchronously")
}

func (f *fakeRoundCaller) CallAsync(addr string, method uint8, payload []byte, done func([]byte, error)) func() {
	if method != rpcReadRound {
		panic("unexpected method")
	}
	parts, err := decodeRoundRequest(payload)
	if err != nil {
		panic(err)
	}
	c := &fakeRoundCall{addr: addr, parts: parts, done: done, canceled: make(chan struct{})}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
	if f.now != nil {
		c.answer(f.now())
		return func() {}
	}
	f.got <- c
	return func() {
		close(c.canceled)
		c.answer(nil, mux.ErrConnLost)
	}
}

func (f *fakeRoundCaller) next(t *testing.T) *fakeRoundCall {
	t.Helper()
	return receive(t, f.got, 10*time.Second, "no read-round request was sent")
}

func replyOf(answers ...partAnswer) []byte {
	var b []byte
	for _, a := range answers {
		b = appendPartAnswer(b, a)
	}
	return b
}

// cycleVerifier is a verifier in cycles c whose round is one term part
// for the peer at addr, through f, and which records its answers.
func cycleVerifier(t *testing.T, c *readCycles, f *fakeRoundCaller, addr string) (*verifier, chan error) {
	t.Helper()
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	answers := make(chan error, 16)
	v := &verifier{timeout: time.Hour, gate: &roundGate{wg: &wg}, cycles: c}
	v.start = func(done func(uint64, error)) {
		c.add(f, addr, roundPart{kind: partTerm, id: "n", done: func(val uint64, status byte, err error) {
			if err == nil && status != partOK {
				err = errors.New("no answer")
			}
			done(val, err)
		}})
	}
	return v, answers
}

// joinRecord joins v's next round, sending its outcome on ch.
func joinRecord(v *verifier, ch chan error) {
	v.join(func(_ uint64, err error, _ *resp.DoneBatch) { ch <- err })
}

// failedWith reports whether a round's error (ErrNotLeader, with the
// cause's text: the verifier does not wrap it) came from cause.
func failedWith(err, cause error) bool {
	return errors.Is(err, ErrNotLeader) && strings.Contains(err.Error(), cause.Error())
}

func waitAnswer(t *testing.T, ch chan error) error {
	t.Helper()
	return receive(t, ch, 10*time.Second, "a reader got no answer")
}

func noAnswer(t *testing.T, ch chan error, what string) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("%s answered early (%v)", what, err)
	default:
	}
}

// TestReadCyclesShareRequests: the rounds that start in one cycle send
// one request per peer; readers that join while a cycle is out are
// served by the next cycle, which starts when the last request of the
// one before has its answer.
func TestReadCyclesShareRequests(t *testing.T) {
	f := &fakeRoundCaller{got: make(chan *fakeRoundCall, 8)}
	c := &readCycles{timeout: time.Minute, hedge: time.Hour}
	vA, aA := cycleVerifier(t, c, f, "a")
	vB, aB := cycleVerifier(t, c, f, "a")
	vC, aC := cycleVerifier(t, c, f, "a")
	vD, aD := cycleVerifier(t, c, f, "b")

	joinRecord(vA, aA) // starts cycle 1 at once: A's part alone
	first := f.next(t)
	if first.addr != "a" || len(first.parts) != 1 {
		t.Fatalf("cycle 1 sent %d parts to %q", len(first.parts), first.addr)
	}
	joinRecord(vB, aB)
	joinRecord(vC, aC)
	joinRecord(vD, aD)
	select {
	case c := <-f.got:
		t.Fatalf("a request went to %q while cycle 1 was out", c.addr)
	default:
	}
	first.answer(replyOf(partAnswer{status: partOK, value: 1}), nil)
	if err := waitAnswer(t, aA); err != nil {
		t.Fatal(err)
	}
	got := map[string]*fakeRoundCall{}
	for range 2 {
		r := f.next(t)
		got[r.addr] = r
	}
	if len(got["a"].parts) != 2 || len(got["b"].parts) != 1 {
		t.Fatalf("cycle 2 sent %d parts to a and %d to b, want 2 and 1", len(got["a"].parts), len(got["b"].parts))
	}
	joinRecord(vA, aA) // cycle 2 is out: waits for cycle 3
	got["a"].answer(replyOf(partAnswer{status: partOK, value: 2}, partAnswer{status: partOK, value: 2}), nil)
	for _, ch := range []chan error{aB, aC} {
		if err := waitAnswer(t, ch); err != nil {
			t.Fatal(err)
		}
	}
	noAnswer(t, aA, "a reader that joined during cycle 2")
	select {
	case r := <-f.got:
		t.Fatalf("cycle 3 started (to %q) before cycle 2's last request had its answer", r.addr)
	default:
	}
	got["b"].answer(replyOf(partAnswer{status: partOK, value: 2}), nil)
	if err := waitAnswer(t, aD); err != nil {
		t.Fatal(err)
	}
	third := f.next(t)
	third.answer(replyOf(partAnswer{status: partOK, value: 3}), nil)
	if err := waitAnswer(t, aA); err != nil {
		t.Fatal(err)
	}
	if n, r, p := c.cycles.Load(), c.requests.Load(), c.parts.Load(); n != 3 || r != 4 || p != 5 {
		t.Fatalf("%d cycles, %d requests, %d parts; want 3, 4, 5", n, r, p)
	}
}

// TestReadCyclesSlowPeer: a peer that does not answer holds up the next
// cycle for cycleHedge only, and its parts fail after the request
// timeout.
func TestReadCyclesSlowPeer(t *testing.T) {
	f := &fakeRoundCaller{got: make(chan *fakeRoundCall, 8)}
	c := &readCycles{timeout: time.Second, hedge: 10 * time.Millisecond}
	vSlow, aSlow := cycleVerifier(t, c, f, "slow")
	vOK, aOK := cycleVerifier(t, c, f, "ok")
	joinRecord(vSlow, aSlow)
	stuck := f.next(t)
	joinRecord(vOK, aOK) // cycle 2, once cycle 1's hedge passes
	r := f.next(t)
	if r.addr != "ok" {
		t.Fatalf("cycle 2 went to %q", r.addr)
	}
	r.answer(replyOf(partAnswer{status: partOK}), nil)
	if err := waitAnswer(t, aOK); err != nil {
		t.Fatal(err)
	}
	noAnswer(t, aSlow, "the slow peer's reader")
	if err := waitAnswer(t, aSlow); !failedWith(err, mux.ErrConnLost) {
		t.Fatalf("the slow peer's reader got %v, want its request lost", err)
	}
	select {
	case <-stuck.canceled:
	default:
		t.Fatal("the unanswered request was not cancelled")
	}
}

// TestReadCyclesFailures: a failed request fails its parts; an answer
// that does not decode fails them too, and so does a refusal other than
// BADARG; a peer that refuses the method (BADARG, as every older version
// does) gets no read-round requests for a while (its rounds go the single-part
// way); a caller that fails every request at once runs the cycles that
// follow in a loop, not in nested calls.
func TestReadCyclesFailures(t *testing.T) {
	f := &fakeRoundCaller{got: make(chan *fakeRoundCall, 8)}
	c := &readCycles{timeout: time.Minute, hedge: time.Hour}
	v, ans := cycleVerifier(t, c, f, "a")

	joinRecord(v, ans)
	f.next(t).answer(nil, mux.ErrConnLost)
	if err := waitAnswer(t, ans); !failedWith(err, mux.ErrConnLost) {
		t.Fatalf("lost request: %v", err)
	}
	joinRecord(v, ans)
	f.next(t).answer([]byte{9, 9}, nil)
	if err := waitAnswer(t, ans); !failedWith(err, errBadRoundReply) {
		t.Fatalf("undecodable answer: %v", err)
	}
	joinRecord(v, ans)
	f.next(t).answer(nil, &mux.RemoteError{Code: "BUSY", Msg: "too many concurrent rpc handlers"})
	if err := waitAnswer(t, ans); !failedWith(err, errors.New("too many concurrent rpc handlers")) {
		t.Fatalf("busy peer: %v", err)
	}
	joinRecord(v, ans) // still a read-round request: BUSY is no older version
	f.next(t).answer(nil, &mux.RemoteError{Code: "BADARG", Msg: "unknown rpc method 10"})
	if err := waitAnswer(t, ans); !failedWith(err, errNoReadRound) {
		t.Fatalf("refused method: %v", err)
	}
	joinRecord(v, ans)
	if err := waitAnswer(t, ans); !failedWith(err, errNoReadRound) {
		t.Fatalf("a peer that refused the method got a request again: %v", err)
	}

	f.now = func() ([]byte, error) { return nil, mux.ErrUnreachable }
	vd, _ := cycleVerifier(t, c, f, "down")
	count := 0
	var again func()
	again = func() {
		vd.join(func(_ uint64, err error, _ *resp.DoneBatch) {
			count++
			var pcs [128]uintptr
			if runtime.Callers(0, pcs[:]) == len(pcs) {
				t.Fatalf("reader %d answered %d+ frames deep: cycles nest", count, len(pcs))
			}
			if count < 500 {
				again() // joins while its round is answering: the next cycle
			}
		})
	}
	again()
	if count != 500 {
		t.Fatalf("%d readers answered, want 500", count)
	}
}

// TestReadRoundCodec: requests and replies survive encoding, and the
// decoders refuse what they should.
func TestReadRoundCodec(t *testing.T) {
	parts := []roundPart{
		{kind: partTerm, group: 0, id: "n1"},
		{kind: partReadIndex, group: 300, term: 1 << 40, id: "node-two"},
		{kind: partTerm, group: 1023, id: ""},
	}
	got, err := decodeRoundRequest(encodeRoundRequest(parts))
	if err != nil || len(got) != len(parts) {
		t.Fatalf("decode: %v, %d parts", err, len(got))
	}
	for i, p := range parts {
		g := got[i]
		if g.kind != p.kind || g.group != uint64(p.group) || g.term != p.term || string(g.id) != p.id {
			t.Fatalf("part %d: %+v, want %+v", i, g, p)
		}
	}
	for name, b := range map[string][]byte{
		"empty":      {},
		"no parts":   {0},
		"bad kind":   {1, 7, 0, 0},
		"short id":   {1, 0, 0, 5, 'a'},
		"trailing":   append(encodeRoundRequest(parts[:1]), 0),
		"count past": {3, 0, 0, 0},
		"too many":   {0xff, 0xff, 0x03},
	} {
		if _, err := decodeRoundRequest(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	long := string(bytes.Repeat([]byte{'e'}, 1000))
	answers, err := decodeRoundReply(replyOf(
		partAnswer{status: partOK, value: 1 << 50},
		partAnswer{status: partErr, err: errors.New(long)},
		partAnswer{status: partRound},
	), 3)
	if err != nil {
		t.Fatal(err)
	}
	if answers[0].value != 1<<50 || answers[1].err.Error() != long[:maxPartErrMsg] || answers[2].status != partRound {
		t.Fatalf("answers: %+v", answers)
	}
	for name, b := range map[string][]byte{
		"short":      replyOf(partAnswer{status: partOK, value: 1}),
		"long":       replyOf(partAnswer{status: partOK}, partAnswer{status: partOK}, partAnswer{status: partOK}, partAnswer{status: partOK}),
		"bad status": {7, 0, 0},
	} {
		if _, err := decodeRoundReply(b, 3); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

// FuzzReadRoundRequest: the request decoder never panics, and what it accepts
// encodes back to a request that decodes the same.
func FuzzReadRoundRequest(f *testing.F) {
	f.Add(encodeRoundRequest([]roundPart{{kind: partTerm, id: "n1"}, {kind: partReadIndex, group: 2, term: 9, id: "n2"}}))
	f.Add([]byte{1, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		parts, err := decodeRoundRequest(b)
		if err != nil {
			return
		}
		in := make([]roundPart, len(parts))
		for i, p := range parts {
			if p.group > 1<<30 {
				return // encodeRoundRequest takes an int group
			}
			in[i] = roundPart{kind: p.kind, group: int(p.group), term: p.term, id: string(p.id)}
		}
		again, err := decodeRoundRequest(encodeRoundRequest(in))
		if err != nil || len(again) != len(parts) {
			t.Fatalf("re-encoded request: %v", err)
		}
		for i := range parts {
			a, p := again[i], parts[i]
			if a.kind != p.kind || a.group != p.group || a.term != p.term || !bytes.Equal(a.id, p.id) {
				t.Fatalf("part %d: %+v, want %+v", i, a, p)
			}
		}
	})
}

// FuzzReadRoundReply: the reply decoder never panics, and gives exactly the
// parts asked for or an error.
func FuzzReadRoundReply(f *testing.F) {
	f.Add(replyOf(partAnswer{status: partOK, value: 3}, partAnswer{status: partRound}), 2)
	f.Add([]byte{1, 3, 'a', 'b', 'c'}, 1)
	f.Fuzz(func(t *testing.T, b []byte, want int) {
		if want < 0 || want > maxRoundParts {
			return
		}
		answers, err := decodeRoundReply(b, want)
		if err == nil && len(answers) != want {
			t.Fatalf("%d answers for %d parts", len(answers), want)
		}
	})
}
