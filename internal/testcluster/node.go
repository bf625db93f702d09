package testcluster

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"sync"
	"time"
)

// Spec is what a node is started with, the same for every incarnation.
type Spec struct {
	ID                   string // n1, n2, ...
	Client, Raft, Gossip string // loopback addresses, or on its host (Options.Hosts)
	DataDir              string
	Join                 []string // the other nodes' gossip addresses
	BootstrapExpect      int      // the cluster's size
}

// Node is one server of a Cluster. Its server may be stopped (Kill) and
// started again (Restart) with the same flags, addresses and data
// directory, and a server process paused (Pause) and resumed (Resume).
type Node struct {
	Spec
	LogPath string // the output of every incarnation, with markers

	args  []string // a server process's command line
	index int      // position in Cluster.Nodes

	mu  sync.Mutex
	inc *incarnation // the current (or last) one; nil before the first
}

// incarnation is one run of a node: a server process or an in-process
// server.
type incarnation struct {
	cmd *exec.Cmd
	srv io.Closer

	exited    chan struct{} // closed once it has exited (or been closed)
	closeOnce sync.Once     // an in-process server is closed once
	stopping  bool          // the test is stopping it
	paused    bool          // SIGSTOPped
	err       error         // why it exited, once exited is closed
}

// run starts a new incarnation of nd.
func (c *Cluster) run(nd *Node) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return fmt.Errorf("start %s: the cluster is stopped", nd.ID)
	}
	if c.opts.InProcess != nil {
		nd.mark("start %s in process", nd.ID)
		spec := nd.Spec
		spec.Join = slices.Clone(spec.Join)
		srv, err := c.opts.InProcess(spec)
		if err != nil {
			return fmt.Errorf("start %s: %w", nd.ID, err)
		}
		nd.mu.Lock()
		nd.inc = &incarnation{srv: srv, exited: make(chan struct{})}
		nd.mu.Unlock()
		return nil
	}

	logf, err := os.OpenFile(nd.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own descriptor
	argv := append([]string{c.bin}, nd.args...)
	if c.opts.Hosts != nil {
		argv = c.opts.Hosts.Command(nd.index, argv)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = logf, logf // files: no copying goroutines
	cmd.SysProcAttr = childProcAttr()
	errc := make(chan error, 1)
	c.spawn <- func() { errc <- cmd.Start() }
	if err := <-errc; err != nil {
		return fmt.Errorf("start %s: %w", nd.ID, err)
	}
	pid := cmd.Process.Pid
	c.pids = append(c.pids, pid)
	nd.mark("started %s pid %d", nd.ID, pid)
	inc := &incarnation{cmd: cmd, exited: make(chan struct{})}
	nd.mu.Lock()
	nd.inc = inc
	nd.mu.Unlock()
	go func() {
		err := cmd.Wait()
		nd.mark("%s pid %d exited: %v", nd.ID, pid, err)
		nd.mu.Lock()
		expected := inc.stopping
		inc.err = err
		nd.mu.Unlock()
		if !expected && c.opts.OnExit != nil {
			c.opts.OnExit(nd, err)
		}
		close(inc.exited)
	}()
	return nil
}

// mark appends a line of the test's own, with the time, to the node's log.
func (nd *Node) mark(format string, args ...any) {
	f, err := os.OpenFile(nd.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	fmt.Fprintf(f, "=== testcluster %s: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
	_ = f.Close()
}

// current returns nd's current incarnation if it is running, else nil.
func (nd *Node) current() *incarnation {
	nd.mu.Lock()
	inc := nd.inc
	nd.mu.Unlock()
	if inc == nil {
		return nil
	}
	select {
	case <-inc.exited:
		return nil
	default:
		return inc
	}
}

// Running reports whether nd's current incarnation is running (paused or
// not).
func (nd *Node) Running() bool { return nd.current() != nil }

// Paused reports whether nd's server process is stopped by Pause.
func (nd *Node) Paused() bool {
	inc := nd.current()
	if inc == nil {
		return false
	}
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return inc.paused
}

// Pid is the process id of nd's current (or last) server process; 0 if
// none was started (or the node runs in process).
func (nd *Node) Pid() int {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.inc == nil || nd.inc.cmd == nil || nd.inc.cmd.Process == nil {
		return 0
	}
	return nd.inc.cmd.Process.Pid
}

// Server returns the in-process server of nd's current incarnation (see
// Options.InProcess), or nil if it is not running.
func (nd *Node) Server() io.Closer {
	if inc := nd.current(); inc != nil {
		return inc.srv
	}
	return nil
}

// Log returns everything nd's incarnations wrote, with the test's markers
// (started, kill -9, paused, exited).
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
	inc := nd.inc
	if inc == nil || inc.stopping {
		return nil
	}
	select {
	case <-inc.exited:
		return fmt.Errorf("%s (pid %d) exited: %v", nd.ID, inc.cmd.Process.Pid, inc.err)
	default:
		return nil
	}
}

// Kill sends SIGKILL to nd's server process, if one is running, and waits
// until it has exited and been reaped; it fails if the process is not
// gone 10 seconds later. An in-process server is closed instead.
func (c *Cluster) Kill(nd *Node) error { return c.end(nd, nil) }

// DumpStacks sends SIGQUIT to nd's server process: the Go runtime writes
// every goroutine's stack to the node's log and exits. For a post-mortem
// of a node that stopped answering; it waits, as Kill does, until the
// process is gone.
func (c *Cluster) DumpStacks(nd *Node) error {
	if sigQuit == nil {
		return errors.New("SIGQUIT: not on this system")
	}
	return c.end(nd, sigQuit)
}

// end stops nd's running incarnation with sig (nil: SIGKILL, or Close for
// an in-process server) and waits until it is gone.
func (c *Cluster) end(nd *Node, sig os.Signal) error {
	nd.mu.Lock()
	inc := nd.inc
	if inc == nil {
		nd.mu.Unlock()
		return nil
	}
	if inc.srv != nil && sig != nil {
		nd.mu.Unlock()
		return fmt.Errorf("%s runs in process: cannot send it %v", nd.ID, sig)
	}
	inc.stopping = true
	paused := inc.paused
	inc.paused = false
	nd.mu.Unlock()
	select {
	case <-inc.exited:
		return nil
	default:
	}
	if inc.srv != nil {
		var err error
		inc.closeOnce.Do(func() {
			nd.mark("close %s", nd.ID)
			err = inc.srv.Close()
			nd.mark("%s closed: %v", nd.ID, err)
			close(inc.exited)
		})
		<-inc.exited
		if err != nil {
			return fmt.Errorf("close %s: %w", nd.ID, err)
		}
		return nil
	}
	p := inc.cmd.Process
	if sig == nil {
		nd.mark("kill -9 %s pid %d", nd.ID, p.Pid)
		if err := p.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("kill -9 %s (pid %d): %w", nd.ID, p.Pid, err)
		}
	} else {
		nd.mark("%v %s pid %d", sig, nd.ID, p.Pid)
		if err := p.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("%v %s (pid %d): %w", sig, nd.ID, p.Pid, err)
		}
		if paused { // a stopped process acts on the signal once continued
			_ = p.Signal(sigCont)
		}
	}
	select {
	case <-inc.exited:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) still running 10s after %v", nd.ID, p.Pid, orKill(sig))
	}
	if alive(p.Pid) {
		return fmt.Errorf("%s (pid %d) reaped but still alive", nd.ID, p.Pid)
	}
	return nil
}

