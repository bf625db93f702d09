//go:build linux

package jepsen

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/internal/testcluster/netns"
)

// The -net netns tests: each node in its own network namespace, faults cut
// by the kernel. They need root, ip and nft, and skip themselves (saying
// why) without them.

func needNetns(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs a cluster in network namespaces; skipped with -short")
	}
	if err := netns.Check(); err != nil {
		t.Skipf("-net netns tests skipped: %v", err)
	}
}

// ownLabs lists, as "ip netns list" shows them, the namespaces of labs
// this test process created (the owner's pid is in the name).
func ownLabs(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	var own []string
	for _, line := range strings.Split(string(out), "\n") {
		n, _, _ := strings.Cut(line, " ") // "name (id: 3)"
		if !strings.HasPrefix(n, LabKind+"-") {
			continue
		}
		if parts := strings.Split(n, "-"); len(parts) == 5 && parts[2] == fmt.Sprint(os.Getpid()) {
			own = append(own, n)
		}
	}
	return own
}

// rootLinks lists the test process's namespace's interfaces.
func rootLinks(t *testing.T) []string {
	t.Helper()
	names, err := netns.RootLinks()
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// checkNothingLeft fails t if a namespace of this process, a link in the
// root namespace that was not there before, or a server process of the
// run (one with dir on its command line) is left.
func checkNothingLeft(t *testing.T, linksBefore []string, dir string) {
	t.Helper()
	if own := ownLabs(t); len(own) > 0 {
		t.Errorf("namespaces left behind: %v", own)
	}
	if got := rootLinks(t); !slices.Equal(got, linksBefore) {
		t.Errorf("root namespace links: %v, before the run %v", got, linksBefore)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), dir) {
			t.Errorf("process left behind: %s: %s", p, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
}

// netnsRun is run with Net "netns", checking afterwards that the run left
// nothing behind.
func netnsRun(t *testing.T, cfg RunConfig) *Result {
	t.Helper()
	before := rootLinks(t)
	cfg.Net = NetNetns
	cfg.Dir = t.TempDir()
	// While the cluster is up, the same look finds the lab: the check
	// after the run can see what it looks for.
	var during []string
	var mu sync.Mutex
	cfg.Logf = func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		t.Log(msg)
		if strings.HasPrefix(msg, "cluster up") {
			mu.Lock()
			during = ownLabs(t)
			mu.Unlock()
		}
	}
	res := runIn(t, cfg)
	mu.Lock()
	if want := max(cfg.Nodes, 3) + 2; len(during) != want {
		t.Errorf("during the run, ip netns list showed %v, want %d namespaces (switch, nodes, clients)", during, want)
	}
	mu.Unlock()
	checkNothingLeft(t, before, cfg.Dir)
	return res
}

// TestNetns: register and set workloads under kernel partitions (every
// port, gossip included), packet loss and blackholes: every checker must
// pass.
func TestNetns(t *testing.T) {
	needNetns(t)
	res := netnsRun(t, RunConfig{
		Workloads: []string{"register", "set"}, Nemeses: []string{"partition", "loss", "blackhole"},
		Duration: 24 * time.Second, FaultFor: 3 * time.Second, QuietFor: time.Second,
	})
	if !res.Valid {
		t.Fatalf("checkers failed; history, visualisation and logs in %s", res.Config.OutDir)
	}
	kinds := map[string]bool{}
	for _, f := range res.Faults {
		for _, k := range []string{"partition start", "loss start", "blackhole start"} {
			if strings.Contains(f, k) {
				kinds[k] = true
			}
		}
	}
	if len(kinds) != 3 {
		t.Errorf("fault kinds injected: %v, want all three (the schedule runs each once per round)", kinds)
	}
	for w, n := range res.Counts {
		if n.OK < 50 {
			t.Errorf("%s: only %d ok operations: the run proves little", w, n.OK)
		}
	}
}

// TestNetnsSelfTestUnsafeReads: TestSelfTestUnsafeReads with the leader
// isolated by the kernel.
func TestNetnsSelfTestUnsafeReads(t *testing.T) {
	needNetns(t)
	res := netnsRun(t, RunConfig{
		Workloads: []string{"register"}, Nemeses: []string{"partition-leader"},
		Duration: 14 * time.Second, Unsafe: true,
		OutDir: filepath.Join(t.TempDir(), "out"), // the failure is expected: do not keep it
	})
	c := check(t, res, "linearizable")
	if c.Valid {
		t.Fatalf("linearizability checker passed a netns run with DEBUG.UNSAFE READS on: %s", c.Detail)
	}
	t.Logf("caught, as it must be: %.300s", c.Detail)
}

// TestNetnsSelfTestUnsafeExpiry: TestSelfTestUnsafeExpiry in namespaces.
func TestNetnsSelfTestUnsafeExpiry(t *testing.T) {
	needNetns(t)
	res := netnsRun(t, RunConfig{
		Workloads: []string{"ttl"}, Nemeses: []string{"skew-followers"},
		Duration: 14 * time.Second, UnsafeExpiry: true, ExtraArgs: UnsafeExpiryArgs,
		Workers: 15, FaultFor: 8 * time.Second, QuietFor: time.Second, TTLSlack: time.Second,
		OutDir: filepath.Join(t.TempDir(), "out"),
	})
	c := check(t, res, "ttl")
	if c.Valid || strings.Contains(c.Detail, "served late 0,") {
		t.Fatalf("ttl checker did not report sessions served late with DEBUG.UNSAFE EXPIRY on: %s", c.Detail)
	}
	t.Logf("caught, as it must be: %.300s", c.Detail)
}

// TestNetnsInterrupted: a run interrupted once its cluster is up returns
// an error and still removes its namespaces and stops its servers.
func TestNetnsInterrupted(t *testing.T) {
	needNetns(t)
	before := rootLinks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	cfg := RunConfig{
		Binary: binary(t), Dir: dir, Net: NetNetns,
		Workloads: []string{"register"}, Nemeses: []string{"blackhole"}, Duration: time.Minute,
		Logf: func(format string, args ...any) {
			msg := fmt.Sprintf(format, args...)
			t.Log(msg)
			if strings.Contains(msg, "nemesis") && strings.Contains(msg, "start") {
				cancel() // as a Ctrl-C would, in the middle of a fault
			}
		},
	}
	res, err := Run(ctx, cfg)
	if err == nil && res != nil && res.Elapsed > 50*time.Second {
		t.Errorf("the run was not interrupted (%v)", res.Elapsed)
	}
	t.Logf("interrupted run: %v", err)
	checkNothingLeft(t, before, dir)
}

func check(t *testing.T, res *Result, name string) CheckResult {
	t.Helper()
	for _, c := range res.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %s check in the result", name)
	return CheckResult{}
}
