package client

import (
	"net"
	"sync"

	"github.com/redis/rueidis"
)

// conns holds one rueidis client per node address. Each is a single
// auto-pipelined connection (per GOMAXPROCS multiplex), so many goroutines
// share few sockets; rueidis reconnects by itself after a failure.
type conns struct {
	cfg *Config

	mu     sync.Mutex
	m      map[string]rueidis.Client
	closed bool
}

func newConns(cfg *Config) *conns {
	return &conns{cfg: cfg, m: map[string]rueidis.Client{}}
}

// dial makes a client for addr. rueidis connects eagerly and, with
// ForceSingleClient, returns a usable client (that redials on use) even
// when that first connection fails; the error is returned alongside.
func (cs *conns) dial(addr string) (rueidis.Client, error) {
	return rueidis.NewClient(rueidis.ClientOption{
		InitAddress:       []string{addr},
		ForceSingleClient: true, // a sessionraft node is neither a Redis Cluster nor a Sentinel
		DisableCache:      true, // no CLIENT TRACKING: the server has no invalidation push
		// Retries are ours: rueidis would resend a write whose outcome is
		// unknown without a request id, and does not know which node to
		// try next.
		DisableRetry: true,
		// RESP2: a record arrives as a flat array that parseSession walks
		// in place; as a RESP3 map, rueidis would make it build a Go map
		// per read. The cache's invalidations have their own RESP3
		// connection (tracking.go).
		AlwaysRESP2:   true,
		Dialer:        net.Dialer{Timeout: cs.cfg.DialTimeout},
		MaxFlushDelay: cs.cfg.MaxFlushDelay,
		TLSConfig:     cs.cfg.TLS,
		Username:      cs.cfg.Username,
		Password:      cs.cfg.Password,
	})
}

// get returns the client for addr, creating it if needed. A node we could
// not reach still gets a client: rueidis redials on each use, and the
// caller's request fails fast with the dial error.
func (cs *conns) get(addr string) (rueidis.Client, error) {
	cs.mu.Lock()
	c, ok := cs.m[addr]
	closed := cs.closed
	cs.mu.Unlock()
	if ok {
		return c, nil
	}
	if closed {
		return nil, ErrClosed
	}
	c, err := cs.dial(addr)
	if c == nil {
		return nil, err
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.closed {
		c.Close()
		return nil, ErrClosed
	}
	if prev, ok := cs.m[addr]; ok { // lost a race with another caller
		c.Close()
		return prev, nil
	}
	cs.m[addr] = c
	return c, err // err: the first connection failed; the caller need not try it again
}

// retain closes the clients of nodes not in keep: nodes that left the
// cluster.
func (cs *conns) retain(keep []string) {
	want := make(map[string]bool, len(keep))
	for _, a := range keep {
		want[a] = true
	}
	var drop []rueidis.Client
	cs.mu.Lock()
	for a, c := range cs.m {
		if !want[a] {
			drop = append(drop, c)
			delete(cs.m, a)
		}
	}
	cs.mu.Unlock()
	for _, c := range drop {
		c.Close()
	}
}

// close closes every client and refuses new ones.
func (cs *conns) close() {
	cs.mu.Lock()
	cs.closed = true
	all := cs.m
	cs.m = map[string]rueidis.Client{}
	cs.mu.Unlock()
	for _, c := range all {
		c.Close()
	}
}
