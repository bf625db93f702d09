//go:build unix

package client

import (
	"context"
	"sync"
	"testing"
	"time"
)

// newClient connects to the shared cluster (or seeds, if given) and closes
// the client when the test ends.
func newClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	if len(cfg.Seeds) == 0 {
		cfg.Seeds = shared.seeds()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// testCtx bounds a test's calls.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// servedLog records which node answered each operation, through the
// client's test hook.
type servedLog struct {
	mu sync.Mutex
	by map[string]map[string]int // op → addr → replies
}

func newServedLog() (*servedLog, *hooks) {
	l := &servedLog{by: map[string]map[string]int{}}
	return l, &hooks{served: func(op, addr string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.by[op] == nil {
			l.by[op] = map[string]int{}
		}
		l.by[op][addr]++
	}}
}

func (l *servedLog) counts(op string) map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for a, n := range l.by[op] {
		out[a] = n
	}
	return out
}

func (l *servedLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.by = map[string]map[string]int{}
}

func b(s string) []byte { return []byte(s) }
