package scsstore_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/sessionraft/sessionraft/client"
	"github.com/sessionraft/sessionraft/internal/testcluster"
)

var (
	cluster *testcluster.Cluster
	cl      *client.Client // a client of cluster, shared by the tests
)

// TestMain starts a three-process cluster (see internal/testcluster), once
// 20 writes in a row succeed on it, and a client of it for the tests; with
// -short, needCluster skips every test.
func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	os.Exit(testcluster.Run(m, testcluster.Options{Writes: 20}, func(ctx context.Context, tc *testcluster.Cluster) (func(), error) {
		c, err := client.New(ctx, client.Config{Seeds: tc.Addrs()})
		if err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
		cluster, cl = tc, c
		return func() { _ = c.Close() }, nil
	}))
}

func needCluster(t *testing.T) { testcluster.Need(t, cluster) }
