package fsm

import (
	"cmp"
	"encoding/binary"
	"math"
	"strings"
)

// Tombstones: a session id that a command removed (Destroy, Revoke,
// Rotate's old id, Expire, or the on-the-spot removal of an expired
// record, and the Redis commands that remove a key) may not be created
// again, by Create or as a Rotate's NewID, until its tombstone ends. Only
// sessions leave them (kind.go), and only Create and Rotate look at them:
// the Redis commands write a key whatever tombstone it has, as Redis lets
// SET recreate a deleted key. So a record may coexist with a live
// tombstone of its id (a session destroyed, then its id written by SET);
// the tombstone then matters again once the record is gone. Without them a client-chosen id (Create.ID, e.g. an scs token)
// could bring a destroyed, revoked, rotated-away or expired session back
// to life: a stale Commit of a logged-out session, or a client that still
// holds the old id of a rotated one.
//
// A record removed at log time t leaves a tombstone until
//
//	max(record.Deadline(), t + DedupWindow)
//
// (a record without a deadline: t + DedupWindow). Past the record's own
// deadline a resurrection would only bring back a session that had expired
// anyway; the DedupWindow floor covers a removal at or after the deadline,
// the period in which retries and delayed writes of the old session are
// still plausible. The tombstone is live while the log clock is before its
// end, like a record is live before its deadline.
//
// Memory: a tombstone's payload is its id and its end, id length + 24
// bytes (string header and int64). It is stored twice, as a heap entry and
// as a map entry sharing the same id bytes (the removed record's own copy),
// which with the map's and the slice's slack comes to about id length + 60
// bytes of heap each (measured: 62 at 200k tombstones). In a snapshot it
// costs id length + about 10 bytes. The count is bounded by the deadlines:
// the ids removed in the last DedupWindow of log time plus the removed
// records whose deadline has not passed yet. For sessions with an idle
// timeout that is at most the idle timeout after their last access; a
// record with a long absolute TTL and no idle timeout keeps its tombstone
// for the rest of that TTL (a million such logouts a day with 30-day TTLs
// would hold ~30M tombstones, a few GB). Ended tombstones are pruned a
// bounded number per batch (tombPruneMin), and the table gives memory back
// after a burst has drained.

// tombPruneMin is the number of ended tombstones one batch may drop beyond
// the number it added. Pruning at least as many as are added keeps up with
// any steady rate, and the margin drains a backlog (a burst of tombstones
// that all end at once) over later batches without making one batch slow.
const tombPruneMin = 128

// tombstone is one entry of the heap: id may not be created before until.
type tombstone struct {
	id    string
	until int64
}

func cmpTomb(a, b tombstone) int {
	if c := cmp.Compare(a.until, b.until); c != 0 {
		return c
	}
	return strings.Compare(a.id, b.id)
}

func appendTombstone(dst []byte, e tombstone) []byte {
	dst = appendString(dst, e.id)
	return binary.AppendVarint(dst, e.until)
}

func decodeTombstone(d *decoder) tombstone {
	return tombstone{id: d.str(), until: d.varint()}
}

// tombTable holds the tombstones. The heap, a min-heap by (until, id), is
// the state proper: snapshots and Hash write its entries in that order,
// and since the order is total, pruning (pop while the minimum has ended)
// depends only on the set of entries and the log clock, never on the
// heap's layout. The map gives the newest end per id for lookups.
//
// An id can have more than one heap entry: when its tombstone has ended
// but not been pruned yet, the id may be created and removed again, which
// pushes a second entry with a later end. The older entry is superseded
// (the map holds the newer end); it is dropped when it reaches the top,
// which is always before the newer one does.
//
// Touched only by the apply goroutine, under FSM.applyMu.
type tombTable struct {
	m     map[string]int64 // id → end of its newest tombstone
	h     []tombstone      // min-heap by cmpTomb
	added int              // entries pushed since the last prune
	peak  int              // len(m) when the map was last made
	mem   memCounter       // estimated bytes of the heap's entries (memory.go)
}

func newTombTable() tombTable {
	return tombTable{m: make(map[string]int64)}
}

// live reports whether id has a tombstone that has not ended at t.
func (tt *tombTable) live(id string, t int64) bool {
	u, ok := tt.m[id]
	return ok && t < u
}

// add records a tombstone for id until the given end. An id that had a
// record to remove may have a tombstone still (its record was written by a
// Redis command over it): the later end wins, and the check keeps the
// heap's entries distinct.
func (tt *tombTable) add(id string, until int64) {
	if u, ok := tt.m[id]; ok && u >= until {
		return
	}
	tt.m[id] = until
	tt.push(tombstone{id, until})
	tt.added++
	tt.peak = max(tt.peak, len(tt.m))
}

// push adds an entry to the heap without touching the map (Restore).
func (tt *tombTable) push(e tombstone) {
	tt.h = append(tt.h, e)
	tt.mem.add(tombMem(e.id))
	siftUp(len(tt.h)-1, tt.less, tt.swap)
}

// prune drops tombstones that have ended at t: as many as were added since
// the last prune plus tombPruneMin, earliest end first.
func (tt *tombTable) prune(t int64) {
	budget := tt.added + tombPruneMin
	tt.added = 0
	for ; budget > 0 && len(tt.h) > 0 && tt.h[0].until <= t; budget-- {
		e := tt.h[0]
		tt.mem.add(-tombMem(e.id))
		last := len(tt.h) - 1
		tt.h[0] = tt.h[last]
		tt.h[last] = tombstone{}
		tt.h = tt.h[:last]
		siftDown(last, 0, tt.less, tt.swap)
		if tt.m[e.id] == e.until {
			delete(tt.m, e.id)
		}
	}
	// Neither slices nor maps give memory back by themselves: after a
	// burst has drained, copy both into right-sized ones. Each copy is
	// paid for by the three quarters of the peak that were pruned.
	if cap(tt.h) > 1024 && len(tt.h) < cap(tt.h)/4 {
		tt.h = append(make([]tombstone, 0, 2*len(tt.h)), tt.h...)
	}
	if tt.peak > 1024 && len(tt.m) < tt.peak/4 {
		m := make(map[string]int64, len(tt.m))
		for id, u := range tt.m {
			m[id] = u
		}
		tt.m, tt.peak = m, len(m)
	}
}

func (tt *tombTable) less(i, j int) bool { return cmpTomb(tt.h[i], tt.h[j]) < 0 }
func (tt *tombTable) swap(i, j int)      { tt.h[i], tt.h[j] = tt.h[j], tt.h[i] }

// entries returns the heap's entries, unordered (a copy).
func (tt *tombTable) entries() []tombstone {
	return append([]tombstone(nil), tt.h...)
}

func (tt *tombTable) len() int { return len(tt.h) }

// tombEnd is when the tombstone of a record removed at t ends.
func tombEnd(old *Record, t, window int64) int64 {
	end := t + window // window > 0 (Limits defaults a zero one)
	if t > math.MaxInt64-window {
		end = math.MaxInt64
	}
	return max(old.Deadline(), end)
}
