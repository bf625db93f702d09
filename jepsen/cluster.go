package jepsen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sessionraft/sessionraft/transport/resp"
)

// BuildBinary builds the sessionraft server into dir and returns its path.
// race adds -race (slower, but catches data races in the server too).
func BuildBinary(ctx context.Context, dir string, race bool) (string, error) {
	bin := filepath.Join(dir, "sessionraft")
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	args = append(args, "github.com/sessionraft/sessionraft/cmd/sessionraft")
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

// ClusterConfig describes the cluster under test.
type ClusterConfig struct {
	Binary string // sessionraft binary
	Dir    string // data directories and logs
	Nodes  int    // 3 or 5
	// Timing. Zero values take the defaults below.
	ElectionTimeout time.Duration // heartbeat and election timeout (500ms)
	MaxStaleness    time.Duration // server --max-staleness (1s)
	RequestTimeout  time.Duration // server --request-timeout (2s)
	ExtraArgs       []string
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

// Node is one server process, restartable with the same flags and data.
type Node struct {
	ID, Client, Raft, Gossip string
	args                     []string
	logPath                  string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	paused bool
	admin  *resp.Client
}

// Cluster is a set of sessionraft server processes on loopback.
type Cluster struct {
	Cfg   ClusterConfig
	Nodes []*Node
}

// StartCluster starts every node and waits (bounded) until each group has
// a leader.
func StartCluster(ctx context.Context, cfg ClusterConfig) (*Cluster, error) {
	cfg.defaults()
	c := &Cluster{Cfg: cfg}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	ports, err := freePorts(3 * cfg.Nodes)
	if err != nil {
		return nil, err
	}
	var gossip []string
	for i := range cfg.Nodes {
		n := &Node{
			ID:     fmt.Sprint("n", i+1),
			Client: fmt.Sprintf("127.0.0.1:%d", ports[3*i]),
			Raft:   fmt.Sprintf("127.0.0.1:%d", ports[3*i+1]),
			Gossip: fmt.Sprintf("127.0.0.1:%d", ports[3*i+2]),
		}
		n.logPath = filepath.Join(cfg.Dir, n.ID+".log")
		gossip = append(gossip, n.Gossip)
		c.Nodes = append(c.Nodes, n)
	}
	et := cfg.ElectionTimeout.String()
	for _, n := range c.Nodes {
		n.args = append([]string{"server", "--test-mode",
			"--id", n.ID,
			"--data-dir", filepath.Join(cfg.Dir, n.ID),
			"--client-addr", n.Client,
			"--raft-addr", n.Raft,
			"--gossip-addr", n.Gossip,
			"--bootstrap-expect", strconv.Itoa(cfg.Nodes),
			"--join", strings.Join(gossip, ","),
			"--heartbeat-timeout", et,
			"--election-timeout", et,
			"--leader-lease-timeout", (cfg.ElectionTimeout / 2).String(),
			"--max-staleness", cfg.MaxStaleness.String(),
			"--request-timeout", cfg.RequestTimeout.String(),
			"--sweep-interval", "50ms",
			"--touch-interval", "100ms",
			"--balance-interval", "2s",
			"--log-level", "info",
		}, cfg.ExtraArgs...)
	}
	for _, n := range c.Nodes {
		if err := c.Start(n); err != nil {
			c.Close()
			return nil, err
		}
	}
	if err := c.WaitHealthy(ctx, 60*time.Second); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// freePorts reserves n distinct loopback ports free for TCP and UDP.
func freePorts(n int) ([]int, error) {
	seen := map[int]bool{}
	var out []int
	for tries := 0; len(out) < n && tries < 1000; tries++ {
		p := 20000 + rand.IntN(30000)
		if seen[p] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		seen[p] = true
		out = append(out, p)
	}
	if len(out) < n {
		return nil, errors.New("jepsen: no free ports")
	}
	return out, nil
}

// Start starts n's process (again), appending to its log.
func (c *Cluster) Start(n *Node) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		return nil
	}
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "=== jepsen: start %s at %s\n", n.ID, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(c.Cfg.Binary, n.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", n.ID, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	n.cmd, n.exited, n.paused = cmd, exited, false
	return nil
}

// Kill sends SIGKILL to n and waits (bounded) until it is reaped.
func (c *Cluster) Kill(n *Node) error { return c.stopWith(n, syscall.SIGKILL) }

// stopWith sends sig, which must end the process, and waits (bounded)
// until it is reaped. A node that is not running is left alone.
func (c *Cluster) stopWith(n *Node, sig syscall.Signal) error {
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.cmd = nil
	n.paused = false
	if n.admin != nil {
		n.admin.Close()
		n.admin = nil
	}
	n.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) not reaped 10s after %v", n.ID, cmd.Process.Pid, sig)
	}
}

