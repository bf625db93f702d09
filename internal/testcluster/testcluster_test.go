package testcluster

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		helper(mode)
	}
	flag.Parse()
	code := m.Run()
	Cleanup()
	os.Exit(code)
}

// helperEnv makes the test binary a child for TestProcess instead.
const helperEnv = "TESTCLUSTER_HELPER"

// helper waits for SIGTERM, then exits with status 3; with mode "ignore"
// it ignores SIGTERM and waits to be killed.
func helper(mode string) {
	term := make(chan os.Signal, 1)
	if mode == "ignore" {
		signal.Ignore(syscall.SIGTERM)
	} else {
		signal.Notify(term, syscall.SIGTERM)
	}
	fmt.Println("helper ready")
	select {
	case <-term:
		os.Exit(3)
	case <-time.After(time.Minute): // never outlive a lost test
		os.Exit(4)
	}
}

func TestProcess(t *testing.T) {
	for _, mode := range []string{"term", "ignore"} {
		t.Run(mode, func(t *testing.T) {
			t.Setenv(helperEnv, mode)
			p, err := StartProcess(os.Args[0], "-test.run=^$")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = p.Stop(0) })
			if err := p.WaitOutput("helper ready", 30*time.Second); err != nil {
				t.Fatalf("%v; output: %s", err, p.Out.String())
			}
			if !Alive(p.Pid()) {
				t.Fatalf("pid %d not alive", p.Pid())
			}
			err = p.Stop(time.Second)
			var ee *exec.ExitError
			switch mode {
			case "term":
				if !errors.As(err, &ee) || ee.ExitCode() != 3 {
					t.Errorf("Stop: %v, want exit status 3", err)
				}
			case "ignore":
				if err == nil || !strings.Contains(err.Error(), "killed") {
					t.Errorf("Stop of a process that ignores SIGTERM: %v", err)
				}
			}
			if err := p.WaitOutput("never printed", 30*time.Second); err == nil || !strings.Contains(err.Error(), "exited") {
				t.Errorf("WaitOutput after exit: %v", err)
			}
		})
	}
}

func TestFreePorts(t *testing.T) {
	ports, err := FreePorts(9)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || seen[p] {
			t.Fatalf("ports %v: bad or repeated %d", ports, p)
		}
		seen[p] = true
	}
	base, err := FreeBasePort(3)
	if err != nil {
		t.Fatal(err)
	}
	if !basePortsFree(base, 3) {
		t.Errorf("base port %d: ports no longer free", base)
	}
}

