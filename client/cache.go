package client

import (
	"context"
	"hash/maphash"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// The client-side session cache (Config.CacheSize, WithCache). A cached
// Get is answered from process memory; the server keeps it honest with
// invalidations, which arrive on one tracking connection to one node
// (tracking.go: CLIENT TRACKING ON BCAST, so that node sends every change
// it applies, whichever node the read went to).
//
// The bound. An entry is served only while the tracking connection's
// lease holds: the client PINGs every lease/4, and a PONG to a PING sent
// at time s extends the lease to s + CacheLease. The server answers a
// PING on a tracking connection with a flush-all invalidation before the
// PONG when any group's state on that node is older than its
// TrackingMaxStaleness (S). So when a session is destroyed (revoked,
// rotated away, changed) at time t, no cached read returns it after
// t + S + CacheLease (plus the clock skew between the group leader and
// the tracking node): either the node applied the change and its
// invalidation came before the PONG, or the node flushed, or no PONG came
// and the lease ran out. When the connection breaks the whole cache is
// dropped. Healthy, an entry goes one replication delay after the change
// commits (docs/ARCHITECTURE.md, "Client-side caching").
//
// A fill (the read made on a miss) is stored only if no invalidation of
// its id, no flush and no reconnection happened while it was in flight:
// the invalidation of a change the read did not see may arrive, on the
// tracking connection, before the read's reply arrives on another.
// Fills are linearizable reads, so a read that starts after an
// invalidation arrived sees the change.

// cacheShards spreads the cache over locks so cores do not contend.
const cacheShards = 64

type cache struct {
	seed     maphash.Seed
	perShard int
	lease    time.Duration

	// validUntil is the lease's end (unix ns); 0 while the tracking
	// connection is down.
	validUntil atomic.Int64
	// gen changes on every flush: fills started before one are dropped.
	gen atomic.Uint64

	shards [cacheShards]cacheShard

	// conn is the tracking connection now (tests break it).
	conn atomic.Pointer[net.Conn]
}

type cacheShard struct {
	mu    sync.RWMutex
	m     map[string]cacheEntry
	fills map[string]*fill
	_     [64]byte // keep shards' locks on separate cache lines
}

type cacheEntry struct {
	s     *Session
	until int64 // unix ns the session expires at; 0: never
}

// fill is the in-flight misses of one id; dead once it is invalidated.
type fill struct {
	n    int
	dead bool
}

// fillToken is what begin hands to end.
type fillToken struct {
	f   *fill
	gen uint64
}

func newCache(size int, lease time.Duration) *cache {
	c := &cache{seed: maphash.MakeSeed(), perShard: max(1, size/cacheShards), lease: lease}
	for i := range c.shards {
		c.shards[i].m = map[string]cacheEntry{}
		c.shards[i].fills = map[string]*fill{}
	}
	return c
}

func (c *cache) shard(id string) *cacheShard {
	return &c.shards[maphash.String(c.seed, id)%cacheShards]
}

// get returns the cached session of id if the lease holds and it has not
// expired at now (unix ns).
func (c *cache) get(id string, now int64) (*Session, bool) {
	if now >= c.validUntil.Load() {
		return nil, false
	}
	sh := c.shard(id)
	sh.mu.RLock()
	e, ok := sh.m[id]
	sh.mu.RUnlock()
	if !ok || (e.until != 0 && now >= e.until) {
		return nil, false
	}
	return e.s, true
}

// begin notes a fill of id starting now.
func (c *cache) begin(id string) fillToken {
	tok := fillToken{gen: c.gen.Load()}
	sh := c.shard(id)
	sh.mu.Lock()
	f := sh.fills[id]
	if f == nil {
		f = &fill{}
		sh.fills[id] = f
	}
	f.n++
	sh.mu.Unlock()
	tok.f = f
	return tok
}

// end finishes a fill; s (nil: the read failed) is stored if nothing
// invalidated it meanwhile and the lease holds.
func (c *cache) end(tok fillToken, id string, s *Session) {
	sh := c.shard(id)
	now := time.Now().UnixNano()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.fills[id] == tok.f {
		if tok.f.n--; tok.f.n == 0 {
			delete(sh.fills, id)
		}
	}
	if s == nil || tok.f.dead || c.gen.Load() != tok.gen || now >= c.validUntil.Load() {
		return
	}
	e := cacheEntry{s: s}
	if !s.ExpiresAt.IsZero() {
		if e.until = s.ExpiresAt.UnixNano(); now >= e.until {
			return
		}
	}
	if _, ok := sh.m[id]; !ok && len(sh.m) >= c.perShard {
		for k := range sh.m { // full: drop an arbitrary entry
			delete(sh.m, k)
			break
		}
	}
	sh.m[id] = e
}

// invalidate drops id and any fill of it in flight.
func (c *cache) invalidate(id string) {
	sh := c.shard(id)
	sh.mu.Lock()
	delete(sh.m, id)
	if f := sh.fills[id]; f != nil {
		f.dead = true
		delete(sh.fills, id)
	}
	sh.mu.Unlock()
}

// flush drops everything, and every fill in flight.
func (c *cache) flush() {
	c.gen.Add(1)
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		clear(sh.m)
		sh.mu.Unlock()
	}
}

// len counts the cached sessions (tests).
func (c *cache) len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}

// cachedGet answers a Get from the cache, or reads it (rq) and caches
// the answer.
func (c *Client) cachedGet(ctx context.Context, id string, rq *request) (*Session, error) {
	if s, ok := c.cache.get(id, time.Now().UnixNano()); ok {
		return s, nil
	}
	tok := c.cache.begin(id)
	err := c.call(ctx, rq)
	if err != nil {
		c.cache.end(tok, id, nil)
		return nil, err
	}
	c.cache.end(tok, id, rq.sess)
	return rq.sess, nil
}