func orKill(sig os.Signal) os.Signal {
	if sig == nil {
		return os.Kill
	}
	return sig
}

// Restart starts nd again, with the same flags, addresses and data
// directory, after Kill. It does not wait for readiness (see WaitReady).
func (c *Cluster) Restart(nd *Node) error {
	if nd.Running() {
		return fmt.Errorf("restart %s: still running", nd.ID)
	}
	return c.run(nd)
}

// Pause stops nd's server process with SIGSTOP: it holds its ports,
// connections and state but does nothing, as in a long GC pause or a VM
// migration, until Resume.
func (c *Cluster) Pause(nd *Node) error { return c.pause(nd, true) }

// Resume continues a paused server process with SIGCONT.
func (c *Cluster) Resume(nd *Node) error { return c.pause(nd, false) }

func (c *Cluster) pause(nd *Node, on bool) error {
	sig, what := sigStop, "SIGSTOP"
	if !on {
		sig, what = sigCont, "SIGCONT"
	}
	inc := nd.current()
	switch {
	case inc == nil:
		return fmt.Errorf("%s: %s is not running", what, nd.ID)
	case inc.cmd == nil:
		return fmt.Errorf("%s: %s runs in process", what, nd.ID)
	case sig == nil:
		return fmt.Errorf("%s: not on this system", what)
	}
	nd.mu.Lock()
	defer nd.mu.Unlock()
	nd.mark("%s %s pid %d", what, nd.ID, inc.cmd.Process.Pid)
	if err := inc.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("%s %s (pid %d): %w", what, nd.ID, inc.cmd.Process.Pid, err)
	}
	inc.paused = on
	return nil
}
