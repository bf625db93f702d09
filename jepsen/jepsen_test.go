package jepsen

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/internal/testcluster"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	ChildMain() // the clients' side of a -net netns run (netns_test.go)
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		testcluster.Cleanup()
		os.Exit(code)
	}))
}

// binary returns the server, built once per test process (with -race if
// $JEPSEN_RACE is set).
func binary(t *testing.T) string {
	t.Helper()
	build := testcluster.Binary
	if os.Getenv("JEPSEN_RACE") != "" {
		build = testcluster.RaceBinary
	}
	bin, err := build()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// outDir is where a failing run leaves its history, visualisation and
// node logs (created only on failure); JEPSEN_OUT moves it.
func outDir(t *testing.T) string {
	base := os.Getenv("JEPSEN_OUT")
	if base == "" {
		base = os.TempDir()
	}
	name := strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())
	return filepath.Join(base, "jepsen-"+name+"-"+time.Now().Format("20060102-150405"))
}

func run(t *testing.T, cfg RunConfig) *Result {
	t.Helper()
	cfg.Dir = t.TempDir()
	return runIn(t, cfg)
}

// runIn is run in cfg.Dir.
func runIn(t *testing.T, cfg RunConfig) *Result {
	t.Helper()
	cfg.Binary = binary(t)
	if cfg.OutDir == "" {
		cfg.OutDir = outDir(t)
	}
	if cfg.Logf == nil {
		cfg.Logf = t.Logf
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Duration+3*time.Minute)
	defer cancel()
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	var b strings.Builder
	res.Summary(&b)
	t.Logf("summary:\n%s", b.String())
	return res
}

// TestMatrix is the short CI matrix: each workload under the nemesis that
// threatens it most, for about 20 seconds each.
func TestMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real clusters under faults; skipped with -short")
	}
	cases := []struct {
		name      string
		workloads []string
		nemeses   []string
	}{
		{"register+partition", []string{"register"}, []string{"partition"}},
		{"set+kill", []string{"set"}, []string{"kill"}},
		{"ttl+clock", []string{"ttl"}, []string{"clock"}},
		{"register+pause", []string{"register"}, []string{"pause"}},
		{"cache+partition,kill,pause", []string{"cache"}, []string{"partition", "kill", "pause"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := run(t, RunConfig{Workloads: c.workloads, Nemeses: c.nemeses, Duration: 18 * time.Second})
			if !res.Valid {
				t.Fatalf("checkers failed; history, visualisation and logs in %s", res.Config.OutDir)
			}
			for w, n := range res.Counts {
				if n.OK < 50 {
					t.Errorf("%s: only %d ok operations: the run proves little", w, n.OK)
				}
			}
		})
	}
}

// TestSelfTestCacheLease: caching clients that trust their cache for 30s
// without hearing from their tracking node (the default lease is 250ms),
// under pauses: a client tracking through a paused node keeps serving
// sessions destroyed meanwhile, and the cache checker must say so.
// JEPSEN_LONG=1 only, to keep the default set within its time budget.
func TestSelfTestCacheLease(t *testing.T) {
	if testing.Short() || os.Getenv("JEPSEN_LONG") == "" {
		t.Skip("set JEPSEN_LONG=1 (runs a real cluster)")
	}
	res := run(t, RunConfig{
		Workloads: []string{"cache"}, Nemeses: []string{"pause"}, Workers: 8,
		Duration: 14 * time.Second, CacheLease: 30 * time.Second,
		OutDir: filepath.Join(t.TempDir(), "out"), // the failure is expected: do not keep it
	})
	for _, c := range res.Checks {
		if c.Name == "cache" {
			if c.Valid {
				t.Fatalf("the cache checker passed a 30s lease under pauses: %s", c.Detail)
			}
			return
		}
	}
	t.Fatal("no cache checker result")
}

