package testcluster

import (
	"flag"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	Cleanup()
	os.Exit(code)
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

// TestKillRestart starts a cluster, kills the leader of group 0, waits for
// a new one, restarts the node and stops the cluster.
func TestKillRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three server processes; skipped with -short")
	}
	var unexpected atomic.Int32
	c, err := Start(Options{Dir: t.TempDir(), Writes: 5, OnExit: func(n *Node, err error) {
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
	groups, err := Topology(c.Nodes[0].Client)
	if err != nil {
		t.Fatal(err)
	}
	victim := c.ByAddr(groups[0].LeaderClient)
	if victim == nil || c.ByID(victim.ID) != victim {
		t.Fatalf("leader %q of group 0 is not a node of the cluster", groups[0].LeaderClient)
	}
	pid := victim.Pid()
	if err := c.Kill(victim); err != nil {
		t.Fatal(err)
	}
	if victim.Running() || Alive(pid) {
		t.Fatalf("%s (pid %d) still running after Kill", victim.ID, pid)
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
	pids := []int{pid}
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
