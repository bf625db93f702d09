package scsstore_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/client"
)

var (
	cluster *testCluster
	cl      *client.Client // a client of cluster, shared by the tests
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run()) // needCluster skips every test
	}
	tc, err := startTestCluster()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start test cluster:", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	cl, err = client.New(ctx, client.Config{Seeds: tc.addrs})
	cancel()
	if err != nil {
		tc.stop()
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
	cluster = tc
	code := m.Run()
	_ = cl.Close()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "server output:\n%s", tc.output())
	}
	tc.stop()
	os.Exit(code)
}

func needCluster(t *testing.T) {
	t.Helper()
	if cluster == nil {
		t.Skip("needs a three-process cluster; skipped with -short")
	}
}
