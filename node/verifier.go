package node

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sessionraft/sessionraft/transport/resp"
)

// verifier shares rounds among concurrent linearizable reads. A read
// joins the next round that starts after it took its read index (or, on a
// follower, after it arrived); every reader queued while a round runs is
// answered by the round after it, so one round serves any number of reads.
// On the leader a round confirms leadership (a term poll); on a follower
// it asks the leader for a read index (followerread.go).
//
// Waiters are callbacks run on the round's goroutine, not channels: the
// RESP fast path (readNow) completes deferred replies straight from there,
// so a linearizable read parks no goroutine of its own.
type verifier struct {
	// start starts one round and calls done exactly once with its
	// outcome: its index (a follower's read index; 0 on the leader) or
	// why it failed, from any goroutine (this one included). The node's
	// read cycles call it (readcycles.go), one round of each verifier
	// at a time.
	start func(done func(uint64, error))
	// round is one round the single-part way, blocking. It runs aside
	// (roundAside) for a round a cycle could not settle.
	round   func() (uint64, error)
	cycles  *readCycles
	timeout time.Duration // RequestTimeout
	gate    *roundGate    // the group's: raft must outlive every round
	mu      sync.Mutex
	running bool
	queued  bool         // in the read cycles' queue
	pending *verifyRound // waiters for the next round; nil if none
}

// verifyRound is one leadership round and its waiters. Its timer bounds
// how long they wait (RequestTimeout from the first of them joining): raft
// handles an Apply only from its main loop, which can be stuck
// behind a slow disk, and a read must not wait longer than any other
// request.
type verifyRound struct {
	waiters  []roundWaiter
	timer    *time.Timer
	answered bool // under verifier.mu; waiters are called once, by whoever sets it
}

// roundWaiter is called with a round's outcome: the round's index, or the
// error that ended it. Deferred replies it
// completes go into b, which the round flushes after its last waiter, so
// a connection with many reads in the round gets them in one write.
type roundWaiter func(index uint64, err error, b *resp.DoneBatch)

// join adds done to the next round. done is called exactly once, on some
// other goroutine or (rarely) this one: with nil if a leadership round
// that started after join confirmed leadership, otherwise with an error
// wrapping ErrNotLeader (the round failed) or ErrUnavailable (it took
// longer than RequestTimeout). done must not block. A verifier with no
// round running asks the node's next read cycle for one.
func (v *verifier) join(done roundWaiter) {
	v.mu.Lock()
	r := v.pending
	if r == nil {
		r = &verifyRound{}
		v.pending = r
		r.timer = time.AfterFunc(v.timeout, func() { v.expire(r) })
	}
	r.waiters = append(r.waiters, done)
	if v.running || v.queued {
		v.mu.Unlock()
		return
	}
	v.queued = true
	v.mu.Unlock()
	v.cycles.ready(v)
}

// roundAside runs round on a goroutine and gives its outcome to done,
// for a round already started in a cycle that the cycle could not
// settle. The started round's count keeps the group's WaitGroup above
// zero, so this needs no gate (see roundGate).
func (v *verifier) roundAside(done func(uint64, error)) {
	v.gate.wg.Add(1)
	go func() {
		defer v.gate.wg.Done()
		done(v.round())
	}()
}

// roundGate counts a group's read rounds in its WaitGroup, which the
// node's shutdown waits on (raft must outlive every round). A round adds
// itself only while the gate is open: sync.WaitGroup forbids an Add that
// takes the count up from zero while Wait is returning, and rounds start
// at any time, so the shutdown closes the gate before it waits. Work a
// round starts inside itself (a fallback's goroutine) adds to a count
// that its round keeps above zero, and needs no gate.
type roundGate struct {
	mu     sync.Mutex
	closed bool
	wg     *sync.WaitGroup
}

// enter counts a round starting, unless the gate is closed.
func (g *roundGate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	return true
}

// exit counts a round ended.
func (g *roundGate) exit() { g.wg.Done() }

// close refuses rounds from now on.
func (g *roundGate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// errRoundsClosed answers the readers of a round that cannot start
// because the node is shutting down.
var errRoundsClosed = fmt.Errorf("%w: shutting down", ErrNotLeader)

// verify joins the next round and waits for its answer or ctx.
func (v *verifier) verify(ctx context.Context) error {
	ch := make(chan error, 1)
	v.join(func(_ uint64, err error, _ *resp.DoneBatch) { ch <- err })
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w: leadership check: %v", ErrUnavailable, ctx.Err())
	}
}

// startCycleRound starts, for the read cycle that calls it, a round for
// v's pending waiters (none: nothing). The round ends through start's
// done, which queues v for the next cycle when readers joined meanwhile.
func (v *verifier) startCycleRound() {
	v.mu.Lock()
	r := v.pending
	v.pending = nil
	v.queued = false
	if r == nil {
		v.mu.Unlock()
		return
	}
	if !v.gate.enter() {
		v.mu.Unlock()
		v.answer(r, 0, errRoundsClosed)
		return
	}
	v.running = true
	v.mu.Unlock()
	v.start(func(index uint64, err error) {
		if err != nil {
			err = fmt.Errorf("%w: %v", ErrNotLeader, err)
		}
		v.answer(r, index, err)
		v.mu.Lock()
		v.running = false
		again := v.pending != nil && !v.queued
		v.queued = again
		v.mu.Unlock()
		v.gate.exit()
		if again {
			v.cycles.ready(v)
		}
	})
}

// expire answers a round whose waiters have waited RequestTimeout. If the
// round has not started, later joiners get a new one.
func (v *verifier) expire(r *verifyRound) {
	v.mu.Lock()
	if v.pending == r {
		v.pending = nil
	}
	v.mu.Unlock()
	v.answer(r, 0, fmt.Errorf("%w: leadership check took longer than %v", ErrUnavailable, v.timeout))
}

// answer calls r's waiters with the round's outcome unless they have been
// answered.
func (v *verifier) answer(r *verifyRound, index uint64, err error) {
	v.mu.Lock()
	if r.answered {
		v.mu.Unlock()
		return
	}
	r.answered = true
	ws := r.waiters
	r.waiters = nil
	v.mu.Unlock()
	r.timer.Stop()
	var b resp.DoneBatch
	for _, w := range ws {
		w(index, err, &b)
	}
	b.Flush()
}
