package jepsen

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"time"

	"github.com/sessionraft/sessionraft/internal/testcluster"
	"github.com/sessionraft/sessionraft/internal/testcluster/netns"
	"github.com/sessionraft/sessionraft/transport/resp"
)

// ClusterConfig describes the cluster under test.
type ClusterConfig struct {
	Binary string // sessionraft binary ("": testcluster.Binary())
	Dir    string // data directories and logs (Dir/n1, Dir/n1.log, ...)
	Nodes  int    // 3 or 5
	// Timing. Zero values take the defaults below.
	ElectionTimeout time.Duration // heartbeat and election timeout (500ms)
	MaxStaleness    time.Duration // server --max-staleness (1s)
	RequestTimeout  time.Duration // server --request-timeout (2s)
	ExtraArgs       []string      // more server flags (later flags win)
	// NodeArgs are more flags for single nodes, by id (n1, ...), after
	// ExtraArgs: per-node certificates (testcluster.SecureInternalPort).
	NodeArgs map[string][]string
	// Lab, if set, puts each node in its own network namespace of the lab
	// (-net netns): the caller runs on the lab's client host.
	Lab *netns.Lab
	// Client is how the harness reaches the client ports when ExtraArgs
	// turn on TLS or authentication there (--client-tls-*, --requirepass,
	// --aclfile): readiness probes, DEBUG commands, direct reads.
	Client testcluster.ClientOptions
}

func (c *ClusterConfig) defaults() {
	if c.Nodes == 0 {
		c.Nodes = 3
	}
	if c.ElectionTimeout == 0 {
		c.ElectionTimeout = 500 * time.Millisecond
	}
	if c.MaxStaleness == 0 {
		c.MaxStaleness = time.Second
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 2 * time.Second
	}
}

// flags are the server flags of every node: short timeouts, so that
// faults cause elections within a fault period, and busy background work.
func (c *ClusterConfig) flags() []string {
	et := c.ElectionTimeout.String()
	return append([]string{
		"--heartbeat-timeout", et,
		"--election-timeout", et,
		"--leader-lease-timeout", (c.ElectionTimeout / 2).String(),
		"--max-staleness", c.MaxStaleness.String(),
		"--request-timeout", c.RequestTimeout.String(),
		"--sweep-interval", "50ms",
		"--touch-interval", "100ms",
		"--balance-interval", "2s",
	}, c.ExtraArgs...)
}

// Node is one server process of the cluster.
type Node = testcluster.Node

// Cluster is the cluster under test: server processes in test mode,
// started, killed, restarted, paused and resumed by testcluster, with one
// RESP connection per node for the DEBUG commands the nemeses send.
type Cluster struct {
	Cfg   ClusterConfig
	Nodes []*Node

	tc  *testcluster.Cluster
	lab *netns.Lab // nil on loopback

	mu    sync.Mutex
	admin map[*Node]*resp.Client
	exits []string // servers that exited without the harness stopping them
	// diskFailed: nodes the disk nemesis made stop (nemesis_disk.go); their
	// exit is the expected outcome, not a crash.
	diskFailed map[*Node]bool
}

// StartCluster starts every node, with fsync on, and waits (bounded)
// until each group has a leader.
func StartCluster(ctx context.Context, cfg ClusterConfig) (*Cluster, error) {
	cfg.defaults()
	c := &Cluster{Cfg: cfg, admin: map[*Node]*resp.Client{}, lab: cfg.Lab}
	opts := testcluster.Options{
		Nodes:        cfg.Nodes,
		Dir:          cfg.Dir,
		Binary:       cfg.Binary,
		Flags:        cfg.flags(),
		NodeFlags:    cfg.NodeArgs,
		Sync:         true,
		TestMode:     true,
		LogLevel:     "info",
		ReadyTimeout: 60 * time.Second,
		Client:       cfg.Client,
		OnExit: func(n *Node, err error) {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.diskFailed[n] {
				delete(c.diskFailed, n)
				// Expected, but only as a clean stop: exit status 1 (a
				// Go panic exits with 2).
				var ee *exec.ExitError
				if errors.As(err, &ee) && ee.ExitCode() == 1 {
					return
				}
				c.exits = append(c.exits, fmt.Sprintf("%s (pid %d) stopped by its disk fault, but not cleanly: %v", n.ID, n.Pid(), err))
				return
			}
			c.exits = append(c.exits, fmt.Sprintf("%s (pid %d): %v", n.ID, n.Pid(), err))
		},
	}
	if cfg.Lab != nil {
		opts.Hosts = cfg.Lab
	}
	tc, err := testcluster.Start(opts)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, errors.Join(err, tc.Stop())
	}
	c.tc, c.Nodes = tc, tc.Nodes
	return c, nil
}

