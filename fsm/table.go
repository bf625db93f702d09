package fsm

import (
	"hash/maphash"
	"math/bits"
)

// table is an open-addressing hash set of pointers keyed by a string the
// pointed-to value holds (a record by its ID, a dedup entry by its ReqID).
// It replaces map[string]*T where millions of entries live: a Go map slot
// holds the key's string header besides the pointer (24 bytes, two
// pointers for the collector to scan), a slot here holds only the pointer
// (8 bytes, one pointer) plus a one-byte tag, and the key is read from the
// element, which already holds it. At its load factor of 3/8 to 3/4 that
// is 12-24 bytes per entry instead of about 40.
//
// Probing is linear. tags[i] is 0 for a never-used slot, tagDeleted for a
// removed one (a tombstone, so probe chains stay intact), and otherwise
// 0x80 | the hash's top 7 bits, so most slots that are not the key are
// passed over without loading the element.
//
// Iteration order depends on the process's hash seed and the table's
// history; callers that let order matter (Hash, snapshots, Expired) sort.
// A table is not safe for concurrent use on its own: shards and the
// deadline index guard theirs with their locks.
type table[E keyed] struct {
	tags    []uint8
	slots   []E
	n       int // live entries
	deleted int // tombstones
}

// keyed is what a table holds: a pointer whose key never changes while it
// is in the table (records and dedup entries are immutable).
type keyed interface {
	comparable
	key() string
}

const tagDeleted = 1

// tableSeed seeds every table's hash. It is random per process, so ids
// chosen by clients cannot be picked to collide; nothing observable
// depends on it.
var tableSeed = maphash.MakeSeed()

func hashKey(k string) (h uint64, tag uint8) {
	h = hashOf(k)
	return h, tagOf(h)
}

// hashOf is a key's hash in every table (tableSeed).
func hashOf(k string) uint64 { return maphash.String(tableSeed, k) }

// tagOf is the tag of a slot holding a key of hash h.
func tagOf(h uint64) uint8 { return uint8(h>>57) | 0x80 }

// newTable returns a table with room for n entries before it grows.
func newTable[E keyed](n int) table[E] {
	var t table[E]
	if n > 0 {
		t.alloc(n)
	}
	return t
}

// alloc makes empty arrays with room for n entries: the smallest power of
// two of at least 8 slots that keeps n within the 3/4 load factor.
func (t *table[E]) alloc(n int) {
	size := 8
	for size*3/4 < n {
		size *= 2
	}
	t.tags = make([]uint8, size)
	t.slots = make([]E, size)
	t.n, t.deleted = 0, 0
}

func (t *table[E]) len() int { return t.n }

// find returns the slot holding key k, or -1.
func (t *table[E]) find(k string) int {
	if t.n == 0 {
		return -1
	}
	return t.findHashed(k, hashOf(k))
}

// findHashed is find for a key whose hash (hashOf) the caller has: a
// command that looks a key up and then inserts it hashes it once.
func (t *table[E]) findHashed(k string, h uint64) int {
	if t.n == 0 {
		return -1
	}
	tag := tagOf(h)
	mask := uint64(len(t.tags) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch t.tags[i] {
		case 0:
			return -1
		case tag:
			if t.slots[i].key() == k {
				return int(i)
			}
		}
	}
}

// get returns the element with key k, or the zero E.
func (t *table[E]) get(k string) E {
	if i := t.find(k); i >= 0 {
		return t.slots[i]
	}
	var zero E
	return zero
}

// getHashed is get for a key of hash h (hashOf).
func (t *table[E]) getHashed(k string, h uint64) E {
	if i := t.findHashed(k, h); i >= 0 {
		return t.slots[i]
	}
	var zero E
	return zero
}

// put stores e, replacing the element with the same key if there is one.
func (t *table[E]) put(e E) {
	k := e.key()
	t.putHashed(e, k, hashOf(k))
}

// putHashed is put for an element whose key k and its hash the caller
// has.
func (t *table[E]) putHashed(e E, k string, h uint64) {
	if i := t.findHashed(k, h); i >= 0 {
		t.slots[i] = e
		return
	}
	t.insertHashed(e, h)
}

