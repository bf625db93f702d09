//go:build unix

package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/redis/rueidis"
)

// The tests run real clusters: sessionraft server processes on loopback,
// built once by TestMain.

// serverBin is the sessionraft binary TestMain built.
var serverBin string

// buildServer builds ./cmd/sessionraft into dir with the go tool on PATH,
// or the one of the toolchain that built this test.
func buildServer(dir string) (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(dir, "sessionraft")
	cmd := exec.Command(goTool, "build", "-o", bin, "./cmd/sessionraft")
	cmd.Dir = ".." // the module root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/sessionraft: %v\n%s", err, out)
	}
	return bin, nil
}

type testNode struct {
	id                   string
	client, raft, gossip string
	dir                  string
	logPath              string
	cmd                  *exec.Cmd
	exited               chan struct{}
}

type testCluster struct {
	dir   string
	nodes []*testNode
}

// startCluster starts an n-node cluster in dir and waits until every node
// sees a leader, with a client address, for every group.
func startCluster(dir string, n int, extra ...string) (*testCluster, error) {
	var lastErr error
	for try := 0; try < 3; try++ { // a free port can be taken between probe and bind
		tc, err := tryStartCluster(filepath.Join(dir, fmt.Sprint("c", try)), n, extra)
		if err == nil {
			return tc, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func tryStartCluster(dir string, n int, extra []string) (*testCluster, error) {
	ports, err := freePorts(3 * n)
	if err != nil {
		return nil, err
	}
	tc := &testCluster{dir: dir}
	for i := range n {
		tc.nodes = append(tc.nodes, &testNode{
			id:     fmt.Sprint("n", i+1),
			client: fmt.Sprintf("127.0.0.1:%d", ports[3*i]),
			raft:   fmt.Sprintf("127.0.0.1:%d", ports[3*i+1]),
			gossip: fmt.Sprintf("127.0.0.1:%d", ports[3*i+2]),
			dir:    filepath.Join(dir, fmt.Sprint("n", i+1)),
		})
	}
	for _, nd := range tc.nodes {
		if err := tc.start(nd, n, extra); err != nil {
			tc.stop()
			return nil, err
		}
	}
	if err := tc.waitReady(60 * time.Second); err != nil {
		err = fmt.Errorf("%w\n%s", err, tc.logs())
		tc.stop()
		return nil, err
	}
	return tc, nil
}

func (tc *testCluster) start(nd *testNode, n int, extra []string) error {
	if err := os.MkdirAll(nd.dir, 0o755); err != nil {
		return err
	}
	var join []string
	for _, o := range tc.nodes {
		if o != nd {
			join = append(join, o.gossip)
		}
	}
	args := append([]string{"server",
		"--id", nd.id,
		"--data-dir", nd.dir,
		"--client-addr", nd.client,
		"--raft-addr", nd.raft,
		"--gossip-addr", nd.gossip,
		"--join", strings.Join(join, ","),
		"--bootstrap-expect", fmt.Sprint(n),
		// SIGKILL keeps the page cache, so skipping fsync loses nothing
		// these tests can observe, and saves time under -race.
		"--no-sync",
		"--log-level", "warn",
	}, extra...)
	nd.logPath = filepath.Join(tc.dir, nd.id+".log")
	logf, err := os.OpenFile(nd.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own descriptor
	nd.cmd = exec.Command(serverBin, args...)
	nd.cmd.Stdout, nd.cmd.Stderr = logf, logf // files: no copying goroutines
	nd.cmd.SysProcAttr = childAttr()
	if err := nd.cmd.Start(); err != nil {
		return err
	}
	nd.exited = make(chan struct{})
	go func() { _ = nd.cmd.Wait(); close(nd.exited) }()
	return nil
}

// freePorts returns n distinct loopback ports that were free for TCP and
// UDP (gossip uses both) a moment ago.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for len(ports) < n {
		if len(ls) > 10*n {
			return nil, errors.New("no free ports")
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		p := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		u.Close()
		ports = append(ports, p)
	}
	return ports, nil
}

func (tc *testCluster) seeds() []string {
	var s []string
	for _, nd := range tc.nodes {
		s = append(s, nd.client)
	}
	return s
}

func (tc *testCluster) node(addr string) *testNode {
	for _, nd := range tc.nodes {
		if nd.client == addr {
			return nd
		}
	}
	return nil
}

// kill SIGKILLs one node and waits until its process is gone.
func (tc *testCluster) kill(nd *testNode) error {
	if err := nd.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-nd.exited:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s did not exit within 10s of SIGKILL", nd.id)
	}
}

// stop kills every node and checks that no process is left.
func (tc *testCluster) stop() error {
	var errs []error
	for _, nd := range tc.nodes {
		if nd.cmd == nil || nd.cmd.Process == nil {
			continue
		}
		if err := tc.kill(nd); err != nil {
			errs = append(errs, err)
			continue
		}
		// Reaped by Wait: the pid must be gone.
		if err := syscall.Kill(nd.cmd.Process.Pid, 0); !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("%s (pid %d) still exists after SIGKILL: %v", nd.id, nd.cmd.Process.Pid, err))
		}
	}
	return errors.Join(errs...)
}

