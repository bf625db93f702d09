//go:build unix

package client

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessionraft/sessionraft/internal/testcluster"
)

// newClient connects to the shared cluster (or seeds, if given) and closes
// the client when the test ends.
func newClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	if len(cfg.Seeds) == 0 {
		cfg.Seeds = shared.Addrs()
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

// startOwnCluster starts a cluster for one test in its temporary
// directory, stops it when the test ends, and shows the nodes' last log
// lines if the test failed.
func startOwnCluster(t testing.TB, opts testcluster.Options) *testcluster.Cluster {
	t.Helper()
	opts.Dir = t.TempDir()
	tc, err := testcluster.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(tc.Tail(50))
		}
		if err := tc.Stop(); err != nil {
			t.Error(err)
		}
	})
	return tc
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

// rawTopology asks one node for TOPOLOGY over a fresh connection, without
// the Client, so the tests can check the Client against the server.
func rawTopology(addr string) (*report, error) {
	var r *report
	err := rawDo(addr, func(ctx context.Context, c rueidis.Client) error {
		m, err := c.Do(ctx, c.B().Arbitrary("TOPOLOGY").Build()).ToMessage()
		if err != nil {
			return err
		}
		r, err = parseTopology(addr, &m)
		return err
	})
	return r, err
}

// rawDo runs fn with a fresh rueidis client for addr and closes it.
func rawDo(addr string, fn func(ctx context.Context, c rueidis.Client) error) error {
	c, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress: []string{addr}, ForceSingleClient: true, DisableCache: true, DisableRetry: true,
		Dialer: net.Dialer{Timeout: time.Second},
	})
	if err != nil {
		if c != nil {
			c.Close()
		}
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return fn(ctx, c)
}

// rawCmd sends args to addr over a fresh connection and returns the reply's
// error, if any (rawDo).
func rawCmd(addr string, args ...string) error {
	return rawDo(addr, func(ctx context.Context, c rueidis.Client) error {
		return c.Do(ctx, c.B().Arbitrary(args[0]).Args(args[1:]...).Build()).Error()
	})
}
