package fsm

import (
	"math/bits"
	"strings"
	"sync"
	"sync/atomic"
)

// numShards is the number of record maps. It is 64 so that the set of
// shards a command touches fits in one uint64 mask.
const numShards = 64

// shard is one slice of the record map. Readers take mu.RLock; Apply takes
// mu.Lock only around its writes.
type shard struct {
	mu sync.RWMutex
	m  table[*Record] // keyed by ID
	_  [40]byte       // keep neighbouring shard locks off one cache line
}

// shardOf hashes an id to its shard (FNV-1a). Shard placement is never
// observable, but a fixed hash keeps runs reproducible.
func shardOf(id string) int {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return int(h % numShards)
}

func shardBit(id string) uint64 { return 1 << shardOf(id) }

// state is everything Restore replaces in one step. The FSM holds it in an
// atomic pointer, so a reader that loaded the old state keeps a consistent
// view of it while Restore installs the new one.
type state struct {
	shards [numShards]shard
	count  atomic.Int64 // records, including expired-but-unswept
	// delta is the change to count made by the command being applied; it
	// is published once per command so Len never shows a rotate's
	// intermediate step. Apply goroutine only.
	delta int64

	// subMu guards subjects. Apply holds it for writing for each whole
	// command, which is what makes BySubject see commands atomically.
	subMu    sync.RWMutex
	subjects map[string]map[string]struct{} // subject → ids

	dlMu      sync.RWMutex
	deadlines deadlineIndex

	clock   atomic.Int64  // log clock
	applied atomic.Uint64 // raft index of the last applied entry

	// recMem estimates the bytes of the records (memory.go).
	recMem memCounter

	dedup dedupTable // touched only under FSM.applyMu
	tombs tombTable  // touched only under FSM.applyMu

	// window is Limits.DedupWindow, the least a tombstone lasts.
	window int64

	// ev collects keyspace events while an entry is applied, nil when
	// nobody listens (events.go). Apply goroutine only.
	ev *eventLog
}

func newState(sizeHint int, window int64) *state {
	return newStateSized(sizeHint, 0, 0, window)
}

// newStateSized makes a state whose tables have room for the given
// numbers of records, dedup entries and tombstones (Restore).
func newStateSized(records, dedup, tombs int, window int64) *state {
	st := &state{
		subjects:  make(map[string]map[string]struct{}),
		deadlines: newDeadlineIndex(),
		dedup:     dedupTable{m: newTable[*dedupEntry](dedup), q: make([]*dedupEntry, 0, dedup)},
		tombs:     tombTable{m: make(map[string]int64, tombs), h: make([]tombstone, 0, tombs)},
		window:    window,
	}
	// Shard placement is uneven by a few percent; the margin saves the
	// fullest shards a doubling.
	per := records / numShards
	per += per / 16
	for i := range st.shards {
		st.shards[i].m = newTable[*Record](per)
	}
	return st
}

// lookup reads a record without locking. Only the apply goroutine may call
// it: it is the only writer, and concurrent map reads are safe.
func (st *state) lookup(id string) *Record {
	return st.shards[shardOf(id)].m.get(id)
}

// recKey is an id with its shard and its hash in the tables (hashOf),
// for a command that looks an id up and then stores a record under it:
// create hashes the id once for its lookup, its insert and the deadline
// index instead of five times.
type recKey struct {
	id    string
	shard int
	h     uint64
}

func keyOf(id string) recKey { return recKey{id: id, shard: shardOf(id), h: hashOf(id)} }

// lookupKey is lookup by a recKey.
func (st *state) lookupKey(k recKey) *Record {
	return st.shards[k.shard].m.getHashed(k.id, k.h)
}

// get reads a record under the shard's read lock; for readers.
func (st *state) get(id string) *Record {
	sh := &st.shards[shardOf(id)]
	sh.mu.RLock()
	r := sh.m.get(id)
	sh.mu.RUnlock()
	return r
}

// lock write-locks subMu and the shards in mask, in ascending order so two
// lockers can never deadlock.
func (st *state) lock(mask uint64) {
	st.subMu.Lock()
	for m := mask; m != 0; m &= m - 1 {
		st.shards[bits.TrailingZeros64(m)].mu.Lock()
	}
}