// logs returns the tail of every node's log, for failure messages.
func (tc *testCluster) logs() string {
	var b strings.Builder
	for _, nd := range tc.nodes {
		data, _ := os.ReadFile(nd.logPath)
		if len(data) > 4000 {
			data = data[len(data)-4000:]
		}
		fmt.Fprintf(&b, "--- %s (%s)\n%s\n", nd.id, nd.client, data)
	}
	return b.String()
}

// waitReady polls TOPOLOGY on every live node until each sees a leader,
// with a client address, for every group.
func (tc *testCluster) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var why string
	for {
		ok := true
		for _, nd := range tc.nodes {
			select {
			case <-nd.exited:
				if nd.cmd.ProcessState != nil && !isKilled(nd) {
					return fmt.Errorf("%s exited: %v", nd.id, nd.cmd.ProcessState)
				}
				continue // killed on purpose
			default:
			}
			r, err := rawTopology(nd.client)
			if err != nil {
				ok, why = false, fmt.Sprintf("%s: %v", nd.id, err)
				break
			}
			for _, g := range r.groups {
				if g.leaderClient == "" || tc.dead(g.leaderClient) {
					ok, why = false, fmt.Sprintf("%s sees no live leader for group %d", nd.id, g.id)
					break
				}
			}
			if !ok {
				break
			}
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster not ready after %v: %s", timeout, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func isKilled(nd *testNode) bool {
	ws, ok := nd.cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

func (tc *testCluster) dead(addr string) bool {
	nd := tc.node(addr)
	if nd == nil {
		return false
	}
	select {
	case <-nd.exited:
		return true
	default:
		return false
	}
}

// rawTopology asks one node for TOPOLOGY over a fresh connection, without
// the Client, so the tests can check the Client against the server.
func rawTopology(addr string) (*report, error) {
	var r *report
	err := rawDo(addr, func(ctx context.Context, c rueidis.Client) error {
		m, err := c.Do(ctx, c.B().Arbitrary("TOPOLOGY").Build()).ToMessage()
		if err != nil {
			return err
		}
		r, err = parseTopology(addr, &m)
		return err
	})
	return r, err
}

// rawDo runs fn with a fresh rueidis client for addr and closes it.
func rawDo(addr string, fn func(ctx context.Context, c rueidis.Client) error) error {
	c, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress: []string{addr}, ForceSingleClient: true, DisableCache: true, DisableRetry: true,
		Dialer: net.Dialer{Timeout: time.Second},
	})
	if err != nil {
		if c != nil {
			c.Close()
		}
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return fn(ctx, c)
}
