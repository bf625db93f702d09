package node

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/fsm"
)

// raftFSM adapts the pure fsm.FSM to raft.FSM and tracks which log index
// the state machine has really applied. raft.AppliedIndex is not enough:
// raft advances it when entries are handed to the FSM goroutine, before they
// are applied, so a read index must be waited for here.
type raftFSM struct {
	f     *fsm.FSM
	gid   int
	fatal func(error)

	// poisoned is set once an entry could not be applied: nothing is
	// applied or snapshotted after it (see Apply).
	poisoned atomic.Bool

	applied atomic.Uint64
	// onSnapshot, if set, is told each persisted snapshot's duration and
	// size (metrics).
	onSnapshot func(d time.Duration, size int64)
	// opening is true until raft.NewRaft has returned: a Restore then is
	// the startup restore of the latest snapshot (see Restore).
	opening atomic.Bool

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every applied-index advance

	// events, when set, hears the keyspace events of each applied entry
	// (set by the group before raft starts; see keyEventSink).
	events keyEventSink
	// tracked, when set, hears the events of every applied entry for
	// client-side caching's invalidations (tracker.applied, which checks
	// cheaply whether any connection tracks).
	tracked func([]fsm.Event)
	// replaced, when set, is told that a snapshot replaced the state
	// while the node serves (client-side caching flushes: tracking.go).
	replaced func()
	// installedIndex, when set, says the index of the snapshot installed
	// last (the newest in the store: raft saves an installed snapshot
	// before it restores it). See Restore.
	installedIndex func() uint64
}

// newRaftFSM adapts f, and installs its one fsm.Notify (notify): every
// consumer of the state machine's change reports hangs off that.
func newRaftFSM(f *fsm.FSM, gid int, fatal func(error)) *raftFSM {
	r := &raftFSM{f: f, gid: gid, fatal: fatal, changed: make(chan struct{})}
	r.opening.Store(true)
	f.SetNotify(r.notify)
	return r
}