// TestSelfTestUnsafeReads: with reads served from local state (no quorum
// round) and the leader isolated, the linearizability checker must fail.
// A checker that never fails proves nothing.
func TestSelfTestUnsafeReads(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real cluster; skipped with -short")
	}
	res := run(t, RunConfig{
		Workloads: []string{"register"}, Nemeses: []string{"partition-leader"},
		Duration: 14 * time.Second, Unsafe: true,
		OutDir: filepath.Join(t.TempDir(), "out"), // the failure is expected: do not keep it
	})
	for _, c := range res.Checks {
		if c.Name == "linearizable" {
			if c.Valid {
				t.Fatalf("linearizability checker passed a run with DEBUG.UNSAFE READS on: %s", c.Detail)
			}
			t.Logf("caught, as it must be: %s", c.Detail)
			for _, f := range []string{"linearizability.html", "history.jsonl", "summary.txt", "n1.log"} {
				if _, err := os.Stat(filepath.Join(res.Config.OutDir, f)); err != nil {
					t.Errorf("failure output: %v", err)
				}
			}
			return
		}
	}
	t.Fatal("no linearizable check in the result")
}

// TestSelfTestUnsafeExpiry: with expiry decided by each node's own clock
// (DEBUG.UNSAFE EXPIRY on, the log clock ignored) and the followers'
// clocks set 5s behind, the followers serve sessions past their deadline:
// the ttl checker must report them served late.
func TestSelfTestUnsafeExpiry(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real cluster; skipped with -short")
	}
	res := run(t, RunConfig{
		Workloads: []string{"ttl"}, Nemeses: []string{"skew-followers"},
		Duration: 14 * time.Second, UnsafeExpiry: true, ExtraArgs: UnsafeExpiryArgs,
		Workers: 15, FaultFor: 8 * time.Second, QuietFor: time.Second, TTLSlack: time.Second,
		OutDir: filepath.Join(t.TempDir(), "out"), // the failure is expected: do not keep it
	})
	for _, c := range res.Checks {
		if c.Name == "ttl" {
			if c.Valid {
				t.Fatalf("ttl checker passed a run with DEBUG.UNSAFE EXPIRY on: %s", c.Detail)
			}
			if strings.Contains(c.Detail, "served late 0,") {
				t.Fatalf("ttl checker failed, but not for sessions served late: %s", c.Detail)
			}
			t.Logf("caught, as it must be: %s", c.Detail)
			return
		}
	}
	t.Fatal("no ttl check in the result")
}

// TestControlSafeExpiry is TestSelfTestUnsafeExpiry without the unsafe
// mode: the same faults and bound must pass, so the self-test's failure is
// the unsafe mode's doing. Runs only with JEPSEN_LONG=1 (time budget).
func TestControlSafeExpiry(t *testing.T) {
	if testing.Short() || os.Getenv("JEPSEN_LONG") == "" {
		t.Skip("control run; set JEPSEN_LONG=1")
	}
	res := run(t, RunConfig{
		Workloads: []string{"ttl"}, Nemeses: []string{"skew-followers"},
		Duration: 14 * time.Second, ExtraArgs: UnsafeExpiryArgs,
		Workers: 15, FaultFor: 8 * time.Second, QuietFor: time.Second, TTLSlack: time.Second,
	})
	if !res.Valid {
		t.Fatalf("checkers failed; history, visualisation and logs in %s", res.Config.OutDir)
	}
}

// TestMajoritiesRing: 5 nodes, register workload, majorities-ring
// partitions (every node sees a different majority). Runs only with
// JEPSEN_LONG=1: it would push the default run past its time budget.
func TestMajoritiesRing(t *testing.T) {
	if testing.Short() || os.Getenv("JEPSEN_LONG") == "" {
		t.Skip("5-node run; set JEPSEN_LONG=1")
	}
	res := run(t, RunConfig{Workloads: []string{"register"}, Nemeses: []string{"majorities-ring"}, Nodes: 5, Duration: 20 * time.Second})
	if !res.Valid {
		t.Fatalf("checkers failed; history, visualisation and logs in %s", res.Config.OutDir)
	}
	if n := res.Counts["register"]; n.OK < 50 {
		t.Errorf("register: only %d ok operations: the run proves little", n.OK)
	}
}
