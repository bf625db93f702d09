//go:build unix

package client

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/sessionraft/sessionraft/internal/testcluster"
)

// The tests run real clusters: sessionraft server processes on loopback
// (see internal/testcluster; $SESSIONRAFT_TEST_BIN runs them against a
// prebuilt server, another version or while the tree's server does not
// build).

// shared is the cluster most tests use, started once by TestMain. Tests
// that kill nodes start their own.
var shared *testcluster.Cluster

// sharedFlags are the shared cluster's server flags: a small value limit,
// so the TOOLARGE test needs no megabytes.
var sharedFlags = []string{"--max-value-bytes", "4096"}

func TestMain(m *testing.M) {
	flag.Parse()
	code := testcluster.Run(m, testcluster.Options{Flags: sharedFlags}, func(_ context.Context, c *testcluster.Cluster) (func(), error) {
		shared = c
		// The examples read their seeds from the environment, as a
		// program would.
		return nil, os.Setenv("SESSIONRAFT_SEEDS", strings.Join(c.Addrs(), ","))
	})
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
