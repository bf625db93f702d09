package compat

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sessionraft/sessionraft/internal/testcluster"
)

// shared is the three-node cluster every test of the package uses; nil
// with -short.
var shared *testcluster.Cluster

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run()) // the cluster tests skip themselves
	}
	bin, cleanup, err := serverBinary()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := testcluster.Run(m, testcluster.Options{Binary: bin, Writes: 3},
		func(_ context.Context, c *testcluster.Cluster) (func(), error) {
			shared = c
			return nil, nil
		})
	cleanup()
	if code == 0 {
		// Every client the tests opened (go-redis, redigo pools, the
		// Go client, HTTP servers) must be closed by now.
		// scs.New starts a memstore whose cleanup goroutine nothing
		// stops (its StopCleanup races with the goroutine's start).
		if err := goleak.Find(goleak.IgnoreTopFunction("github.com/alexedwards/scs/v2/memstore.(*MemStore).startCleanup")); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines left over:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// serverBinary builds the server from the parent module, in its directory,
// so that it is built with that module's go.mod and not with this one's
// (whose store libraries could raise shared dependencies' versions).
// $SESSIONRAFT_TEST_BIN, if set, is used instead.
func serverBinary() (bin string, cleanup func(), err error) {
	if p := os.Getenv(testcluster.BinEnv); p != "" {
		return p, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "sessionraft-compat-bin-")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { _ = os.RemoveAll(dir) }
	bin = filepath.Join(dir, "sessionraft")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/sessionraft")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("build the server: %v\n%s", err, out)
	}
	return bin, cleanup, nil
}

func needCluster(t *testing.T) {
	t.Helper()
	testcluster.Need(t, shared)
}
