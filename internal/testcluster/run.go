package testcluster

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// Run is the body of a TestMain for a package whose tests share one
// cluster:
//
//	func TestMain(m *testing.M) {
//		flag.Parse()
//		if testing.Short() {
//			os.Exit(m.Run()) // the cluster tests skip themselves
//		}
//		os.Exit(testcluster.Run(m, testcluster.Options{}, func(_ context.Context, c *testcluster.Cluster) (func(), error) {
//			shared = c
//			return nil, nil
//		}))
//	}
//
//	func needCluster(t *testing.T) { testcluster.Need(t, shared) }
//
// It starts the cluster, calls setup with it and a context that ends 30
// seconds later, for connecting clients (setup may return a teardown, run
// after the tests, and fails the run with an error), runs the tests,
// prints the tail of the servers' logs if they failed, stops the cluster
// (a process left over fails the run) and removes the binary it built.
// It returns the exit code.
func Run(m *testing.M, opts Options, setup func(context.Context, *Cluster) (teardown func(), err error)) int {
	defer Cleanup()
	c, err := Start(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start test cluster:", err)
		return 1
	}
	var teardown func()
	if setup != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		teardown, err = setup(ctx, c)
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, "set up test cluster:", err)
			if err := c.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, "stop test cluster:", err)
			}
			return 1
		}
	}
	code := m.Run()
	if teardown != nil {
		teardown()
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "server logs (last 100 lines each):\n%s", c.Tail(100))
	}
	if err := c.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop test cluster:", err)
		code = 1
	}
	return code
}

// Need skips t if c is nil: the package's TestMain started no cluster
// (with -short).
func Need(t testing.TB, c *Cluster) {
	t.Helper()
	if c == nil {
		t.Skip("needs a three-process cluster; skipped with -short")
	}
}
