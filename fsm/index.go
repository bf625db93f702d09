package fsm

import (
	"cmp"
	"slices"
	"strings"
)

// Subject index: subject → set of ids. Records without a subject are not
// indexed. Callers hold subMu for writing (or own an unpublished state).

func (st *state) indexSubject(subject, id string) {
	if subject == "" {
		return
	}
	set := st.subjects[subject]
	if set == nil {
		set = make(map[string]struct{}, 1)
		// A copy: subject is a view of the record's data (Record.data),
		// which the key would keep alive, payload and all, for as long
		// as any session of the subject lives.
		st.subjects[strings.Clone(subject)] = set
	}
	set[id] = struct{}{}
}

func (st *state) unindexSubject(subject, id string) {
	if subject == "" {
		return
	}
	set := st.subjects[subject]
	delete(set, id)
	if len(set) == 0 {
		delete(st.subjects, subject)
	}
}

// bucketShift sets the deadline index's bucket width: 2^28 ns ≈ 268 ms.
// Wide enough that buckets are few (and the heap small), narrow enough
// that sorting one bucket in Expired is cheap.
const bucketShift = 28

// deadlineIndex finds the records with the earliest deadlines. Records are
// grouped in buckets by deadline>>bucketShift (an arithmetic shift, so the
// order of buckets is the order of deadlines, negative ones included); a
// min-heap holds each bucket's key exactly once. A bucket holds the current
// record of each id (a table keyed by ID), whose Deadline is the one it is
// indexed under: so the index stores one pointer per record rather than
// an id and a deadline, but every replacement of a record must be passed
// on (replace), even when the deadline stays. Moving a record (touch, set)
// is two O(1) table operations; a new bucket costs a heap push. Buckets
// that empty stay in the heap until they reach its top (trim), which bounds
// them by the number of distinct bucket keys between the earliest and the
// latest live deadline.
type deadlineIndex struct {
	buckets map[int64]*table[*Record] // key → records with a deadline in it
	heap    []int64                   // min-heap of bucket keys
}

func newDeadlineIndex() deadlineIndex {
	return deadlineIndex{buckets: make(map[int64]*table[*Record])}
}

// add indexes r under its deadline; a record without one is not indexed.
func (x *deadlineIndex) add(r *Record) {
	if b := x.bucketFor(r); b != nil {
		b.put(r)
	}
}

// addNew is add for a record whose id is not indexed (Restore).
func (x *deadlineIndex) addNew(r *Record) {
	if b := x.bucketFor(r); b != nil {
		b.insertNew(r, r.ID())
	}
}

// addNewHashed is addNew for a record whose id has hash h (hashOf).
func (x *deadlineIndex) addNewHashed(r *Record, h uint64) {
	if b := x.bucketFor(r); b != nil {
		b.insertHashed(r, h)
	}
}