func (r *raftFSM) advance(index uint64) {
	// A compare-and-swap, not a load and a store: the group's start-up
	// advances to the restored snapshot's index (group.go) while raft's
	// FSM goroutine may already be applying, and the index never goes
	// back.
	for cur := r.applied.Load(); index > cur && !r.applied.CompareAndSwap(cur, index); cur = r.applied.Load() {
	}
	r.mu.Lock()
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// Apply implements raft.FSM. A log entry that cannot be decoded means this
// binary cannot follow the log (corruption, a newer format, or an entry
// written by a rogue member): continuing would let replicas diverge, and
// skipping the entry would silently lose writes. So the node stops, saying
// which group, index and term and why (a *PoisonedEntryError, which the
// server turns into its own exit status), and applies nothing after it:
// later entries of the same batch are refused too, and no snapshot is
// taken, so what is on disk stays as it was before the entry. A restart
// meets the same entry again; docs/SECURITY.md says how to get out.
func (r *raftFSM) Apply(l *raft.Log) interface{} {
	if r.poisoned.Load() {
		return errPoisoned
	}
	if l.Type != raft.LogCommand {
		r.advance(l.Index)
		return nil
	}
	res, err := r.f.ApplyBatch(l.Index, l.Data)
	if err != nil {
		r.poisoned.Store(true)
		r.fatal(&PoisonedEntryError{Group: r.gid, Index: l.Index, Term: l.Term, Size: len(l.Data), Err: err})
		return errPoisoned
	}
	r.advance(l.Index)
	return res
}

// errPoisoned answers Apply for the poisoned entry and any after it.
var errPoisoned = fmt.Errorf("%w: the group met a log entry it cannot apply", ErrUnavailable)

// PoisonedEntryError says that a committed raft log entry cannot be
// applied by this node. The node stops; its data directory still holds the
// entry, and a restart stops at it again.
type PoisonedEntryError struct {
	Group       int
	Index, Term uint64
	Size        int   // bytes of the entry
	Err         error // why: the decoder's error
}

func (e *PoisonedEntryError) Error() string {
	return fmt.Sprintf("group %d: the raft log entry at index %d (term %d, %d bytes) cannot be applied: %v. "+
		"This node stops rather than diverge from its peers; show the entry with "+
		"`sessionraft log show --data-dir <dir> --group %d --index %d`, and replace this node's data from its peers (docs/SECURITY.md, \"A log entry a node cannot apply\")",
		e.Group, e.Index, e.Term, e.Size, e.Err, e.Group, e.Index)
}

func (e *PoisonedEntryError) Unwrap() error { return e.Err }

// StoreConfiguration implements raft.ConfigurationStore so configuration
// entries also advance the applied index; otherwise a read index pointing at
// one would never be reached.
func (r *raftFSM) StoreConfiguration(index uint64, _ raft.Configuration) {
	r.advance(index)
}

// Snapshot implements raft.FSM. It runs on raft's FSM goroutine, so no Apply
// is concurrent; fsm.Snapshot captures immutable record pointers quickly and
// Persist streams them while Apply continues.
func (r *raftFSM) Snapshot() (raft.FSMSnapshot, error) {
	if r.poisoned.Load() {
		return nil, errPoisoned
	}
	s, err := r.f.Snapshot()
	if err != nil {
		return nil, err
	}
	return snapshotAdapter{s, r.onSnapshot}, nil
}

// Restore implements raft.FSM, replacing the state whole.
//
// The startup restore runs with the garbage collector paused. A restore
// keeps almost everything it allocates (192 MB allocated for 190 MB kept
// per 333,000 sessions), so collecting during it only re-marks a growing
// heap again and again: paused, a restore took a third less time
// (BenchmarkRestore333k, 315 against 474 ms, medians of 3). Only the
// restore itself: raft.NewRaft then reads every log entry after the
// snapshot, which is all garbage, and a snapshot installed while the node
// serves must not stop collection for its traffic. A GOMEMLIMIT set by
// the operator still applies during the pause.
func (r *raftFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if r.opening.Load() {
		defer pauseGC()()
	}
	before := r.applied.Load()
	if err := r.f.Restore(rc); err != nil {
		return err
	}
	// The state machine's applied index counts commands only: a snapshot
	// whose last entries were configuration changes leaves it short of
	// the snapshot's index, which raft counts as applied. Until the next
	// entry, a read index there (the leader's commit index in an idle
	// group) would wait here and be forwarded. At start-up the group
	// advances to the snapshot raft restored instead (group.go).
	//
	// The newest snapshot in the store is the one installed only if it is
	// past the state this node had: raft may install a snapshot older
	// than that (a deposed leader whose uncommitted tail conflicts, its
	// log compacted behind its own newer snapshot), and the state then
	// goes back to the installed one's.
	applied := r.f.AppliedIndex()
	if !r.opening.Load() && r.installedIndex != nil {
		if newest := r.installedIndex(); newest > before {
			applied = max(applied, newest)
		}
	}
	r.applied.Store(applied) // may go back: the state did
	r.advance(applied)       // wakes the waiters
	if r.replaced != nil && !r.opening.Load() {
		r.replaced()
	}
	return nil
}

// waitApplied blocks until the state machine has applied index.
func (r *raftFSM) waitApplied(ctx context.Context, index uint64) error {
	for {
		r.mu.Lock()
		ch := r.changed
		r.mu.Unlock()
		if r.applied.Load() >= index {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%w: waiting for index %d: %v", ErrUnavailable, index, ctx.Err())
		}
	}
}

type snapshotAdapter struct {
	s    *fsm.Snapshot
	done func(d time.Duration, size int64) // metrics; nil without
}

func (a snapshotAdapter) Persist(sink raft.SnapshotSink) error {
	start := time.Now()
	size, err := a.s.WriteTo(sink)
	if err != nil {
		_ = sink.Cancel()
		return err
	}
	if err := sink.Close(); err != nil {
		return err
	}
	if a.done != nil {
		a.done(time.Since(start), size)
	}
	return nil
}

func (a snapshotAdapter) Release() { a.s.Release() }

// keyEventSink receives the keyspace events of applied entries (the
// node's pub/sub hub, keyspace.go). wanted is asked before each entry's
// events are handed on and must be cheap.
type keyEventSink interface {
	keyspaceWanted() bool
	keyEvents([]fsm.Event)
}

// notify is the state machine's fsm.Notify: the changes each command of
// the entry at index made, as the state machine reports them (Redis's
// keyspace events, fsm/events.go), in order, on the apply goroutine,
// after the entry is visible to readers. Each node applies each entry of
// its groups once, so it hears each change once. A snapshot installed
// from the leader reports nothing, as a Redis replica's full sync does
// not (client-side caching flushes instead: replaced). It feeds every
// consumer: the tracker and the keyspace notifications. evs is reused
// after it returns.
func (r *raftFSM) notify(_ uint64, evs []fsm.Event) {
	if r.tracked != nil {
		r.tracked(evs)
	}
	if r.events != nil && r.events.keyspaceWanted() {
		r.events.keyEvents(evs)
	}
}
