package node

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
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

// cpuTime is the CPU time (user + system) this process has used.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds cpu-ns/op: CPU time of the whole process (servers and
// clients) per request since start. On a shared machine it moves much less
// than ns/op, which waits for the CPU others use.
func reportCPU(b *testing.B, start time.Duration) {
	b.Helper()
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
}

// runConns runs b.N requests over conns concurrent connections.
func runConns(b *testing.B, cls []*resp.Client, op func(cl *resp.Client, i int) error) {
	b.Helper()
	var next atomic.Int64
	var failed atomic.Value
	b.ResetTimer()
	defer reportCPU(b, cpuTime(b))
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

// benchSessions creates n sessions (256-byte field, TTL) and returns their
// ids.
func benchSessions(b *testing.B, cls []*resp.Client, n int) []string {
	b.Helper()
	ids := make([]string, n)
	for i := range ids {
		v, err := benchDo(cls[i%len(cls)], "SESSION.CREATE", "TTL", "1h", "FIELDS", "v", benchValue)
		if err != nil || v.Err() != nil {
			b.Fatalf("create: %v %v", err, v.Err())
		}
		ids[i] = v.Elems[1].Str
	}
	return ids
}

// byLeader splits ids by the node that leads their group now (the
// balancer may move leaders later; such reads are forwarded).
func byLeader(b *testing.B, c *testCluster, ids []string) [][]string {
	b.Helper()
	out := make([][]string, len(c.nodes))
	for _, id := range ids {
		gid := c.node(0).ring.Group(id)
		for i := range c.nodes {
			if c.node(i).groups[gid].isReady() {
				out[i] = append(out[i], id)
			}
		}
	}
	for i, l := range out {
		if len(l) == 0 {
			b.Fatalf("node %d leads no group", i)
		}
	}
	return out
}

var benchLevels = []string{wire.Linearizable, wire.Leader, wire.Stale}

// BenchmarkGet measures SESSION.GET at each consistency level over 1024
// sessions, 64 connections spread over the nodes (so two thirds of the
// linearizable and leader reads take a forwarding hop, as they do for a
// client that does not route by the ring).
func BenchmarkGet(b *testing.B) {
	c := benchCluster(b)
	cls := benchDial(b, c, benchConns)
	ids := benchSessions(b, cls, 1024)
	for _, level := range benchLevels {
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

// BenchmarkGetRouted is BenchmarkGet with every request sent to the node
// that leads its session's group, as the Go client routes them: the read
// path without the forwarding hop.
func BenchmarkGetRouted(b *testing.B) {
	c := benchCluster(b)
	cls := benchDial(b, c, benchConns)
	own := byLeader(b, c, benchSessions(b, cls, 1024))
	for _, level := range benchLevels {
		b.Run(level, func(b *testing.B) {
			runConns(b, cls, func(cl *resp.Client, i int) error {
				ids := own[connNode(cls, cl)%len(own)]
				v, err := benchDo(cl, "SESSION.GET", ids[i%len(ids)], "CONSISTENCY", level, "NOTOUCH")
				if err == nil && v.Err() != nil {
					err = v.Err()
				}
				return err
			})
		})
	}
}

// connNode is the index of the node cl was dialled to (benchDial goes
// round-robin).
func connNode(cls []*resp.Client, cl *resp.Client) int {
	for i, x := range cls {
		if x == cl {
			return i
		}
	}
	return 0
}

// BenchmarkGetPipelined sends routed SESSION.GETs in pipelines of 64 over
// 6 connections (2 per node, 384 requests in flight): what the per-request
// cost of the server is when many requests share each read and write.
func BenchmarkGetPipelined(b *testing.B) {
	const conns, depth = 6, 64
	c := benchCluster(b)
	own := byLeader(b, c, benchSessions(b, benchDial(b, c, 8), 1024))
	for _, level := range benchLevels {
		b.Run(level, func(b *testing.B) {
			type pconn struct {
				nc  net.Conn
				br  *bufio.Reader
				req []byte // one pipeline of depth requests
			}
			pcs := make([]*pconn, conns)
			for i := range pcs {
				node := i % len(c.nodes)
				nc, err := net.DialTimeout("tcp", c.cfgs[node].ClientAddr, 5*time.Second)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { nc.Close() })
				pc := &pconn{nc: nc, br: bufio.NewReader(nc)}
				for j := range depth {
					ids := own[node]
					id := ids[(i*depth+j)%len(ids)]
					pc.req = appendCmd(pc.req, "SESSION.GET", id, "CONSISTENCY", level, "NOTOUCH")
				}
				pcs[i] = pc
			}
			var next atomic.Int64
			var failed atomic.Value
			b.ResetTimer()
			defer reportCPU(b, cpuTime(b))
			done := make(chan struct{}, conns)
			for _, pc := range pcs {
				go func() {
					defer func() { done <- struct{}{} }()
					for next.Add(depth)-depth < int64(b.N) {
						_ = pc.nc.SetDeadline(time.Now().Add(10 * time.Second))
						if _, err := pc.nc.Write(pc.req); err != nil {
							failed.CompareAndSwap(nil, err)
							return
						}
						for range depth {
							v, err := resp.ReadValue(pc.br, resp.Limits{})
							if err == nil {
								err = v.Err()
							}
							if err != nil {
								failed.CompareAndSwap(nil, err)
								return
							}
						}
					}
				}()
			}
			for range pcs {
				<-done
			}
			b.StopTimer()
			if err, _ := failed.Load().(error); err != nil {
				b.Fatal(err)
			}
		})
	}
}
