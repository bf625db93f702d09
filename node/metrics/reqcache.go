package metrics

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// reqKey names one request_duration_seconds series.
type reqKey struct{ command, consistency string }

// reqCache resolves a request's histogram series once per command and
// level. WithLabelValues hashes both labels and takes the vector's read
// lock on every call; at tens of thousands of requests a second on two
// cores that lock's cache line moves between them on every request. The
// label sets are bounded (command table x levels), so the cache is a
// copy-on-write map read without locks, like the raft sink's.
type reqCache struct {
	vec *prometheus.HistogramVec
	mu  sync.Mutex // serialises misses
	m   atomic.Pointer[map[reqKey]prometheus.Observer]
}

// observer returns the series of command and consistency.
func (c *reqCache) observer(command, consistency string) prometheus.Observer {
	k := reqKey{command, consistency}
	if m := c.m.Load(); m != nil {
		if o, ok := (*m)[k]; ok {
			return o
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	if old != nil {
		if o, ok := (*old)[k]; ok {
			return o
		}
	}
	o := c.vec.WithLabelValues(command, consistency)
	next := make(map[reqKey]prometheus.Observer, 1+lenMap(old))
	if old != nil {
		for kk, v := range *old {
			next[kk] = v
		}
	}
	next[k] = o
	c.m.Store(&next)
	return o
}

func lenMap(m *map[reqKey]prometheus.Observer) int {
	if m == nil {
		return 0
	}
	return len(*m)
}