// addNewAll is addNew for many records (Restore): it counts the records
// of each bucket first and makes every new bucket at that size, so none
// grows while it fills.
func (x *deadlineIndex) addNewAll(recs []*Record) {
	counts := make(map[int64]int)
	for _, r := range recs {
		if d := r.Deadline(); d != 0 {
			counts[d>>bucketShift]++
		}
	}
	// Keys pushed in ascending order need no sifting, and the heap's
	// layout does not depend on map order.
	keys := make([]int64, 0, len(counts))
	for k := range counts {
		if x.buckets[k] == nil {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		t := newTable[*Record](counts[k])
		x.buckets[k] = &t
		x.push(k)
	}
	for _, r := range recs {
		x.addNew(r)
	}
}

// bucketFor returns the bucket of r's deadline, made if needed, or nil if
// r has no deadline.
func (x *deadlineIndex) bucketFor(r *Record) *table[*Record] {
	d := r.Deadline()
	if d == 0 {
		return nil
	}
	k := d >> bucketShift
	b := x.buckets[k]
	if b == nil {
		// Under a steady load with one TTL, buckets fill one after the
		// other at the rate of writes, so the previous bucket's size is
		// the best guess of this one's: made at that size, it does not
		// grow (and rehash) while it fills. Only the capacity depends on
		// it, never an answer.
		b = new(table[*Record])
		if prev := x.buckets[k-1]; prev != nil && prev.len() > 0 {
			b.alloc(prev.len())
		}
		x.buckets[k] = b
		x.push(k)
	}
	return b
}

// remove unindexes id, indexed under deadline d (0: not indexed).
func (x *deadlineIndex) remove(id string, d int64) {
	if d == 0 {
		return
	}
	if b := x.buckets[d>>bucketShift]; b != nil {
		b.remove(id)
	}
}

// trim drops empty buckets from the top of the heap. Apply calls it after
// each batch; it is amortised O(log n) per bucket ever created.
func (x *deadlineIndex) trim() {
	for len(x.heap) > 0 {
		if b := x.buckets[x.heap[0]]; b != nil && b.len() > 0 {
			return
		}
		delete(x.buckets, x.heap[0])
		x.pop()
	}
}

// expired returns up to max ids with deadline <= now, earliest first (ties
// by id). It walks the heap in key order without modifying it, using a
// small auxiliary heap of positions: a node's children are only visited
// after the node itself, so the walk touches only buckets due by now plus
// their direct children.
func (x *deadlineIndex) expired(now int64, max int) []string {
	if max <= 0 || len(x.heap) == 0 {
		return nil
	}
	type entry struct {
		d  int64
		id string
	}
	var (
		out      []string
		due      []entry
		nowKey   = now >> bucketShift
		frontier = []int{0} // positions in x.heap, a min-heap by key
	)
	less := func(i, j int) bool { return x.heap[frontier[i]] < x.heap[frontier[j]] }
	for len(frontier) > 0 && len(out) < max {
		pos := frontier[0]
		last := len(frontier) - 1
		frontier[0] = frontier[last]
		frontier = frontier[:last]
		siftDown(len(frontier), 0, less, func(i, j int) { frontier[i], frontier[j] = frontier[j], frontier[i] })

		k := x.heap[pos]
		if k > nowKey {
			break // every other candidate has a key >= k
		}
		due = due[:0]
		if b := x.buckets[k]; b != nil {
			b.all(func(r *Record) {
				if d := r.Deadline(); d <= now {
					due = append(due, entry{d, r.ID()})
				}
			})
		}
		slices.SortFunc(due, func(a, b entry) int {
			if a.d != b.d {
				return cmp.Compare(a.d, b.d)
			}
			return strings.Compare(a.id, b.id)
		})
		for _, e := range due {
			if len(out) == max {
				break
			}
			out = append(out, e.id)
		}
		for _, c := range [2]int{2*pos + 1, 2*pos + 2} {
			if c < len(x.heap) {
				frontier = append(frontier, c)
				siftUp(len(frontier)-1, less, func(i, j int) { frontier[i], frontier[j] = frontier[j], frontier[i] })
			}
		}
	}
	return out
}

func (x *deadlineIndex) push(k int64) {
	x.heap = append(x.heap, k)
	siftUp(len(x.heap)-1, x.less, x.swap)
}

func (x *deadlineIndex) pop() {
	last := len(x.heap) - 1
	x.heap[0] = x.heap[last]
	x.heap = x.heap[:last]
	siftDown(last, 0, x.less, x.swap)
}

func (x *deadlineIndex) less(i, j int) bool { return x.heap[i] < x.heap[j] }
func (x *deadlineIndex) swap(i, j int)      { x.heap[i], x.heap[j] = x.heap[j], x.heap[i] }

// siftUp and siftDown are container/heap's algorithms over index callbacks,
// without its interface boxing.
func siftUp(j int, less func(i, j int) bool, swap func(i, j int)) {
	for j > 0 {
		i := (j - 1) / 2
		if !less(j, i) {
			break
		}
		swap(i, j)
		j = i
	}
}

func siftDown(n, i int, less func(i, j int) bool, swap func(i, j int)) {
	for {
		j := 2*i + 1
		if j >= n {
			return
		}
		if r := j + 1; r < n && less(r, j) {
			j = r
		}
		if !less(j, i) {
			return
		}
		swap(i, j)
		i = j
	}
}
