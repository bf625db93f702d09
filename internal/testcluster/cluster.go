package testcluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Options say what cluster Start starts. The zero value is a three-node
// cluster with fsync off and warn-level logs, ready within 90 seconds.
type Options struct {
	// Nodes is the number of server processes, n1..nN (default 3).
	Nodes int
	// Dir holds the nodes' data directories and logs; the caller removes
	// it (t.TempDir() is a good choice). Empty: a new temporary directory
	// that Stop removes.
	Dir string
	// Flags are extra "sessionraft server" flags for every node, after
	// the ones Start sets (--id, the addresses, --data-dir, --join,
	// --bootstrap-expect, --log-level and, without Sync, --no-sync).
	Flags []string
	// Sync keeps fsync on. Off by default: the tests kill with SIGKILL,
	// which keeps the page cache, so skipping fsync loses nothing they can
	// observe and saves time under -race.
	Sync bool
	// LogLevel is the servers' --log-level (default "warn").
	LogLevel string
	// ReadyTimeout bounds Start's WaitReady (default 90s).
	ReadyTimeout time.Duration
	// Writes, if positive, makes Start also wait until that many
	// create-and-read rounds in a row succeed (WaitWrites): leadership
	// is rebalanced right after start-up and fails a few writes.
	Writes int
	// Attempts is how many times Start tries, on fresh ports, before it
	// gives up (default 3): a probed port can be taken before it is bound.
	Attempts int
	// OnExit, if set, is called when a server exits without Kill or Stop
	// having been asked to stop it, with the error of its Wait.
	OnExit func(n *Node, err error)
}

// Cluster is a set of running "sessionraft server" processes.
type Cluster struct {
	// Nodes are the cluster's nodes, n1 first.
	Nodes []*Node

	bin    string
	dir    string // this attempt's directory
	topDir string // Options.Dir, or the temporary directory Stop removes
	ownDir bool
	opts   Options

	spawn     chan func() // run on a thread locked for the cluster's lifetime
	spawnDone chan struct{}

	mu      sync.Mutex
	pids    []int // every process ever started
	stopped bool
}

// Node is one server of a Cluster. Its process may be stopped (Kill) and
// started again (Restart) with the same flags and data directory.
type Node struct {
	ID                   string // n1, n2, ...
	Client, Raft, Gossip string // loopback addresses
	DataDir              string
	LogPath              string // the output of every incarnation, with markers

	args []string

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the current incarnation has exited
	killing bool          // the test is stopping the current incarnation
	exitErr error
}

// Start starts a cluster as opts say and returns once every node sees a
// leader for every group (and, with opts.Writes, writes succeed). A start
// that fails is retried on other ports; the error then has every attempt's
// reason and the tail of its logs.
func Start(opts Options) (*Cluster, error) {
	if opts.Nodes <= 0 {
		opts.Nodes = 3
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "warn"
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 90 * time.Second
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 3
	}
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	top, own := opts.Dir, false
	if top == "" {
		if top, err = os.MkdirTemp("", "sessionraft-testcluster-"); err != nil {
			return nil, err
		}
		own = true
	}
	var errs []error
	for try := range opts.Attempts {
		c := &Cluster{bin: bin, dir: filepath.Join(top, fmt.Sprint("try", try)), topDir: top, ownDir: own, opts: opts}
		err := c.start()
		if err == nil {
			return c, nil
		}
		c.ownDir = false // removed below, after the last attempt
		if serr := c.Stop(); serr != nil {
			err = errors.Join(err, serr)
		}
		errs = append(errs, fmt.Errorf("attempt %d: %w", try+1, err))
	}
	if own {
		_ = os.RemoveAll(top)
	}
	return nil, errors.Join(errs...)
}

