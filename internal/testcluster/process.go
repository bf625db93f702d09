package testcluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Process is a child process of the test other than a cluster's server:
// for instance "sessionraft dev", which starts servers of its own. Its
// output is collected in Out; on Linux the kernel kills it when the test
// binary dies, even by SIGKILL.
type Process struct {
	Out *Buffer // stdout and stderr

	cmd    *exec.Cmd
	exited chan struct{}
	err    error // Wait's, once exited is closed
}

// StartProcess starts bin with args, with the test's environment minus
// the SESSIONRAFT_* variables (which would set flags), in its own process
// group.
func StartProcess(bin string, args ...string) (*Process, error) {
	p := &Process{Out: &Buffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = childEnv()
	p.cmd.Stdout, p.cmd.Stderr = p.Out, p.Out
	p.cmd.SysProcAttr = childProcAttr()
	// Output copying ends at most this long after the process, even if a
	// grandchild holds the pipe.
	p.cmd.WaitDelay = 5 * time.Second
	started := make(chan error, 1)
	go func() {
		// The kernel sends the Pdeathsig when the thread that started the
		// child exits: this one, which lives as long as the child.
		runtime.LockOSThread()
		defer close(p.exited)
		if err := p.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = p.cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	return p, nil
}

// childEnv is the test's environment without SESSIONRAFT_* variables: they
// would set server flags, and the test's own (such as
// $SESSIONRAFT_TEST_BIN) are not for its children.
func childEnv() []string {
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SESSIONRAFT_") {
			env = append(env, kv)
		}
	}
	return env
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited is closed once the process has exited and its output is in Out.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Err is how the process exited (nil: status 0); call it after Exited.
func (p *Process) Err() error {
	<-p.exited
	return p.err
}

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// WaitOutput waits until the output contains s. It fails if the process
// exits first or timeout passes.
func (p *Process) WaitOutput(s string, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(p.Out.String(), s) {
		select {
		case <-p.exited:
			if strings.Contains(p.Out.String(), s) {
				return nil
			}
			return fmt.Errorf("exited (%v) before printing %q", p.err, s)
		case <-deadline.C:
			return fmt.Errorf("no %q in the output within %v", s, timeout)
		case <-tick.C:
		}
	}
	return nil
}

// Stop asks the process to end (SIGTERM), kills it if it has not exited
// grace later, and waits until it is gone. It returns how it exited (see
// Err), or why it had to be killed.
func (p *Process) Stop(grace time.Duration) error {
	select {
	case <-p.exited:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(sigTerm)
	select {
	case <-p.exited:
		return p.err
	case <-time.After(grace):
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	<-p.exited
	return fmt.Errorf("still running %v after SIGTERM: killed", grace)
}
