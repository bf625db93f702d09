package node

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/transport/resp"
	"github.com/sessionraft/sessionraft/transport/wire"
)

// The benchmarks below drive an in-process three-node cluster (real raft,
// real bbolt files with fsync, real loopback TCP) through the RESP port,
// with 64 concurrent connections spread over the nodes: the write and read
// paths end to end, minus process boundaries. ns/op is the inverse of
// throughput; the load tool (sessionraft bench) measures latency.

const benchConns = 64

func benchCluster(b *testing.B) *testCluster {
	b.Helper()
	if testing.Short() {
		b.Skip("starts a cluster")
	}
	return startCluster(b, 3, func(c *Config) {
		// Keep the cluster quiet: the benchmark measures the request path.
		c.SweepInterval = time.Second
	})
}

// benchDial opens n connections, round-robin over the nodes.
func benchDial(b *testing.B, c *testCluster, n int) []*resp.Client {
	b.Helper()
	cls := make([]*resp.Client, n)
	for i := range cls {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		cl, err := resp.Dial(ctx, c.cfgs[i%len(c.cfgs)].ClientAddr)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cl.Close() })
		cls[i] = cl
	}
	return cls
}

// runConns runs b.N requests over conns concurrent connections.
func runConns(b *testing.B, cls []*resp.Client, op func(cl *resp.Client, i int) error) {
	b.Helper()
	var next atomic.Int64
	var failed atomic.Value
	b.ResetTimer()
	done := make(chan struct{}, len(cls))
	for _, cl := range cls {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				if err := op(cl, int(i)); err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	for range cls {
		<-done
	}
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
}

func benchDo(cl *resp.Client, args ...string) (resp.Value, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := cl.Do(ctx, args...)
	if err != nil {
		return v, fmt.Errorf("%.40v: %w", args, err)
	}
	return v, nil
}

var benchValue = string(make([]byte, 256))

// BenchmarkCreate measures SESSION.CREATE (256-byte field, TTL) with 64
// connections: group commit, raft replication with fsync, apply, reply.
func BenchmarkCreate(b *testing.B) {
	c := benchCluster(b)
	cls := benchDial(b, c, benchConns)
	runConns(b, cls, func(cl *resp.Client, _ int) error {
		_, err := benchDo(cl, "SESSION.CREATE", "TTL", "1h", "FIELDS", "v", benchValue)
		return err
	})
}

// BenchmarkGet measures SESSION.GET at each consistency level over 1024
// sessions, 64 connections spread over the nodes (so two thirds of the
// linearizable and leader reads take a forwarding hop, as they do for a
// client that does not route by the ring).
func BenchmarkGet(b *testing.B) {
	c := benchCluster(b)
	cls := benchDial(b, c, benchConns)
	ids := make([]string, 1024)
	for i := range ids {
		v, err := benchDo(cls[i%len(cls)], "SESSION.CREATE", "TTL", "1h", "FIELDS", "v", benchValue)
		if err != nil || v.Err() != nil {
			b.Fatalf("create: %v %v", err, v.Err())
		}
		ids[i] = v.Elems[1].Str
	}
	for _, level := range []string{wire.Linearizable, wire.Leader, wire.Stale} {
		b.Run(level, func(b *testing.B) {
			runConns(b, cls, func(cl *resp.Client, i int) error {
				v, err := benchDo(cl, "SESSION.GET", ids[i%len(ids)], "CONSISTENCY", level, "NOTOUCH")
				if err == nil && v.Err() != nil {
					err = v.Err()
				}
				return err
			})
		})
	}
}
