package fsm

import "sync/atomic"

// Memory accounting for the node's memory quota (--max-memory). The FSM
// keeps a running estimate of the bytes its state holds: records,
// tombstones and dedup entries, each as its data plus a fixed overhead
// for the Go structures around it. The estimate is derived from the state
// alone (the same on every replica at the same index) but is not part of
// Hash or of snapshots: Restore recomputes it as it rebuilds the tables.
//
// The overheads are approximate (measured with the memory benchmarks,
// docs/benchmarks.md, on 64-bit Go): the quota they feed is a soft bound,
// not an allocator's exact figure.
const (
	// recordOverhead: the Record struct (64 bytes), its slot in a shard
	// table, its subject index entry and deadline index slot. The quota
	// is checked by each node on its own estimate, outside Apply, so the
	// figure may change between versions.
	recordOverhead = 144
	// tombOverhead: a heap entry (string header and end) and a map entry.
	tombOverhead = 72
	// dedupOverhead: the entry struct, its table slot and FIFO slot.
	dedupOverhead = 96
)

// memCounter is a running byte estimate: written by the apply goroutine,
// read by anyone.
type memCounter struct{ n atomic.Int64 }

func (m *memCounter) add(d int64) {
	if d != 0 {
		m.n.Add(d)
	}
}

func recordMem(r *Record) int64 {
	if r == nil {
		return 0
	}
	return recordMemOfSize(r.Size())
}

// recordMemOfSize is recordMem of a record whose Size is size.
func recordMemOfSize(size int) int64 { return int64(size + recordOverhead) }

func tombMem(id string) int64 { return int64(len(id) + tombOverhead) }

func dedupMem(e *dedupEntry) int64 { return int64(len(e.reqID) + len(e.id) + dedupOverhead) }

// MemoryUsage is the state's estimated size in bytes: records,
// tombstones and dedup entries, as of the last applied command. It may be
// called from any goroutine.
func (f *FSM) MemoryUsage() int64 {
	st := f.state.Load()
	return st.recMem.n.Load() + st.tombs.mem.n.Load() + st.dedup.mem.n.Load()
}
