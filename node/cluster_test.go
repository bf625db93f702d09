package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/internal/testcluster"
	"github.com/sessionraft/sessionraft/transport/resp"
)

// testCluster is a cluster of in-process nodes on loopback with real bbolt
// files, real raft and real TCP. internal/testcluster starts it
// (Options.InProcess), as it starts the process clusters of the other
// tests: it picks the ports, lays out the data directories, restarts a
// node with the same ones and waits until every group has a leader.
type testCluster struct {
	t     testing.TB
	tc    *testcluster.Cluster
	mu    sync.Mutex
	nodes []*Node  // each node's running incarnation; nil while stopped
	cfgs  []Config // each node's configuration
}

// nodeConfig is the configuration of a test node, without addresses:
// short timeouts, test mode, and logs only with $SESSIONRAFT_TEST_LOG.
func nodeConfig(id string, dir string) Config {
	cfg := DefaultConfig()
	cfg.ID = id
	cfg.DataDir = dir
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

// testConfig is nodeConfig for a node outside a testCluster: any free
// client and raft ports, and a gossip port free for TCP and UDP (memberlist
// needs one number for both).
func testConfig(t testing.TB, id string, dir string) Config {
	t.Helper()
	ports, err := testcluster.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := nodeConfig(id, dir)
	cfg.ClientAddr = "127.0.0.1:0"
	cfg.RaftAddr = "127.0.0.1:0"
	cfg.GossipAddr = fmt.Sprintf("127.0.0.1:%d", ports[0])
	return cfg
}

// startCluster starts size nodes, n1..n<size>, each configured by
// nodeConfig, the addresses testcluster picked and then tweak (called for
// every incarnation), and waits until every group has a ready leader.
func startCluster(t testing.TB, size int, tweak func(*Config)) *testCluster {
	t.Helper()
	return startClusterAs(t, size, tweak, testcluster.ClientOptions{})
}

// startClusterAs is startCluster for nodes whose client port needs TLS or
// credentials (client says which) for the readiness probes.
func startClusterAs(t testing.TB, size int, tweak func(*Config), client testcluster.ClientOptions) *testCluster {
	t.Helper()
	c := &testCluster{t: t, nodes: make([]*Node, size), cfgs: make([]Config, size)}
	tc, err := testcluster.Start(testcluster.Options{
		Nodes:        size,
		Dir:          t.TempDir(),
		ReadyTimeout: 30 * time.Second,
		Client:       client,
		InProcess: func(s testcluster.Spec) (io.Closer, error) {
			return c.startNode(s, tweak)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	c.tc = tc
	t.Cleanup(c.stopAll)
	c.waitLeaders()
	return c
}

// startNode starts one incarnation of the node s describes.
func (c *testCluster) startNode(s testcluster.Spec, tweak func(*Config)) (*Node, error) {
	i, err := strconv.Atoi(strings.TrimPrefix(s.ID, "n"))
	if err != nil || i < 1 || i > len(c.nodes) {
		return nil, fmt.Errorf("unexpected node id %q", s.ID)
	}
	cfg := nodeConfig(s.ID, s.DataDir)
	cfg.ClientAddr, cfg.RaftAddr, cfg.GossipAddr = s.Client, s.Raft, s.Gossip
	cfg.Join, cfg.BootstrapExpect = s.Join, s.BootstrapExpect
	if tweak != nil {
		tweak(&cfg)
	}
	n, err := Start(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.nodes[i-1], c.cfgs[i-1] = n, cfg
	c.mu.Unlock()
	return n, nil
}

// start starts node i again, with its addresses and data directory.
func (c *testCluster) start(i int) {
	c.t.Helper()
	if err := c.tc.Restart(c.tc.Nodes[i]); err != nil {
		c.t.Fatal(err)
	}
}

// stop closes node i.
func (c *testCluster) stop(i int) {
	c.t.Helper()
	c.mu.Lock()
	c.nodes[i] = nil
	c.mu.Unlock()
	if err := c.tc.Kill(c.tc.Nodes[i]); err != nil {
		c.t.Logf("%v", err)
	}
}

func (c *testCluster) stopAll() {
	c.mu.Lock()
	clear(c.nodes)
	c.mu.Unlock()
	if err := c.tc.Stop(); err != nil {
		c.t.Logf("stop: %v", err)
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
// readyLeader waits (20 s at most) for a node to be group gid's ready
// leader and returns its index.
func (c *testCluster) readyLeader(gid int) int {
	c.t.Helper()
	lead := -1
	waitFor(c.t, 20*time.Second, fmt.Sprintf("a ready leader of group %d", gid), func() error {
		for i := range c.nodes {
			if c.node(i).groups[gid].isReady() {
				lead = i
				return nil
			}
		}
		return fmt.Errorf("none yet")
	})
	return lead
}

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
