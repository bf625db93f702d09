package jepsen

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/sessionraft/sessionraft/client"
)

// ---------------------------------------------------------------- cache

// cacheWorkload: client-side caching's revocation bound. Every worker has
// its own Go client with a session cache (its tracking connection on a
// node of its own choosing), and reads a pool of recent sessions through
// it; now and then a worker destroys one with the uncached client and
// then polls its own cache until the session is gone, which measures the
// invalidation latency. The checker (checkCache) requires that no read,
// cached or not, that started later than the bound after a destroy was
// acknowledged returns the session.
type cacheWorkload struct {
	mu      sync.Mutex
	clients []*client.Client
	pool    []cacheSess
	lat     []time.Duration // destroy acknowledged → the poller's cache no longer serves it
}

type cacheSess struct {
	id        string
	destroyed bool
}

// cacheLease is the caching clients' CacheLease: short, so a run's
// bound is short.
const cacheLease = 250 * time.Millisecond

func (w *cacheWorkload) Name() string { return "cache" }

func (w *cacheWorkload) Setup(ctx context.Context, e *env) error {
	for range e.cfg.Workers {
		c, err := client.New(ctx, client.Config{
			Seeds:           e.c.ClientAddrs(),
			DialTimeout:     time.Second,
			RequestTimeout:  3 * time.Second,
			RefreshInterval: 500 * time.Millisecond,
			TLS:             e.cfg.Client.TLS,
			Username:        e.cfg.Client.Username,
			Password:        e.cfg.Client.Password,
			CacheSize:       1000,
			CacheReads:      true,
			CacheLease:      cmp.Or(e.cfg.CacheLease, cacheLease),
		})
		if err != nil {
			w.closeClients()
			return fmt.Errorf("cache: client: %w", err)
		}
		w.clients = append(w.clients, c)
	}
	return nil
}

func (w *cacheWorkload) closeClients() {
	for _, c := range w.clients {
		c.Close()
	}
	w.clients = nil
}

// Final closes the caching clients.
func (w *cacheWorkload) Final(context.Context, *env) error {
	w.closeClients()
	return nil
}

func (w *cacheWorkload) Check(e *env, ops []Op) []CheckResult {
	w.mu.Lock()
	lat := append([]time.Duration(nil), w.lat...)
	w.mu.Unlock()
	return []CheckResult{checkCache(ops, e.cfg.cacheBound(), lat)}
}

// pick returns a pool session: live only when live is set.
func (w *cacheWorkload) pick(live bool) (int, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for range 8 {
		if len(w.pool) == 0 {
			break
		}
		i := rand.IntN(len(w.pool))
		if !live || !w.pool[i].destroyed {
			return i, w.pool[i].id
		}
	}
	return -1, ""
}

func (w *cacheWorkload) add(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pool = append(w.pool, cacheSess{id: id})
	if len(w.pool) > 64 {
		w.pool = w.pool[len(w.pool)-64:]
	}
}

func (w *cacheWorkload) markDestroyed(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := range w.pool {
		if w.pool[i].id == id {
			w.pool[i].destroyed = true
		}
	}
}

func (w *cacheWorkload) Worker(ctx context.Context, e *env, p int) {
	cl := w.clients[p%len(w.clients)]
	for n := 0; pace(ctx, time.Millisecond, 4*time.Millisecond); n++ {
		r := rand.IntN(100)
		_, live := w.pick(true)
		switch {
		case r < 8 || live == "":
			w.create(ctx, e, p, n)
		case r < 12:
			w.destroy(ctx, e, cl, p, live)
		default:
			if _, id := w.pick(false); id != "" {
				w.read(ctx, e, cl, p, id)
			}
		}
	}
}

func (w *cacheWorkload) create(ctx context.Context, e *env, p, n int) {
	op := Op{Process: p, Workload: "cache", F: "create", Value: fmt.Sprintf("p%d-%d", p, n), Node: "client"}
	octx, cancel := opCtx(ctx, 3*time.Second)
	defer cancel()
	op.Call = e.h.Now()
	s, err := e.cl.Create(octx, client.WithField("i", []byte(op.Value)))
	op.Return, op.Outcome = e.h.Now(), writeOutcome(err)
	setErr(&op, err)
	if err == nil {
		op.Key = s.ID
		w.add(s.ID)
	}
	e.h.add(op)
}

// read is a Get through the worker's cache.
func (w *cacheWorkload) read(ctx context.Context, e *env, cl *client.Client, p int, id string) Op {
	op := Op{Process: p, Workload: "cache", F: "cached-read", Key: id, Node: "client"}
	octx, cancel := opCtx(ctx, 2*time.Second)
	defer cancel()
	op.Call = e.h.Now()
	_, err := cl.Get(octx, id)
	op.Return, op.Outcome = e.h.Now(), OK
	op.Found = err == nil
	if err != nil && !errors.Is(err, client.ErrNotFound) {
		op.Outcome = Fail
		setErr(&op, err)
	}
	e.h.add(op)
	return op
}

// destroy destroys id with the uncached client, then polls the worker's
// cache until the session is gone (at most 5s).
func (w *cacheWorkload) destroy(ctx context.Context, e *env, cl *client.Client, p int, id string) {
	// Make sure this worker's cache may hold it first.
	w.read(ctx, e, cl, p, id)
	op := Op{Process: p, Workload: "cache", F: "destroy", Key: id, Node: "client"}
	octx, cancel := opCtx(ctx, 3*time.Second)
	op.Call = e.h.Now()
	_, err := e.cl.Destroy(octx, id)
	cancel()
	op.Return, op.Outcome = e.h.Now(), writeOutcome(err)
	setErr(&op, err)
	e.h.add(op)
	if err != nil {
		return
	}
	w.markDestroyed(id)
	until := op.Return + int64(5*time.Second)
	for e.h.Now() < until {
		// A read that does not return the session was not served by the
		// cache (a fill after the acknowledgement cannot find it): the
		// cache let go by the time it started.
		r := w.read(ctx, e, cl, p, id)
		if !r.Found {
			w.mu.Lock()
			w.lat = append(w.lat, time.Duration(max(0, r.Call-op.Return)))
			w.mu.Unlock()
			return
		}
		if !pace(ctx, 500*time.Microsecond, time.Millisecond) {
			return
		}
	}
}
