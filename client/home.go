package client

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// Stale reads go to one replica of each group, the client's home, unless
// Config.SpreadStaleReads. Why: a node's cost per request is mostly per
// batch of requests it reads from a connection (a read, a write, a wake
// of its poller), and the client pipelines the requests of all its
// goroutines that share a connection. Spread round-robin over three
// replicas, 64 goroutines gave each node batches of about two and cost
// 19-22 us of server CPU per read; sent to one node, 5.6-6.2 us at twice
// the reads per second (docs/benchmarks.md, "Stale reads from one
// replica"). Many clients still spread over the nodes, each by its own
// choice.
//
// The choice is rendezvous hashing: of a group's alive replicas the client
// takes the one whose address scores highest under its own random seed
// (hash/maphash, seeded once per client).
// A node that is the client's top choice overall is its home for every
// group it replicates, so all its stale reads share that node's
// connection; a group it does not replicate goes to the client's next
// choice, and a replica the attempt must avoid (down, or refused the read
// as too stale) passes the read to the next. A replica that refused a
// stale read stays last in the order for lagMemory (lagging), so a
// lagging home costs one refusal, not one per read.

// homeReplica returns the replica of replicas not in avoid that scores
// highest under seed, or "" if every replica is avoided. Replicas that
// lag (recently refused a stale read) come last: they are chosen only
// when every other replica is avoided.
func homeReplica(seed maphash.Seed, replicas []string, avoid map[string]bool, lag *lagging) string {
	best, bestScore, bestLags := "", uint64(0), false
	for _, a := range replicas {
		if avoid[a] {
			continue
		}
		lags := lag.has(a)
		s := maphash.String(seed, a)
		if best == "" || (bestLags && !lags) || (lags == bestLags && s > bestScore) {
			best, bestScore, bestLags = a, s, lags
		}
	}
	return best
}

// setTopology makes tp the routing table, with its staleHome.
func (c *Client) setTopology(tp *topology) {
	tp.staleHome = commonHome(c.home, tp)
	c.topo.Store(tp)
}

// commonHome returns the home replica under seed that every group of tp
// shares, or "" if some group has another (or none).
func commonHome(seed maphash.Seed, tp *topology) string {
	if tp.ring == nil || tp.ring.Groups() != len(tp.groups) {
		return "" // a key could map to a group tp does not route
	}
	home := ""
	for _, g := range tp.groups {
		h := homeReplica(seed, g.replicas, nil, nil)
		if h == "" || (home != "" && h != home) {
			return ""
		}
		home = h
	}
	return home
}

// lagging remembers the replicas that refused a stale read as too stale
// in the last lagMemory and have not served one since. Without it a
// client whose home lags (a follower restarting or cut off from its
// leader) would ask the home first on every read, pay the refusal and a
// retry, and only then go on.
type lagging struct {
	mu    sync.Mutex
	until map[string]time.Time
	n     atomic.Int32 // len(until), read without mu on every stale read
}

// lagMemory is how long a refusal keeps a replica out of first place.
const lagMemory = time.Second

// note records that addr refused a stale read just now.
func (l *lagging) note(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.until == nil {
		l.until = map[string]time.Time{}
	}
	l.until[addr] = time.Now().Add(lagMemory)
	l.n.Store(int32(len(l.until)))
}

// clear forgets addr's refusal: it has just served a stale read.
func (l *lagging) clear(addr string) {
	if l.n.Load() == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.until, addr)
	l.n.Store(int32(len(l.until)))
}

// has reports whether addr refused a stale read in the last lagMemory.
func (l *lagging) has(addr string) bool {
	if l == nil || l.n.Load() == 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.until[addr]
	if ok && !time.Now().Before(t) {
		delete(l.until, addr)
		l.n.Store(int32(len(l.until)))
		ok = false
	}
	return ok
}
