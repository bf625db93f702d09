package testcluster

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options say what cluster Start starts. The zero value is a three-node
// cluster of server processes with fsync off and warn-level logs, ready
// within 90 seconds.
type Options struct {
	// Nodes is the number of servers, n1..nN (default 3).
	Nodes int
	// Dir holds the nodes' data directories (Dir/n1, ...) and logs
	// (Dir/n1.log, ...); the caller removes it (t.TempDir() is a good
	// choice). Empty: a new temporary directory that Stop removes. The
	// files of a failed attempt are moved to Dir/failed-attempt-N.
	Dir string
	// Binary is the server binary to run (default: Binary()).
	Binary string
	// Flags are extra "sessionraft server" flags for every node, after
	// the ones Start sets (--id, the addresses, --data-dir, --join,
	// --bootstrap-expect, --log-level and, as the options say, --no-sync
	// and --test-mode). Later flags win.
	Flags []string
	// NodeFlags are extra flags for single nodes, by node id, after
	// Flags.
	NodeFlags map[string][]string
	// Sync keeps fsync on. Off by default: the tests kill with SIGKILL,
	// which keeps the page cache, so skipping fsync loses nothing they can
	// observe and saves time under -race.
	Sync bool
	// TestMode starts the servers with --test-mode, which enables the
	// DEBUG.* commands fault-injection tests drive (partitions, clock
	// offsets, deliberately unsafe modes, state digests).
	TestMode bool
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
	// OnExit, if set, is called when a server process exits without Kill,
	// DumpStacks or Stop having been asked to stop it, with the error of
	// its Wait.
	OnExit func(n *Node, err error)
	// InProcess, if set, starts every node inside the test process
	// instead: it is called with the node's Spec for every incarnation
	// (the first and each Restart) and returns the running server. The
	// package's own tests use it to reach a node's internals. Kill then
	// closes the server (there is no kill -9 within one process), Pause
	// and DumpStacks are refused, and the options about processes
	// (Binary, Flags, NodeFlags, Sync, TestMode, LogLevel, OnExit) do not
	// apply.
	InProcess func(Spec) (io.Closer, error)
	// Hosts, if set, puts every server process on a host of its own
	// (for instance a network namespace, see package netns) instead of
	// loopback ports of this one: node i listens on Hosts.IP(i) with the
	// ports of HostPorts, advertises those addresses as a node on a real
	// host would (--advertise-*), and is started with the command line
	// Hosts.Command returns. The test process must be able to reach
	// those addresses (run it on the clients' host). Not with InProcess.
	Hosts Hosts
}

// Hosts places each node on a host of its own (Options.Hosts).
type Hosts interface {
	// IP is node i's (0-based) address: it listens and is reached there.
	IP(i int) string
	// Command returns the command line that runs argv on node i's host;
	// its process must become argv's (exec), so that signals reach the
	// server.
	Command(i int, argv []string) []string
}

// HostPorts are the client, internal and gossip ports of every node with
// Options.Hosts, the same on every host (as with "sessionraft dev").
var HostPorts = [3]int{7001, 7101, 7201}

// Cluster is a set of running sessionraft servers.
type Cluster struct {
	// Nodes are the cluster's nodes, n1 first.
	Nodes []*Node

	bin    string
	dir    string // Options.Dir, or the temporary directory Stop removes
	ownDir bool
	opts   Options

	spawn     chan func() // run on a thread locked for the cluster's lifetime
	spawnDone chan struct{}

	mu      sync.Mutex
	pids    []int // every process ever started
	stopped bool
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
	bin := opts.Binary
	if bin == "" && opts.InProcess == nil {
		var err error
		if bin, err = Binary(); err != nil {
			return nil, err
		}
	}
	dir, own := opts.Dir, false
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "sessionraft-testcluster-"); err != nil {
			return nil, err
		}
		own = true
	}
	var errs []error
	for try := range opts.Attempts {
		c := &Cluster{bin: bin, dir: dir, opts: opts}
		err := c.start()
		if err == nil {
			c.ownDir = own
			return c, nil
		}
		if serr := c.Stop(); serr != nil {
			err = errors.Join(err, serr)
		}
		kept := filepath.Join(dir, fmt.Sprint("failed-attempt-", try+1))
		if merr := c.moveFiles(kept); merr != nil {
			err = errors.Join(err, merr)
		}
		errs = append(errs, fmt.Errorf("attempt %d (files in %s): %w", try+1, kept, err))
	}
	if own {
		_ = os.RemoveAll(dir)
	}
	return nil, errors.Join(errs...)
}

