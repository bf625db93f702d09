package main

// A three-process sessionraft cluster on loopback ports for this package's
// tests. (The same helper is in client/httpsession and client/scsstore; test
// files cannot be shared between packages.)

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sessionraft/sessionraft/client"
)

type testCluster struct {
	dir   string
	bin   string
	addrs []string // client addresses
	procs []*exec.Cmd
	done  []chan struct{} // closed when the process has exited
	logs  []*syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startTestCluster builds the sessionraft binary and starts three server
// processes, returning once every node sees a leader for every group and a
// client can write. Ports are random; a start that fails (a port taken
// meanwhile by someone else) is retried on other ports.
func startTestCluster() (*testCluster, error) {
	dir, err := os.MkdirTemp("", "sessionraft-test-")
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "sessionraft")
	goTool, err := exec.LookPath("go")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, goTool, "build", "-o", bin, "github.com/sessionraft/sessionraft/cmd/sessionraft").CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("go build: %v\n%s", err, out)
	}
	var errs []error
	for attempt := range 3 {
		tc := &testCluster{dir: dir, bin: bin}
		err := tc.start(filepath.Join(dir, fmt.Sprint("try", attempt)))
		if err == nil {
			return tc, nil
		}
		errs = append(errs, err)
		tc.kill()
	}
	_ = os.RemoveAll(dir)
	return nil, errors.Join(errs...)
}

func (tc *testCluster) start(dataDir string) error {
	base, err := freeBasePort()
	if err != nil {
		return err
	}
	var gossip []string
	for i := range 3 {
		gossip = append(gossip, fmt.Sprintf("127.0.0.1:%d", base+200+i))
		tc.addrs = append(tc.addrs, fmt.Sprintf("127.0.0.1:%d", base+i))
	}
	for i := range 3 {
		var join []string
		for j, g := range gossip {
			if j != i {
				join = append(join, g)
			}
		}
		id := fmt.Sprint("n", i+1)
		cmd := exec.Command(tc.bin, "server",
			"--id", id,
			"--data-dir", filepath.Join(dataDir, id),
			"--client-addr", tc.addrs[i],
			"--raft-addr", fmt.Sprintf("127.0.0.1:%d", base+100+i),
			"--gossip-addr", gossip[i],
			"--join", strings.Join(join, ","),
			"--bootstrap-expect", "3",
			"--no-sync",
			"--log-level", "warn",
		)
		log := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = log, log
		cmd.SysProcAttr = childProcAttr()
		cmd.WaitDelay = 2 * time.Second
		if err := cmd.Start(); err != nil {
			return err
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		tc.procs = append(tc.procs, cmd)
		tc.done = append(tc.done, done)
		tc.logs = append(tc.logs, log)
	}
	if err := tc.waitReady(90 * time.Second); err != nil {
		return fmt.Errorf("%w\n%s", err, tc.output())
	}
	return nil
}

// freeBasePort finds base such that base..+2, base+100..+102 and
// base+200..+202 are free on loopback (TCP, and UDP for gossip).
func freeBasePort() (int, error) {
	for range 100 {
		base := 20000 + rand.IntN(20000)
		if portsFree(base) {
			return base, nil
		}
	}
	return 0, errors.New("no free ports found")
}

func portsFree(base int) bool {
	for i := range 3 {
		for _, p := range []int{base + i, base + 100 + i, base + 200 + i} {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				return false
			}
			_ = l.Close()
		}
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", base+200+i))
		if err != nil {
			return false
		}
		_ = pc.Close()
	}
	return true
}

// waitReady polls "sessionraft status" until every node sees a leader for
// every group, then writes through a client until writes succeed in a row
// (leadership is rebalanced right after start).
func (tc *testCluster) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	why := "not polled yet"
	for !tc.statusReady(&why) {
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster not ready within %s: %s", timeout, why)
		}
		if err := tc.exited(); err != nil {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	c, err := client.New(ctx, client.Config{Seeds: tc.addrs})
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	defer c.Close()
	for ok := 0; ok < 20; {
		s, err := c.Create(ctx, client.WithTTL(time.Minute))
		if err == nil {
			_, err = c.Get(ctx, s.ID)
		}
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("cluster does not take writes: %w", err)
			}
			ok = 0
			time.Sleep(100 * time.Millisecond)
			continue
		}
		ok++
	}
	return nil
}

func (tc *testCluster) statusReady(why *string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, tc.bin, "status", "--json", "--timeout", "2s", "--addr", strings.Join(tc.addrs, ",")).Output()
	if err != nil {
		*why = fmt.Sprintf("status: %v", err)
		return false
	}
	var sts []struct {
		Addr   string `json:"addr"`
		Up     bool   `json:"up"`
		Error  string `json:"error"`
		Groups []struct {
			Group  int    `json:"group"`
			Leader string `json:"leader"`
		} `json:"groups"`
	}
	if err := json.Unmarshal(out, &sts); err != nil {
		*why = fmt.Sprintf("status output: %v", err)
		return false
	}
	for _, st := range sts {
		if !st.Up || st.Error != "" || len(st.Groups) == 0 {
			*why = fmt.Sprintf("%s: up=%v groups=%d %s", st.Addr, st.Up, len(st.Groups), st.Error)
			return false
		}
		for _, g := range st.Groups {
			if g.Leader == "" {
				*why = fmt.Sprintf("%s: group %d has no leader", st.Addr, g.Group)
				return false
			}
		}
	}
	return len(sts) == 3
}

// exited reports a server that stopped during start-up.
func (tc *testCluster) exited() error {
	for i, done := range tc.done {
		select {
		case <-done:
			return fmt.Errorf("server n%d exited during start-up", i+1)
		default:
		}
	}
	return nil
}

func (tc *testCluster) output() string {
	var b strings.Builder
	for i, l := range tc.logs {
		fmt.Fprintf(&b, "--- n%d ---\n%s", i+1, l.String())
	}
	return b.String()
}

func (tc *testCluster) kill() {
	for i, p := range tc.procs {
		_ = p.Process.Kill()
		<-tc.done[i]
	}
	tc.procs, tc.done = nil, nil
}

// stop kills the servers and removes their data.
func (tc *testCluster) stop() {
	tc.kill()
	_ = os.RemoveAll(tc.dir)
}