func TestLastLines(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb", 5, "a\nb"},
		{"", 3, ""},
	} {
		if got := LastLines(tc.in, tc.n); got != tc.want {
			t.Errorf("LastLines(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestServerArgs(t *testing.T) {
	c := &Cluster{opts: Options{LogLevel: "info", TestMode: true, Flags: []string{"--max-staleness", "1s"},
		NodeFlags: map[string][]string{"n2": {"--max-staleness", "3s"}}}}
	nd := &Node{Spec: Spec{ID: "n2", Client: "c", Raft: "r", Gossip: "g", DataDir: "d", Join: []string{"g1", "g3"}, BootstrapExpect: 3}}
	got := strings.Join(c.serverArgs(nd), " ")
	want := "server --id n2 --data-dir d --client-addr c --raft-addr r --gossip-addr g --join g1,g3 --bootstrap-expect 3 " +
		"--log-level info --no-sync --test-mode --max-staleness 1s --max-staleness 3s"
	if got != want {
		t.Errorf("args\n got %s\nwant %s", got, want)
	}
	nd.ID = "n1"
	c.opts = Options{LogLevel: "warn", Sync: true, NodeFlags: c.opts.NodeFlags}
	if got := strings.Join(c.serverArgs(nd), " "); strings.Contains(got, "--no-sync") || strings.Contains(got, "--test-mode") || strings.Contains(got, "3s") {
		t.Errorf("args of n1 with Sync, without TestMode: %s", got)
	}
}

// TestNodeLifecycle starts a test-mode cluster, pauses the leader of group
// 0 until the others elect another, resumes it, kills it, waits for a new
// leader, restarts it, dumps its stacks and stops the cluster.
func TestNodeLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three server processes; skipped with -short")
	}
	var unexpected atomic.Int32
	c, err := Start(Options{Dir: t.TempDir(), Writes: 5, TestMode: true, OnExit: func(n *Node, err error) {
		unexpected.Add(1)
		t.Errorf("%s exited by itself: %v", n.ID, err)
	}})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = c.Stop()
		}
		if t.Failed() {
			t.Logf("logs:\n%s", c.Tail(30))
		}
	})
	if len(c.Nodes) != 3 || len(c.Addrs()) != 3 {
		t.Fatalf("%d nodes, addrs %v", len(c.Nodes), c.Addrs())
	}
	for _, nd := range c.Nodes {
		if _, err := os.Stat(filepath.Join(c.dir, nd.ID)); err != nil {
			t.Errorf("data directory: %v", err)
		}
	}
	// --test-mode is on: DEBUG commands are served.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := do(ctx, c.Nodes[0].Client, "DEBUG.CLOCK", "GET"); err != nil {
		t.Fatalf("DEBUG.CLOCK GET with TestMode: %v", err)
	}
	groups, err := Topology(c.Nodes[0].Client)
	if err != nil {
		t.Fatal(err)
	}
	victim := c.ByAddr(groups[0].LeaderClient)
	if victim == nil || c.ByID(victim.ID) != victim {
		t.Fatalf("leader %q of group 0 is not a node of the cluster", groups[0].LeaderClient)
	}

	// Paused: still running, and the others elect new leaders.
	if err := c.Pause(victim); err != nil {
		t.Fatal(err)
	}
	if !victim.Paused() || !victim.Running() {
		t.Fatalf("%s after Pause: paused %v, running %v", victim.ID, victim.Paused(), victim.Running())
	}
	if err := c.WaitReady(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.Resume(victim); err != nil {
		t.Fatal(err)
	}
	if victim.Paused() {
		t.Fatalf("%s paused after Resume", victim.ID)
	}
	if err := c.WaitReady(30 * time.Second); err != nil {
		t.Fatal(err)
	}

	pid := victim.Pid()
	if err := c.Kill(victim); err != nil {
		t.Fatal(err)
	}
	if victim.Running() || Alive(pid) {
		t.Fatalf("%s (pid %d) still running after Kill", victim.ID, pid)
	}
	if err := c.Pause(victim); err == nil {
		t.Error("Pause of a killed node succeeded")
	}
	if err := c.WaitReady(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitWrites(30*time.Second, 5); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(victim); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(victim); err == nil {
		t.Error("Restart of a running node succeeded")
	}
	if err := c.WaitReady(30 * time.Second); err != nil {
		t.Fatal(err)
	}

	// SIGQUIT: the stacks are in the log, the process is gone.
	pids := []int{pid, victim.Pid()}
	if err := c.DumpStacks(victim); err != nil {
		t.Fatal(err)
	}
	if log := victim.Log(); victim.Running() || !strings.Contains(log, "SIGQUIT") || !strings.Contains(log, "goroutine ") {
		t.Errorf("after DumpStacks: running %v, log:\n%s", victim.Running(), LastLines(log, 20))
	}
	for _, nd := range c.Nodes {
		pids = append(pids, nd.Pid())
	}
	stopped = true
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, p := range pids {
		if Alive(p) {
			t.Errorf("pid %d alive after Stop", p)
		}
	}
	if unexpected.Load() != 0 {
		t.Errorf("%d unexpected exits", unexpected.Load())
	}
	if err := c.Restart(victim); err == nil {
		t.Error("Restart after Stop succeeded")
	}
}

// hostsOf is a Hosts for argument tests: addresses of a /24, commands run
// through a wrapper.
type hostsOf string

func (h hostsOf) IP(i int) string { return fmt.Sprintf("%s.%d", string(h), 11+i) }
func (h hostsOf) Command(i int, argv []string) []string {
	return append([]string{"wrap", fmt.Sprint("host", i)}, argv...)
}

// TestServerArgsHosts: with Options.Hosts a node advertises the addresses
// it listens on, and InProcess is refused.
func TestServerArgsHosts(t *testing.T) {
	c := &Cluster{opts: Options{LogLevel: "warn", Hosts: hostsOf("10.9.9")}}
	nd := &Node{Spec: Spec{ID: "n1", Client: "10.9.9.11:7001", Raft: "10.9.9.11:7101", Gossip: "10.9.9.11:7201", DataDir: "d", BootstrapExpect: 3}}
	got := strings.Join(c.serverArgs(nd), " ")
	if !strings.Contains(got, "--client-addr 10.9.9.11:7001 --raft-addr 10.9.9.11:7101 --gossip-addr 10.9.9.11:7201") ||
		!strings.Contains(got, "--advertise-client 10.9.9.11:7001 --advertise-raft 10.9.9.11:7101 --advertise-gossip 10.9.9.11:7201") {
		t.Errorf("args with Hosts: %s", got)
	}
	_, err := Start(Options{Hosts: hostsOf("10.9.9"), InProcess: func(Spec) (io.Closer, error) { return nil, errors.New("not called") }, Attempts: 1, Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "InProcess") {
		t.Errorf("Start with Hosts and InProcess: %v", err)
	}
}
