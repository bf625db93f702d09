package fsm

import (
	"strings"
	"unsafe"
)

// stringArena makes the strings of restored dedup entries (their ReqIDs
// and ids), and the ReqIDs Apply remembers, by copying them into shared
// 32 KB chunks rather than one allocation each. Restore reads hundreds of thousands of them; a
// separate allocation each was a third of its allocations, and finding
// the record's copy of a create's id to share instead was a third of its
// CPU time (a hash lookup that misses the cache, per entry). Dedup entries
// are pruned in the order they were written, so a chunk, which holds
// consecutive entries, is freed soon after its last entry goes: within
// DedupWindow of log time after the restore (or after Apply added it).
// Strings too long to be ids
// get their own allocation.
//
// A chunk's bytes are never written again once a string covers them,
// which is what makes the strings over them valid.
type stringArena struct {
	buf []byte
}

const (
	arenaChunk  = 32 << 10
	arenaMaxStr = 256
)

func (a *stringArena) str(b []byte) string {
	return a.clone(unsafe.String(unsafe.SliceData(b), len(b)))
}

// clone is str for a string: Apply copies each ReqID it remembers into
// the dedup table's arena, for the same reasons (and its ReqIDs may be
// views of the raft entry, decoder.view).
func (a *stringArena) clone(s string) string {
	if len(s) == 0 {
		return ""
	}
	if len(s) > arenaMaxStr {
		return strings.Clone(s)
	}
	if cap(a.buf)-len(a.buf) < len(s) {
		a.buf = make([]byte, 0, arenaChunk)
	}
	start := len(a.buf)
	a.buf = append(a.buf, s...)
	return unsafe.String(&a.buf[start], len(s))
}