// Restart starts n's process again, with its flags and data directory,
// appending to its log.
func (c *Cluster) Restart(n *Node) error { return c.tc.Restart(n) }

// Kill sends SIGKILL to n and waits (bounded) until it is reaped.
func (c *Cluster) Kill(n *Node) error {
	c.dropAdmin(n)
	return c.tc.Kill(n)
}

// Pause sends SIGSTOP; Resume sends SIGCONT.
func (c *Cluster) Pause(n *Node) error  { return c.tc.Pause(n) }
func (c *Cluster) Resume(n *Node) error { return c.tc.Resume(n) }

// DumpStacks sends SIGQUIT: the Go runtime writes every goroutine's stack
// to the node's log and exits. For diagnosing a node that stopped
// answering; the node is gone afterwards.
func (c *Cluster) DumpStacks(n *Node) error {
	c.dropAdmin(n)
	return c.tc.DumpStacks(n)
}

// Close stops every node and checks that none is left running.
func (c *Cluster) Close() error {
	for _, n := range c.Nodes {
		c.dropAdmin(n)
	}
	return c.tc.Stop()
}

// Exits lists the servers that exited without the harness stopping them:
// crashes, which restarts would otherwise hide.
func (c *Cluster) Exits() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.exits...)
}

func (c *Cluster) dropAdmin(n *Node) {
	c.mu.Lock()
	cl := c.admin[n]
	delete(c.admin, n)
	c.mu.Unlock()
	if cl != nil {
		cl.Close()
	}
}

// Admin runs one command on n over its own RESP connection, within timeout.
func (c *Cluster) Admin(ctx context.Context, n *Node, timeout time.Duration, args ...string) (resp.Value, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c.mu.Lock()
	cl := c.admin[n]
	c.mu.Unlock()
	if cl == nil {
		var err error
		if cl, err = c.Cfg.Client.Dial(ctx, n.Client); err != nil {
			return resp.Value{}, err
		}
		c.mu.Lock()
		if old := c.admin[n]; old != nil {
			cl.Close()
			cl = old
		} else {
			c.admin[n] = cl
		}
		c.mu.Unlock()
	}
	v, err := cl.Do(ctx, args...)
	var se *resp.ServerError
	if err != nil && !errors.As(err, &se) {
		// The connection is unusable now; dial again next time.
		c.mu.Lock()
		if c.admin[n] == cl {
			delete(c.admin, n)
		}
		c.mu.Unlock()
		cl.Close()
	}
	return v, err
}

// Topology returns n's view of every group.
func (c *Cluster) Topology(ctx context.Context, n *Node) ([]testcluster.Group, error) {
	v, err := c.Admin(ctx, n, time.Second, "TOPOLOGY")
	if err != nil {
		return nil, err
	}
	return testcluster.ParseTopology(v)
}

// Leader returns the node that leads group gid, or nil.
func (c *Cluster) Leader(ctx context.Context, gid int) *Node {
	for _, n := range c.Nodes {
		if !n.Running() || n.Paused() {
			continue
		}
		gs, err := c.Topology(ctx, n)
		if err != nil || gid >= len(gs) {
			continue
		}
		if gs[gid].Role == "leader" {
			return n
		}
	}
	return nil
}

// WaitHealthy waits until every running, unpaused node sees a leader for
// every group, and each group's leader says it leads.
func (c *Cluster) WaitHealthy(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	if err := c.tc.WaitReadyContext(ctx); err != nil {
		return fmt.Errorf("cluster not healthy after %v: %w", limit, err)
	}
	return nil
}

// ClientAddrs lists every node's client address.
func (c *Cluster) ClientAddrs() []string { return c.tc.Addrs() }

// NodeByID returns the node with the given id, or nil.
func (c *Cluster) NodeByID(id string) *Node { return c.tc.ByID(id) }