func (c *Cluster) start() error {
	n := c.opts.Nodes
	if c.opts.Hosts != nil && c.opts.InProcess != nil {
		return errors.New("Options.Hosts is for server processes, not InProcess")
	}
	var ports []int
	if c.opts.Hosts == nil {
		var err error
		if ports, err = FreePorts(3 * n); err != nil {
			return err
		}
	}
	for i := range n {
		id := fmt.Sprint("n", i+1)
		host, pc, pr, pg := "127.0.0.1", 0, 0, 0
		if c.opts.Hosts != nil {
			host, pc, pr, pg = c.opts.Hosts.IP(i), HostPorts[0], HostPorts[1], HostPorts[2]
		} else {
			pc, pr, pg = ports[3*i], ports[3*i+1], ports[3*i+2]
		}
		c.Nodes = append(c.Nodes, &Node{
			Spec: Spec{
				ID:              id,
				Client:          net.JoinHostPort(host, strconv.Itoa(pc)),
				Raft:            net.JoinHostPort(host, strconv.Itoa(pr)),
				Gossip:          net.JoinHostPort(host, strconv.Itoa(pg)),
				DataDir:         filepath.Join(c.dir, id),
				BootstrapExpect: n,
			},
			LogPath: filepath.Join(c.dir, id+".log"),
			index:   i,
		})
	}
	for _, nd := range c.Nodes {
		for _, o := range c.Nodes {
			if o != nd {
				nd.Join = append(nd.Join, o.Gossip)
			}
		}
		nd.args = c.serverArgs(nd)
		if err := os.MkdirAll(nd.DataDir, 0o755); err != nil {
			return err
		}
	}

	if c.opts.InProcess == nil {
		// Linux sends a child its Pdeathsig when the thread that forked
		// it exits, not the process, so every server is started from one
		// locked thread that ends only when Stop has killed them all.
		c.spawn, c.spawnDone = make(chan func()), make(chan struct{})
		go func() {
			runtime.LockOSThread()
			defer close(c.spawnDone)
			for f := range c.spawn {
				f()
			}
		}()
	}
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

// serverArgs returns the command line of nd's server process.
func (c *Cluster) serverArgs(nd *Node) []string {
	args := []string{"server",
		"--id", nd.ID,
		"--data-dir", nd.DataDir,
		"--client-addr", nd.Client,
		"--raft-addr", nd.Raft,
		"--gossip-addr", nd.Gossip,
		"--join", strings.Join(nd.Join, ","),
		"--bootstrap-expect", fmt.Sprint(nd.BootstrapExpect),
		"--log-level", c.opts.LogLevel,
	}
	if c.opts.Hosts != nil {
		args = append(args, "--advertise-client", nd.Client, "--advertise-raft", nd.Raft, "--advertise-gossip", nd.Gossip)
	}
	if !c.opts.Sync {
		args = append(args, "--no-sync")
	}
	if c.opts.TestMode {
		args = append(args, "--test-mode")
	}
	args = append(args, c.opts.Flags...)
	return append(args, c.opts.NodeFlags[nd.ID]...)
}

// moveFiles moves the nodes' data directories and logs, after a failed
// start, into dir, out of the way of the next attempt.
func (c *Cluster) moveFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var errs []error
	for _, nd := range c.Nodes {
		for from, to := range map[string]string{nd.DataDir: nd.ID, nd.LogPath: nd.ID + ".log"} {
			if err := os.Rename(from, filepath.Join(dir, to)); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
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

// Stop stops every node (Kill) and checks that no process the cluster
// ever started is left. It removes the cluster's directory if Start made
// it. Calling it again does nothing more.
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
		_ = os.RemoveAll(c.dir)
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