// Pause sends SIGSTOP; Resume sends SIGCONT.
func (c *Cluster) Pause(n *Node) error  { return c.signal(n, syscall.SIGSTOP, true) }
func (c *Cluster) Resume(n *Node) error { return c.signal(n, syscall.SIGCONT, false) }

func (c *Cluster) signal(n *Node, sig syscall.Signal, paused bool) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return fmt.Errorf("%s is not running", n.ID)
	}
	n.paused = paused
	return n.cmd.Process.Signal(sig)
}

// DumpStacks sends SIGQUIT: the Go runtime writes every goroutine's stack
// to the node's log and exits. For diagnosing a node that stopped
// answering; the node is gone afterwards.
func (c *Cluster) DumpStacks(n *Node) error { return c.stopWith(n, syscall.SIGQUIT) }

// Running reports whether n's process runs (paused or not).
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

// Paused reports whether n is stopped by SIGSTOP.
func (n *Node) Paused() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.paused
}

// Close kills every node.
func (c *Cluster) Close() error {
	var errs []error
	for _, n := range c.Nodes {
		errs = append(errs, c.Kill(n))
	}
	return errors.Join(errs...)
}

// Admin runs one command on n over its own RESP connection, within timeout.
func (c *Cluster) Admin(ctx context.Context, n *Node, timeout time.Duration, args ...string) (resp.Value, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	n.mu.Lock()
	cl := n.admin
	n.mu.Unlock()
	if cl == nil {
		var err error
		if cl, err = resp.Dial(ctx, n.Client); err != nil {
			return resp.Value{}, err
		}
		n.mu.Lock()
		if n.admin != nil {
			cl.Close()
			cl = n.admin
		} else {
			n.admin = cl
		}
		n.mu.Unlock()
	}
	v, err := cl.Do(ctx, args...)
	var se *resp.ServerError
	if err != nil && !errors.As(err, &se) {
		// The connection is unusable now; dial again next time.
		n.mu.Lock()
		if n.admin == cl {
			n.admin = nil
		}
		n.mu.Unlock()
		cl.Close()
	}
	return v, err
}

// GroupView is one node's view of one group, from TOPOLOGY.
type GroupView struct {
	Group   int
	Role    string
	Leader  string
	Applied int64
}

// Topology returns n's view of every group.
func (c *Cluster) Topology(ctx context.Context, n *Node) ([]GroupView, error) {
	v, err := c.Admin(ctx, n, time.Second, "TOPOLOGY")
	if err != nil {
		return nil, err
	}
	m := asMap(v)
	var out []GroupView
	for _, g := range m["groups"].Elems {
		gm := asMap(g)
		out = append(out, GroupView{
			Group:   int(gm["group"].Int),
			Role:    gm["role"].Str,
			Leader:  gm["leader"].Str,
			Applied: gm["applied_index"].Int,
		})
	}
	return out, nil
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

// WaitHealthy waits until every running node sees a leader for every
// group, and every group has a node that is its leader.
func (c *Cluster) WaitHealthy(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) {
		if last = c.healthy(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("cluster not healthy after %v: %v", limit, last)
}

func (c *Cluster) healthy(ctx context.Context) error {
	led := map[int]bool{}
	groups := 0
	for _, n := range c.Nodes {
		if !n.Running() || n.Paused() {
			continue
		}
		gs, err := c.Topology(ctx, n)
		if err != nil {
			return fmt.Errorf("%s: %v", n.ID, err)
		}
		groups = len(gs)
		for _, g := range gs {
			if g.Leader == "" {
				return fmt.Errorf("%s sees no leader for group %d", n.ID, g.Group)
			}
			if g.Role == "leader" {
				led[g.Group] = true
			}
		}
	}
	if groups == 0 || len(led) != groups {
		return fmt.Errorf("%d of %d groups have a leader", len(led), groups)
	}
	return nil
}

// ClientAddrs lists every node's client address.
func (c *Cluster) ClientAddrs() []string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, n.Client)
	}
	return out
}

// NodeByID returns the node with the given id, or nil.
func (c *Cluster) NodeByID(id string) *Node {
	for _, n := range c.Nodes {
		if n.ID == id {
			return n
		}
	}
	return nil
}

// LogTail returns the last max bytes of n's log.
func (n *Node) LogTail(max int64) string {
	f, err := os.Open(n.logPath)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err.Error()
	}
	off := max64(0, st.Size()-max)
	buf := make([]byte, st.Size()-off)
	_, _ = f.ReadAt(buf, off)
	return string(buf)
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// asMap turns a RESP2 flat array or RESP3 map into a map.
func asMap(v resp.Value) map[string]resp.Value {
	m := map[string]resp.Value{}
	for i := 0; i+1 < len(v.Elems); i += 2 {
		m[v.Elems[i].Str] = v.Elems[i+1]
	}
	return m
}
