package fsm

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// FSM is the state machine of one raft group. Apply methods, Snapshot and
// Restore are meant for raft's single FSM goroutine (they also serialise
// among themselves, so misuse is safe, just slower); every other method may
// be called from any goroutine at any time.
type FSM struct {
	limits Limits

	// applyMu serialises whole batches with Snapshot, Restore and Hash,
	// so those see the state between two entries.
	applyMu sync.Mutex
	state   atomic.Pointer[state]

	// fieldScratch holds the merged view a set builds its record's field
	// list from; reused so that applying a command leaves no garbage
	// behind. Under applyMu.
	fieldScratch []Field

	// entry is the entry being applied, in buffers reused from one to the
	// next (entrybuf.go). Under applyMu.
	entry entryBuf

	// notify receives each entry's keyspace events (events.go); nil when
	// nobody listens, and then none are collected. evlog collects them.
	// Under applyMu.
	notify Notify
	evlog  eventLog

	// txnFields holds the sorted fields of a transaction's command
	// (cmd_txn.go). Under applyMu.
	txnFields []Field
}

// releaseScratch keeps the scratch list for the next command, cleared so
// it does not hold on to the last command's values.
func (f *FSM) releaseScratch(fields []Field) {
	clear(fields)
	f.fieldScratch = fields[:0]
}

// New returns an empty FSM. Zero fields of l take their defaults; New
// panics if l is otherwise invalid (check configuration with Validate).
func New(l Limits) *FSM {
	l = l.withDefaults()
	if err := l.Validate(); err != nil {
		panic(err)
	}
	f := &FSM{limits: l}
	f.state.Store(newState(0, l.DedupWindow))
	return f
}

// Limits returns the limits in force, defaults filled in.
func (f *FSM) Limits() Limits { return f.limits }

// Get returns the live record with the given id. A record is hidden when it
// is expired at now (the serving node's clock, so a lagging replica never
// serves a session past its deadline) or at the log clock. The record is
// shared and immutable: Clone it before modifying.
func (f *FSM) Get(id string, now int64) (*Record, bool) {
	st := f.state.Load()
	r := st.get(id)
	if r == nil || r.ExpiredAt(max(now, st.clock.Load())) {
		return nil, false
	}
	return r, true
}

// GetMany is Get for several ids at once, all read at one state: between
// two commands, never part way through one. It holds the subject index's
// read lock, which every command holds for writing while it applies
// (shards.go), so a transaction that wrote two of the ids shows both
// changes or neither. recs[i] is ids[i]'s record, nil where Get would
// find none; recs is appended to out.
func (f *FSM) GetMany(out []*Record, ids []string, now int64) []*Record {
	st := f.state.Load()
	st.subMu.RLock()
	now = max(now, st.clock.Load())
	for _, id := range ids {
		r := st.get(id)
		if r != nil && r.ExpiredAt(now) {
			r = nil
		}
		out = append(out, r)
	}
	st.subMu.RUnlock()
	return out
}

// GetAt returns the record with the given id unless it is expired at now,
// ignoring the log clock. It exists only for the test-mode hook DEBUG.UNSAFE
// EXPIRY (node/testmode.go), which deliberately decides expiry by the
// node's own clock alone so that the jepsen harness can show its TTL
// checker catching it. Servers must use Get.
func (f *FSM) GetAt(id string, now int64) (*Record, bool) {
	r := f.state.Load().get(id)
	if r == nil || r.ExpiredAt(now) {
		return nil, false
	}
	return r, true
}

// BySubject returns the live records of subject (as Get judges liveness),
// sorted by ID. The result reflects a state between two commands. Records
// are shared and immutable.
func (f *FSM) BySubject(subject string, now int64) []*Record {
	if subject == "" {
		return nil
	}
	st := f.state.Load()
	st.subMu.RLock()
	now = max(now, st.clock.Load())
	var out []*Record
	for id := range st.subjects[subject] {
		if r := st.get(id); r != nil && !r.ExpiredAt(now) {
			out = append(out, r)
		}
	}
	st.subMu.RUnlock()
	slices.SortFunc(out, byID)
	return out
}

func byID(a, b *Record) int { return strings.Compare(a.ID(), b.ID()) }

// Expired returns up to limit ids whose deadline is at or before now,
// earliest deadline first, for the leader's sweeper to propose in an Expire.
// now is raised to the log clock, so records already expired in log time
// are found even if the caller's clock lags. The answer is a hint: Apply
// re-checks every id against the log clock.
func (f *FSM) Expired(now int64, limit int) []string {
	st := f.state.Load()
	now = max(now, st.clock.Load())
	st.dlMu.RLock()
	defer st.dlMu.RUnlock()
	return st.deadlines.expired(now, limit)
}

// Clock returns the log clock: the largest Batch.Time applied so far.
func (f *FSM) Clock() int64 { return f.state.Load().clock.Load() }

// AppliedIndex returns the raft index of the last applied entry. It is
// published after the entry's effects, so a reader that sees index i also
// sees everything up to i.
func (f *FSM) AppliedIndex() uint64 { return f.state.Load().applied.Load() }

// Len returns the number of records, including expired records that no
// Expire has removed yet.
func (f *FSM) Len() int { return int(f.state.Load().count.Load()) }

// Hash returns a SHA-256 over a canonical serialisation of the whole state:
// applied index, log clock, records in id order, the dedup table in ReqID
// order and the tombstones in (end, id) order. Replicas at the same applied
// index must have equal hashes. It waits for the current batch to finish
// and blocks Apply while it runs, so it is meant for tests and offline
// checks.
func (f *FSM) Hash() [32]byte {
	_, _, sum := f.Digest()
	return sum
}

// Digest returns the applied index, the record count and the state hash,
// all taken under the apply lock so they describe one and the same state:
// reading AppliedIndex and Hash separately can pair an index with the hash
// of the state before it, which looks like diverged replicas.
func (f *FSM) Digest() (applied uint64, records int, sum [32]byte) {
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	st := f.state.Load()
	applied = st.applied.Load()

	h := sha256.New()
	buf := append([]byte(nil), "SRHASH\x02"...)
	buf = binary.AppendUvarint(buf, applied)
	buf = binary.AppendVarint(buf, st.clock.Load())

	recs := st.records()
	slices.SortFunc(recs, byID)
	buf = binary.AppendUvarint(buf, uint64(len(recs)))
	for _, r := range recs {
		buf = AppendRecord(buf, r)
		if len(buf) > 32<<10 {
			h.Write(buf)
			buf = buf[:0]
		}
	}

	dd := st.dedup.entries()
	slices.SortFunc(dd, func(a, b *dedupEntry) int { return cmp.Compare(a.reqID, b.reqID) })
	buf = binary.AppendUvarint(buf, uint64(len(dd)))
	for _, e := range dd {
		buf = appendDedupEntry(buf, e)
		if len(buf) > 32<<10 {
			h.Write(buf)
			buf = buf[:0]
		}
	}

	tt := st.tombs.entries()
	slices.SortFunc(tt, cmpTomb)
	buf = binary.AppendUvarint(buf, uint64(len(tt)))
	for _, e := range tt {
		buf = appendTombstone(buf, e)
		if len(buf) > 32<<10 {
			h.Write(buf)
			buf = buf[:0]
		}
	}
	h.Write(buf)

	h.Sum(sum[:0])
	return applied, len(recs), sum
}

// String summarises the FSM for logs.
func (f *FSM) String() string {
	st := f.state.Load()
	return fmt.Sprintf("fsm{applied=%d clock=%d records=%d}", st.applied.Load(), st.clock.Load(), st.count.Load())
}
