package node

import (
	"sync/atomic"
	"time"
)

// The batcher's linger (write.go). With one entry in flight, writers
// under steady load split into two cohorts that take turns: the entry
// in flight carries one, and the other, which arrived meanwhile, goes
// out the moment it commits, while the first cohort's writers are
// still on their way back with their next commands. Each commit round
// (three fdatasyncs, two AppendEntries round trips) then carries half of
// the writers. The linger lets the cohorts merge: when an entry has just
// answered n writers and fewer than n commands have arrived since, the
// next entry waits for them, at most Config.BatchLinger and at most half
// the last entry's commit time, so a writer waits no more than half a
// round longer than it would have. A lone writer never waits (its next
// command is the one arrival expected, when the last entry held only its
// command), nor does a write after a quiet spell (the last entry
// finished too long ago). A failed entry is not counted: its writers
// were told to go elsewhere.

// maxBatchLinger bounds Config.BatchLinger: a linger is worth a client's
// round trip, and anything near a request timeout would be a stall.
const maxBatchLinger = 100 * time.Millisecond

// entryDone is the last entry of a group to finish: how many commands it
// answered, when (monotonic ns, Node.monoNow) and how long it took from
// its proposal. It is replaced whole, never changed.
type entryDone struct {
	cmds int
	at   int64
	took int64
}

// lingerState is the batcher's count of the commands that arrived since
// the entry it last saw finish, and the deadline of the batch it fills.
type lingerState struct {
	seen     *entryDone
	after    int
	lingered bool  // the batch has waited
	until    int64 // its deadline (monotonic ns), once it has waited
}

// startBatch starts a new batch: it has not waited.
func (l *lingerState) startBatch() { l.lingered = false }

// refresh starts the count again when a newer entry has finished.
func (l *lingerState) refresh(last *atomic.Pointer[entryDone]) *entryDone {
	if d := last.Load(); d != l.seen {
		l.seen, l.after = d, 0
	}
	return l.seen
}

// arrived counts a command the batcher received.
func (l *lingerState) arrived(last *atomic.Pointer[entryDone]) {
	l.refresh(last)
	l.after++
}

// wait is how much longer the batch should wait for commands before it
// is proposed, at monotonic time now; 0 or less: propose it. starts says
// the batch starts waiting now, expired that it stops because its time
// is up (not because the writers are back). The deadline is fixed when
// the batch starts waiting and only comes closer (an entry that finishes
// meanwhile, with several in flight, may bring it closer, never push it
// back), so no batch waits longer than max in all.
func (l *lingerState) wait(last *atomic.Pointer[entryDone], max time.Duration, now int64) (wait time.Duration, starts, expired bool) {
	d := l.refresh(last)
	if max <= 0 || d == nil || l.after >= d.cmds {
		return 0, false, false
	}
	until := d.at + int64(min(max, time.Duration(d.took/2)))
	if !l.lingered {
		if until <= now {
			return 0, false, false // the last entry finished too long ago
		}
		l.lingered, l.until = true, until
		return time.Duration(until - now), true, false
	}
	l.until = min(l.until, until)
	if l.until <= now {
		return 0, false, true
	}
	return time.Duration(l.until - now), false, false
}

// monoNow is the node's monotonic clock in ns (the package's monoNow,
// reqobs.go), for durations only; the tests move it with
// test.monoOffset.
func (n *Node) monoNow() int64 { return int64(monoNow()) + n.test.monoOffset.Load() }