func (st *state) unlock(mask uint64) {
	if st.delta != 0 {
		st.count.Add(st.delta)
		st.delta = 0
	}
	for m := mask; m != 0; m &= m - 1 {
		st.shards[bits.TrailingZeros64(m)].mu.Unlock()
	}
	st.subMu.Unlock()
}

// put stores rec under id, replacing old (nil if absent), and updates the
// indexes. The caller holds the locks for id's shard and subMu (between
// lock and unlock, which publishes the count).
func (st *state) put(id string, old, rec *Record) {
	st.shards[shardOf(id)].m.put(rec)
	st.recMem.add(recordMem(rec) - recordMem(old))
	var oldDL int64
	if old == nil {
		st.delta++
		st.indexSubject(rec.Subject(), id)
	} else {
		oldDL = old.Deadline()
		if old.Subject() != rec.Subject() {
			st.unindexSubject(old.Subject(), id)
			st.indexSubject(rec.Subject(), id)
		}
	}
	// The index holds the current record, so it learns of every
	// replacement; when the deadline stays, add finds the id in its bucket
	// and swaps the pointer.
	if d := rec.Deadline(); d != 0 || oldDL != 0 {
		st.dlMu.Lock()
		if d != oldDL {
			st.deadlines.remove(id, oldDL)
		}
		st.deadlines.add(rec)
		st.dlMu.Unlock()
	}
}

// putNew is put for a record whose id is absent (old is nil), keyed by k:
// the shard table and the deadline index, which holds only current
// records, need no lookup before the insert. size is rec.Size(), which
// the caller knows from the fields it built the record of (Size walks
// the field list).
func (st *state) putNew(k recKey, rec *Record, size int) {
	st.shards[k.shard].m.insertHashed(rec, k.h)
	st.recMem.add(recordMemOfSize(size))
	st.delta++
	st.indexSubject(rec.Subject(), rec.ID())
	if rec.Deadline() != 0 {
		st.dlMu.Lock()
		st.deadlines.addNewHashed(rec, k.h)
		st.dlMu.Unlock()
	}
}

// bury removes id, whose current record is old (non-nil), at log time t
// and, if old is a session, leaves a tombstone so the id cannot be created
// again by Create or Rotate before tombEnd(old, t). Every command that
// removes a record goes through here. A plain Redis key leaves nothing, as
// in Redis: no command that writes Redis keys looks at tombstones anyway
// (SET after DEL recreates the key), so one would only cost memory.
// Locks as for put.
func (st *state) bury(id string, old *Record, t int64) {
	st.remove(id, old)
	if old.Session() {
		// A copy: old.ID() is a view of the record's data (Record.data),
		// which the tombstone would keep alive, payload and all, for the
		// dedup window at least; the memory estimate counts the id only.
		st.tombs.add(strings.Clone(old.ID()), tombEnd(old, t, st.window))
	}
}

// remove deletes id, whose current record is old (non-nil), and updates the
// indexes. Locks as for put. Only bury calls it, and SetString for a value
// written with a deadline already passed, which leaves no tombstone.
func (st *state) remove(id string, old *Record) {
	st.shards[shardOf(id)].m.remove(id)
	st.recMem.add(-recordMem(old))
	st.delta--
	st.unindexSubject(old.Subject(), id)
	if d := old.Deadline(); d != 0 {
		st.dlMu.Lock()
		st.deadlines.remove(id, d)
		st.dlMu.Unlock()
	}
}

// insertAll adds records with distinct ids to a state that is not yet
// published (Restore).
//
// The deadline index is filled after the records, with every bucket made
// at its final size: a bucket that grows one insert at a time rehashes
// each id it holds once or twice more, reading every record again, and
// for a million sessions that was 6-7% of a node's CPU from restart to
// serving (docs/benchmarks.md, round 5).
func (st *state) insertAll(recs []*Record) {
	var mem int64
	for _, r := range recs {
		st.shards[shardOf(r.ID())].m.insertNew(r, r.ID())
		mem += recordMem(r)
		st.indexSubject(r.Subject(), r.ID())
	}
	st.recMem.add(mem)
	st.count.Add(int64(len(recs)))
	st.deadlines.addNewAll(recs)
}

// records returns pointers to every record, unordered. The caller must
// exclude Apply (FSM.applyMu); records themselves are immutable.
func (st *state) records() []*Record {
	out := make([]*Record, 0, st.count.Load())
	for i := range st.shards {
		st.shards[i].m.all(func(r *Record) { out = append(out, r) })
	}
	return out
}