func (c *Cluster) start() error {
	n := c.opts.Nodes
	ports, err := FreePorts(3 * n)
	if err != nil {
		return err
	}
	for i := range n {
		id := fmt.Sprint("n", i+1)
		c.Nodes = append(c.Nodes, &Node{
			ID:      id,
			Client:  fmt.Sprintf("127.0.0.1:%d", ports[3*i]),
			Raft:    fmt.Sprintf("127.0.0.1:%d", ports[3*i+1]),
			Gossip:  fmt.Sprintf("127.0.0.1:%d", ports[3*i+2]),
			DataDir: filepath.Join(c.dir, id),
			LogPath: filepath.Join(c.dir, id+".log"),
		})
	}
	for _, nd := range c.Nodes {
		var join []string
		for _, o := range c.Nodes {
			if o != nd {
				join = append(join, o.Gossip)
			}
		}
		nd.args = []string{"server",
			"--id", nd.ID,
			"--data-dir", nd.DataDir,
			"--client-addr", nd.Client,
			"--raft-addr", nd.Raft,
			"--gossip-addr", nd.Gossip,
			"--join", strings.Join(join, ","),
			"--bootstrap-expect", fmt.Sprint(n),
			"--log-level", c.opts.LogLevel,
		}
		if !c.opts.Sync {
			nd.args = append(nd.args, "--no-sync")
		}
		nd.args = append(nd.args, c.opts.Flags...)
		if err := os.MkdirAll(nd.DataDir, 0o755); err != nil {
			return err
		}
	}

	// Linux sends a child its Pdeathsig when the thread that forked it
	// exits, not the process, so every server is started from one locked
	// thread that ends only when Stop has killed them all.
	c.spawn, c.spawnDone = make(chan func()), make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer close(c.spawnDone)
		for f := range c.spawn {
			f()
		}
	}()
	for _, nd := range c.Nodes {
		if err := c.run(nd); err != nil {
			return err
		}
	}
	if err := c.WaitReady(c.opts.ReadyTimeout); err != nil {
		return fmt.Errorf("%w\n%s", err, c.Tail(50))
	}
	if c.opts.Writes > 0 {
		if err := c.WaitWrites(c.opts.ReadyTimeout, c.opts.Writes); err != nil {
			return fmt.Errorf("%w\n%s", err, c.Tail(50))
		}
	}
	return nil
}

// run starts a new incarnation of nd.
func (c *Cluster) run(nd *Node) error {
	logf, err := os.OpenFile(nd.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(c.bin, nd.args...)
	// SESSIONRAFT_* variables would set server flags: keep the test's own
	// (such as $SESSIONRAFT_TEST_BIN) away from the servers.
	cmd.Env = []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SESSIONRAFT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Stdout, cmd.Stderr = logf, logf // files: no copying goroutines
	cmd.SysProcAttr = childProcAttr()

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return fmt.Errorf("start %s: the cluster is stopped", nd.ID)
	}
	errc := make(chan error, 1)
	c.spawn <- func() { errc <- cmd.Start() }
	if err := <-errc; err != nil {
		return fmt.Errorf("start %s: %w", nd.ID, err)
	}
	pid := cmd.Process.Pid
	c.pids = append(c.pids, pid)
	nd.mark("started %s pid %d", nd.ID, pid)
	exited := make(chan struct{})
	nd.mu.Lock()
	nd.cmd, nd.exited, nd.killing, nd.exitErr = cmd, exited, false, nil
	nd.mu.Unlock()
	go func() {
		err := cmd.Wait()
		nd.mark("%s pid %d exited: %v", nd.ID, pid, err)
		nd.mu.Lock()
		expected := nd.killing
		nd.exitErr = err
		nd.mu.Unlock()
		if !expected && c.opts.OnExit != nil {
			c.opts.OnExit(nd, err)
		}
		close(exited)
	}()
	return nil
}