// insertNew adds e, whose key k the caller knows is absent.
func (t *table[E]) insertNew(e E, k string) { t.insertHashed(e, hashOf(k)) }

// insertHashed is insertNew for a key of hash h.
func (t *table[E]) insertHashed(e E, h uint64) {
	if (t.n+t.deleted+1)*4 > len(t.tags)*3 {
		t.grow()
	}
	mask := uint64(len(t.tags) - 1)
	i := h & mask
	for t.tags[i] > tagDeleted {
		i = (i + 1) & mask
	}
	if t.tags[i] == tagDeleted {
		t.deleted--
	}
	t.tags[i] = tagOf(h)
	t.slots[i] = e
	t.n++
}

// remove deletes the element with key k, if any.
func (t *table[E]) remove(k string) {
	i := t.find(k)
	if i < 0 {
		return
	}
	var zero E
	t.slots[i] = zero
	t.n--
	// A slot followed by a never-used one ends no probe chain but its
	// own, so it can be never-used again instead of a tombstone, and so
	// can the tombstones right before it.
	mask := len(t.tags) - 1
	if t.tags[(i+1)&mask] != 0 {
		t.tags[i] = tagDeleted
		t.deleted++
	} else {
		t.tags[i] = 0
		for j := (i - 1) & mask; t.tags[j] == tagDeleted; j = (j - 1) & mask {
			t.tags[j] = 0
			t.deleted--
		}
	}
	if t.n == 0 && t.deleted > 0 {
		clear(t.tags)
		t.deleted = 0
	}
}

// grow rehashes into arrays with room for twice the live entries (or the
// same size, when tombstones rather than entries filled the table).
func (t *table[E]) grow() {
	old := t.slots
	oldTags := t.tags
	t.alloc(max(2*t.n, 8*3/4))
	mask := uint64(len(t.tags) - 1)
	for j, e := range old {
		if oldTags[j] <= tagDeleted {
			continue
		}
		h, tag := hashKey(e.key())
		i := h & mask
		for t.tags[i] != 0 {
			i = (i + 1) & mask
		}
		t.tags[i] = tag
		t.slots[i] = e
		t.n++
	}
}

// all calls fn for every element, in no particular order.
func (t *table[E]) all(fn func(E)) {
	if t.n == 0 {
		return
	}
	for i, e := range t.slots {
		if t.tags[i] > tagDeleted {
			fn(e)
		}
	}
}

// scan visits one home bucket for SCAN (scan.go): it calls fn for every
// element whose home slot in the current size is v's, and returns the
// cursor of the next bucket, 0 after the last. Elements with home slot b
// lie between b and the first never-used slot after it (the invariant find
// relies on: tombstones keep chains intact), so the walk finds them all
// wherever probing put them.
//
// Buckets are visited in the order of their bit-reversed index (Redis's
// dictScan cursor): visiting bucket b of a table of 2^k slots covers the
// keys whose bit-reversed hash has rev_k(b) as its top k bits, so the
// cursor stands for a threshold on the reversed hash below which every key
// has been visited. After the table changes size between two calls, the
// same cursor masked to the new size starts at or before that threshold
// (a smaller table: some keys come again) and never after it, so a key
// present throughout is visited at least once however the table grows,
// shrinks or is rebuilt, as long as the hash of a key does not change
// (one process: tableSeed).
func (t *table[E]) scan(v uint64, fn func(E)) uint64 {
	if t.n == 0 {
		return 0 // no keys: none can be missed by ending here
	}
	mask := uint64(len(t.tags) - 1)
	b := v & mask
	for i := b; t.tags[i] != 0; i = (i + 1) & mask {
		if t.tags[i] > tagDeleted {
			if h, _ := hashKey(t.slots[i].key()); h&mask == b {
				fn(t.slots[i])
			}
		}
	}
	v |= ^mask
	return bits.Reverse64(bits.Reverse64(v) + 1)
}
