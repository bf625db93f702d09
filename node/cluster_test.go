package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/transport/resp"
)

// testCluster is a cluster of in-process nodes on loopback with real bbolt
// files, real raft and real TCP.
type testCluster struct {
	t     testing.TB
	mu    sync.Mutex
	nodes []*Node
	cfgs  []Config
}

func testConfig(t testing.TB, id string, dir string) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.ID = id
	cfg.DataDir = dir
	cfg.ClientAddr = "127.0.0.1:0"
	cfg.RaftAddr = "127.0.0.1:0"
	cfg.GossipAddr = "127.0.0.1:" + strconv.Itoa(freePort(t))
	cfg.HeartbeatTimeout = 300 * time.Millisecond
	cfg.ElectionTimeout = 300 * time.Millisecond
	cfg.LeaderLeaseTimeout = 200 * time.Millisecond
	cfg.BalanceInterval = 300 * time.Millisecond
	cfg.SweepInterval = 50 * time.Millisecond
	cfg.TouchInterval = 100 * time.Millisecond
	cfg.RequestTimeout = 3 * time.Second
	cfg.TestMode = true
	level := slog.LevelError
	if os.Getenv("SESSIONRAFT_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	var w io.Writer = io.Discard
	if level == slog.LevelDebug {
		w = os.Stderr
	}
	cfg.Logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
	return cfg
}

// freePort finds a free TCP+UDP port on loopback for memberlist, which
// needs one number for both.
func freePort(t testing.TB) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

func startCluster(t testing.TB, size int, tweak func(*Config)) *testCluster {
	t.Helper()
	c := &testCluster{t: t}
	var join []string
	for i := 0; i < size; i++ {
		cfg := testConfig(t, fmt.Sprintf("n%d", i+1), t.TempDir())
		cfg.BootstrapExpect = size
		if tweak != nil {
			tweak(&cfg)
		}
		join = append(join, cfg.GossipAddr)
		c.cfgs = append(c.cfgs, cfg)
	}
	for i := range c.cfgs {
		c.cfgs[i].Join = join
	}
	c.nodes = make([]*Node, size)
	for i := range c.cfgs {
		c.start(i)
	}
	t.Cleanup(c.stopAll)
	c.waitLeaders()
	return c
}

func (c *testCluster) start(i int) {
	c.t.Helper()
	n, err := Start(context.Background(), c.cfgs[i])
	if err != nil {
		c.t.Fatalf("start %s: %v", c.cfgs[i].ID, err)
	}
	// Keep the ports across restarts so peers find the node again.
	c.cfgs[i].ClientAddr = n.clientAddr
	c.cfgs[i].RaftAddr = n.self.Raft
	c.mu.Lock()
	c.nodes[i] = n
	c.mu.Unlock()
}

func (c *testCluster) stop(i int) {
	c.t.Helper()
	c.mu.Lock()
	n := c.nodes[i]
	c.nodes[i] = nil
	c.mu.Unlock()
	if n != nil {
		if err := n.Close(); err != nil {
			c.t.Logf("close %s: %v", n.cfg.ID, err)
		}
	}
}

func (c *testCluster) stopAll() {
	for i := range c.nodes {
		c.stop(i)
	}
}

func (c *testCluster) node(i int) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s: %v", d, what, err)
}

// waitLeaders waits until every running node sees a ready leader in every
// group.
func (c *testCluster) waitLeaders() {
	c.t.Helper()
	waitFor(c.t, 30*time.Second, "leaders in every group", func() error {
		for _, n := range c.nodes {
			if n == nil {
				continue
			}
			for _, g := range n.groups {
				addr, _ := g.leaderAddr()
				if addr == "" {
					return fmt.Errorf("%s group %d has no leader", n.cfg.ID, g.id)
				}
			}
		}
		for gid := range c.cfgs[0].groupCount() {
			ready := false
			for _, n := range c.nodes {
				if n != nil && n.groups[gid].isReady() {
					ready = true
				}
			}
			if !ready {
				return fmt.Errorf("group %d leader not ready", gid)
			}
		}
		return nil
	})
}

// client dials node i's client port.
func (c *testCluster) client(i int) *resp.Client {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl, err := resp.Dial(ctx, c.cfgs[i].ClientAddr)
	if err != nil {
		c.t.Fatalf("dial %s: %v", c.cfgs[i].ID, err)
	}
	c.t.Cleanup(func() { cl.Close() })
	return cl
}

// do runs one command with a timeout and returns the reply.
func do(t testing.TB, cl *resp.Client, args ...string) resp.Value {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := cl.Do(ctx, args...)
	var se *resp.ServerError
	if err != nil && !errors.As(err, &se) {
		t.Fatalf("%.80v: %v", args, err)
	}
	return v
}

// mustOK runs a command and fails on an error reply.
func mustOK(t testing.TB, cl *resp.Client, args ...string) resp.Value {
	t.Helper()
	v := do(t, cl, args...)
	if err := v.Err(); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return v
}

// errCode returns the error code of a reply, or "" if it is not an error.
func errCode(v resp.Value) string {
	if err, ok := v.Err().(*resp.ServerError); ok {
		return err.Code
	}
	return ""
}

// asMap turns a RESP2 flat array or RESP3 map into a map.
func asMap(t *testing.T, v resp.Value) map[string]resp.Value {
	t.Helper()
	if v.Kind != resp.Map && v.Kind != resp.Array || len(v.Elems)%2 != 0 {
		t.Fatalf("not a map: %+v", v)
	}
	m := map[string]resp.Value{}
	for i := 0; i < len(v.Elems); i += 2 {
		m[v.Elems[i].Str] = v.Elems[i+1]
	}
	return m
}
