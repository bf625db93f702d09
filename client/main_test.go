//go:build unix

package client

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// shared is the cluster most tests use, started once by TestMain. Tests
// that kill nodes start their own.
var shared *testCluster

// sharedFlags are the shared cluster's server flags: a small value limit,
// so the TOOLARGE test needs no megabytes.
var sharedFlags = []string{"--max-value-bytes", "4096"}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "sessionraft-client-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// $SESSIONRAFT_TEST_BIN runs the tests against a prebuilt server
	// (another version, or while the tree's server does not build).
	if serverBin = os.Getenv("SESSIONRAFT_TEST_BIN"); serverBin == "" {
		if serverBin, err = buildServer(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	if shared, err = startCluster(filepath.Join(dir, "shared"), 3, sharedFlags...); err != nil {
		fmt.Fprintln(os.Stderr, "start the test cluster:", err)
		return 1
	}
	// The examples read their seeds from the environment, as a program
	// would.
	os.Setenv("SESSIONRAFT_SEEDS", strings.Join(shared.seeds(), ","))
	code := m.Run()
	if err := shared.stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop the test cluster:", err)
		code = 1
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	return code
}
