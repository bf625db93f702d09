package fsm

import "unsafe"

// stringArena makes the strings of restored dedup entries (their ReqIDs
// and ids) by copying them into shared 32 KB chunks rather than one
// allocation each. Restore reads hundreds of thousands of them; a
// separate allocation each was a third of its allocations, and finding
// the record's copy of a create's id to share instead was a third of its
// CPU time (a hash lookup that misses the cache, per entry). Dedup entries
// are pruned in the order they were written, so a chunk, which holds
// consecutive entries, is freed soon after its last entry goes: within
// DedupWindow of log time after the restore. Strings too long to be ids
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
	if len(b) == 0 {
		return ""
	}
	if len(b) > arenaMaxStr {
		return string(b)
	}
	if cap(a.buf)-len(a.buf) < len(b) {
		a.buf = make([]byte, 0, arenaChunk)
	}
	start := len(a.buf)
	a.buf = append(a.buf, b...)
	return unsafe.String(&a.buf[start], len(b))
}
