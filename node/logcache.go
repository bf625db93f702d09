package node

import (
	"sync"

	"github.com/hashicorp/raft"
)

// logCache keeps a group's newest raft entries in memory, so that what
// raft reads back right after storing it (a follower applies the entries
// it just appended; a leader replicates the ones it just wrote) needs no
// read from the log file.
//
// Why not raft.LogCache: it holds a fixed number of entries whatever their
// size. Group commit makes entries large (up to Config.MaxBatchBytes,
// 8 MiB), so its 1,024 entries could hold gigabytes per group; after a
// load of a million sessions by 256 clients they held about 40 MiB per
// group, 120 MiB of a node's resident memory (docs/benchmarks.md,
// "Issue 15, 2026-12-05 (night)"). This cache holds at most cap(ring)
// entries and maxBytes of their data, and drops the oldest first. The
// bound is on entry data: a follower's entries are slices of the frame
// they arrived in, so a cached entry also keeps the rest of its frame
// alive. The newest entry is always kept, so one larger than maxBytes is
// still served from memory until the next store pushes it out; of
// several large entries stored together, the older ones are read back
// from the file.
//
// The cached entries are one run of consecutive indexes, [lo, lo+n).
// raft deletes a conflicting suffix (DeleteRange) before it stores the new
// one, and raftwal refuses overwrites; a store after a gap (a snapshot
// moved the log on) starts a new run, and DeleteRange empties the cache.
// A DeleteRange that lands while a StoreLogs is writing to the store
// (raft does not do that; compaction never covers entries being
// appended) moves a generation, and that StoreLogs then caches nothing.
// So a cached entry is always the one the store holds at its index.
type logCache struct {
	store    raft.LogStore
	maxBytes int

	mu    sync.RWMutex
	ring  []*raft.Log // entry i at ring[i % len(ring)]
	lo    uint64      // the oldest cached index (when n > 0)
	n     int         // entries cached
	bytes int         // their Data and Extensions
	gen   uint64      // DeleteRange calls so far
}

// Log cache bounds per group: the entries between a store and its
// read-back are a few commit rounds' worth.
const (
	logCacheEntries = 1024
	logCacheBytes   = 4 << 20
)

// newLogCache caches store's newest entries, at most entries of them (at
// least one) and maxBytes of their data.
func newLogCache(store raft.LogStore, entries, maxBytes int) *logCache {
	return &logCache{store: store, maxBytes: maxBytes, ring: make([]*raft.Log, max(entries, 1))}
}

func entryBytes(l *raft.Log) int { return len(l.Data) + len(l.Extensions) }

// GetLog answers from the cache when it holds idx, else from the store.
func (c *logCache) GetLog(idx uint64, out *raft.Log) error {
	c.mu.RLock()
	if c.n > 0 && idx >= c.lo && idx-c.lo < uint64(c.n) {
		// The index check costs nothing and turns a broken invariant into
		// a miss rather than a wrong entry.
		if l := c.ring[idx%uint64(len(c.ring))]; l != nil && l.Index == idx {
			*out = *l
			c.mu.RUnlock()
			return nil
		}
	}
	c.mu.RUnlock()
	return c.store.GetLog(idx, out)
}

func (c *logCache) StoreLog(l *raft.Log) error { return c.StoreLogs([]*raft.Log{l}) }

// StoreLogs stores logs, then caches them: only on success (the store may
// have kept none of them), and only if no DeleteRange came meanwhile.
func (c *logCache) StoreLogs(logs []*raft.Log) error {
	c.mu.RLock()
	gen := c.gen
	c.mu.RUnlock()
	if err := c.store.StoreLogs(logs); err != nil {
		return err
	}
	c.mu.Lock()
	if c.gen == gen {
		for _, l := range logs {
			c.add(l)
		}
	}
	c.mu.Unlock()
	return nil
}

func (c *logCache) add(l *raft.Log) {
	if c.n > 0 && l.Index != c.lo+uint64(c.n) {
		c.reset() // not the next index: a new run
	}
	if c.n == 0 {
		c.lo = l.Index
	}
	if c.n == len(c.ring) {
		c.dropOldest()
	}
	c.ring[l.Index%uint64(len(c.ring))] = l
	c.n++
	c.bytes += entryBytes(l)
	for c.bytes > c.maxBytes && c.n > 1 {
		c.dropOldest()
	}
}

func (c *logCache) dropOldest() {
	i := c.lo % uint64(len(c.ring))
	c.bytes -= entryBytes(c.ring[i])
	c.ring[i] = nil
	c.lo++
	c.n--
}

func (c *logCache) reset() {
	clear(c.ring)
	c.n, c.bytes = 0, 0
}

// DeleteRange empties the cache, then deletes from the store.
func (c *logCache) DeleteRange(lo, hi uint64) error {
	c.mu.Lock()
	c.reset()
	c.gen++
	c.mu.Unlock()
	return c.store.DeleteRange(lo, hi)
}

func (c *logCache) FirstIndex() (uint64, error) { return c.store.FirstIndex() }
func (c *logCache) LastIndex() (uint64, error)  { return c.store.LastIndex() }

// IsMonotonic passes on the store's answer (raft.MonotonicLogStore), as
// raft.LogCache does: raft asks it of the store it was given.
func (c *logCache) IsMonotonic() bool {
	m, ok := c.store.(raft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}
