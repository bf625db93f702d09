//go:build unix

package main

import (
	"context"
	"sync"
	"testing"

	"github.com/sessionraft/sessionraft/internal/testcluster"
	"github.com/sessionraft/sessionraft/transport/resp"
)

// faultCluster is a three-process test-mode cluster for the tests that
// make a node stop by itself (disk and stable-store failures): it records
// each node's exit instead of failing the test on it.
type faultCluster struct {
	*testcluster.Cluster
	mu     sync.Mutex
	exited map[string]error // node id -> how it exited
}

// startFaultCluster starts the cluster with the extra server flags and
// stops it at the test's end.
func startFaultCluster(t *testing.T, flags ...string) *faultCluster {
	t.Helper()
	fc := &faultCluster{exited: map[string]error{}}
	c, err := testcluster.Start(testcluster.Options{
		Dir: t.TempDir(), TestMode: true, Writes: 3, Flags: flags,
		OnExit: func(n *testcluster.Node, err error) {
			fc.mu.Lock()
			fc.exited[n.ID] = err
			fc.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	fc.Cluster = c
	return fc
}

// exit reports whether node id has exited, and how.
func (fc *faultCluster) exit(id string) (exited bool, err error) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	err, exited = fc.exited[id]
	return exited, err
}

// hasExited reports whether node id has exited (for testcluster.WaitFor).
func (fc *faultCluster) hasExited(id string) bool {
	exited, _ := fc.exit(id)
	return exited
}

// dialRESP connects to addr, closing the client at the test's end.
func dialRESP(ctx context.Context, t *testing.T, addr string) *resp.Client {
	t.Helper()
	cl, err := resp.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}
