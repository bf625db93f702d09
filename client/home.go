package client

import "math/rand/v2"

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
// takes the one whose address scores highest under its own random seed.
// A node that is the client's top choice overall is its home for every
// group it replicates, so all its stale reads share that node's
// connection; a group it does not replicate goes to the client's next
// choice, and a replica the attempt must avoid (down, or refused the read
// as too stale) passes the read to the next.

// newHomeSeed returns a client's rendezvous seed.
func newHomeSeed() uint64 { return rand.Uint64() }

// homeReplica returns the replica of replicas not in avoid that scores
// highest under seed, or "" if every replica is avoided.
func homeReplica(seed uint64, replicas []string, avoid map[string]bool) string {
	best, bestScore := "", uint64(0)
	for _, a := range replicas {
		if avoid[a] {
			continue
		}
		if s := homeScore(seed, a); best == "" || s > bestScore {
			best, bestScore = a, s
		}
	}
	return best
}

// homeScore hashes addr under seed: FNV-1a over the seed's bytes and the
// address, then a 64-bit finaliser so that addresses differing in one
// trailing digit do not score in the same order for every seed.
func homeScore(seed uint64, addr string) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	for i := range 8 {
		h ^= (seed >> (8 * i)) & 0xff
		h *= prime
	}
	for i := 0; i < len(addr); i++ {
		h ^= uint64(addr[i])
		h *= prime
	}
	// splitmix64's finaliser.
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}