// mark appends a line of the test's own to the node's log.
func (nd *Node) mark(format string, args ...any) {
	f, err := os.OpenFile(nd.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	fmt.Fprintf(f, "=== testcluster: "+format+"\n", args...)
	_ = f.Close()
}

// Running reports whether nd's current incarnation is running.
func (nd *Node) Running() bool {
	nd.mu.Lock()
	exited := nd.exited
	nd.mu.Unlock()
	if exited == nil {
		return false
	}
	select {
	case <-exited:
		return false
	default:
		return true
	}
}

// Pid is the process id of nd's current (or last) incarnation; 0 if it
// never started.
func (nd *Node) Pid() int {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd == nil || nd.cmd.Process == nil {
		return 0
	}
	return nd.cmd.Process.Pid
}

// Log returns everything nd's incarnations wrote, with the test's markers
// (started, kill -9, exited).
func (nd *Node) Log() string {
	b, err := os.ReadFile(nd.LogPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return string(b)
}

// unexpectedExit returns an error if nd has exited without being stopped.
func (nd *Node) unexpectedExit() error {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.exited == nil || nd.killing {
		return nil
	}
	select {
	case <-nd.exited:
		return fmt.Errorf("%s (pid %d) exited: %v", nd.ID, nd.cmd.Process.Pid, nd.exitErr)
	default:
		return nil
	}
}

// Addrs returns the nodes' client addresses, n1 first: the seeds for a
// client.
func (c *Cluster) Addrs() []string {
	var a []string
	for _, nd := range c.Nodes {
		a = append(a, nd.Client)
	}
	return a
}

// ByAddr returns the node with client address addr, or nil.
func (c *Cluster) ByAddr(addr string) *Node {
	for _, nd := range c.Nodes {
		if nd.Client == addr {
			return nd
		}
	}
	return nil
}

// ByID returns the node with this id, or nil.
func (c *Cluster) ByID(id string) *Node {
	for _, nd := range c.Nodes {
		if nd.ID == id {
			return nd
		}
	}
	return nil
}

// Kill sends SIGKILL to nd's running process, if any, and waits until it
// has exited and been reaped; it fails if the process is not gone 10
// seconds later.
func (c *Cluster) Kill(nd *Node) error {
	nd.mu.Lock()
	cmd, exited := nd.cmd, nd.exited
	nd.killing = true
	nd.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	default:
	}
	pid := cmd.Process.Pid
	nd.mark("kill -9 %s pid %d", nd.ID, pid)
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill -9 %s (pid %d): %w", nd.ID, pid, err)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) still running 10s after SIGKILL", nd.ID, pid)
	}
	if alive(pid) {
		return fmt.Errorf("%s (pid %d) reaped but still alive", nd.ID, pid)
	}
	return nil
}

// Restart starts nd again, with the same flags, addresses and data
// directory, after Kill. It does not wait for readiness (see WaitReady).
func (c *Cluster) Restart(nd *Node) error {
	if nd.Running() {
		return fmt.Errorf("restart %s: still running", nd.ID)
	}
	return c.run(nd)
}

// Stop kills every node and checks that no process the cluster ever
// started is left. It removes the cluster's directory if Start made it.
// Calling it again does nothing more.
func (c *Cluster) Stop() error {
	var errs []error
	for _, nd := range c.Nodes {
		if err := c.Kill(nd); err != nil {
			errs = append(errs, err)
		}
	}
	c.mu.Lock()
	wasStopped := c.stopped
	c.stopped = true
	pids := append([]int(nil), c.pids...)
	c.mu.Unlock()
	if wasStopped {
		return errors.Join(errs...)
	}
	if c.spawn != nil {
		close(c.spawn)
		<-c.spawnDone
	}
	for _, pid := range pids {
		if !WaitFor(5*time.Second, func() bool { return !alive(pid) }) {
			errs = append(errs, fmt.Errorf("pid %d still running after Stop", pid))
		}
	}
	if c.ownDir {
		_ = os.RemoveAll(c.topDir)
	}
	return errors.Join(errs...)
}

// Tail returns the last n lines of every node's log, for failure messages.
func (c *Cluster) Tail(n int) string {
	var b strings.Builder
	for _, nd := range c.Nodes {
		fmt.Fprintf(&b, "--- %s (%s) ---\n%s\n", nd.ID, nd.Client, LastLines(nd.Log(), n))
	}
	return b.String()
}
