package compat

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/internal/testcluster"
)

// storeRun is one run of a store's checks against the shared cluster.
type storeRun struct {
	Addr   string // client address of the node the application connects to
	Prefix string // the store's key prefix, unique to the run
	// Pause, when set, is called once by the checks after the first
	// session exists and has been read back; it kills a node. Settle is
	// then called once the checks have read that session again (through
	// the failover); it waits until every group has a leader among the
	// nodes left, since the later check of a 2 s lifetime needs writes
	// that land within 2 s (a write that waits longer for an election
	// finds its session expired, with Redis as with sessionraft).
	Pause, Settle func()
}

// sessionStore is one Redis session store as an application uses it.
type sessionStore struct {
	name string
	// skip says why the store cannot run here ("" when it can).
	skip func() string
	// run does the checks (login, read, change, touch, a 2 s lifetime,
	// logout, and whatever else the store offers) and returns the Redis
	// key of one live session it left behind.
	run func(t *testing.T, r storeRun) string
	// kept, if set, checks that session through other clients.
	kept func(t *testing.T, key string)
}

// TestSessionStores runs every store twice against the three-node cluster:
// once healthy, once with a node killed after the first session exists
// (the node leading the most groups among those the application is not
// connected to, so that the checks after it need a new leader). The Go
// stores also keep one user's requests going from the kill until every
// group has a new leader (goapp_test.go). The stores run unchanged, with
// the settings an application would use; the killed node is restarted
// before the next store runs.
func TestSessionStores(t *testing.T) {
	needCluster(t)
	stores := append(scriptStores(), goStores()...)
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			if why := s.skip(); why != "" {
				t.Skip(why)
			}
			for _, kill := range []bool{false, true} {
				variant := "healthy"
				if kill {
					variant = "node-killed"
				}
				t.Run(variant, func(t *testing.T) {
					entry := shared.Nodes[0]
					r := storeRun{Addr: entry.Client, Prefix: fmt.Sprintf("%s-%s-%d:", s.name, variant, time.Now().UnixNano())}
					if kill {
						r.Pause = func() {
							victim := killLeader(t, entry)
							t.Cleanup(func() { restartNode(t, victim) })
						}
						r.Settle = func() {
							if err := shared.WaitReady(60 * time.Second); err != nil {
								t.Fatalf("no leaders after the kill: %v", err)
							}
						}
					}
					key := s.run(t, r)
					if key == "" {
						t.Fatal("the store's checks left no session")
					}
					if s.kept != nil {
						s.kept(t, key)
					}
				})
			}
		})
	}
}

// killLeader kills (SIGKILL) the node other than entry that leads the most
// groups in entry's view, and returns it.
func killLeader(t *testing.T, entry *testcluster.Node) *testcluster.Node {
	t.Helper()
	groups, err := testcluster.Topology(entry.Client)
	if err != nil {
		t.Fatalf("TOPOLOGY: %v", err)
	}
	led := map[string]int{}
	for _, g := range groups {
		if g.Leader != "" && g.Leader != entry.ID {
			led[g.Leader]++
		}
	}
	var victim *testcluster.Node
	for _, nd := range shared.Nodes {
		if nd != entry && nd.Running() && (victim == nil || led[nd.ID] > led[victim.ID]) {
			victim = nd
		}
	}
	if victim == nil {
		t.Fatal("no node to kill")
	}
	if err := shared.Kill(victim); err != nil {
		t.Fatalf("kill %s: %v", victim.ID, err)
	}
	t.Logf("killed %s (leader of %d of %d groups)", victim.ID, led[victim.ID], len(groups))
	return victim
}

// restartNode starts a killed node again and waits until every group has
// a leader, so that the next store starts on a whole cluster.
func restartNode(t *testing.T, nd *testcluster.Node) {
	t.Helper()
	if err := shared.Restart(nd); err != nil {
		t.Fatalf("restart %s: %v", nd.ID, err)
	}
	if err := shared.WaitReady(90 * time.Second); err != nil {
		t.Fatalf("after restarting %s: %v\n%s", nd.ID, err, shared.Tail(20))
	}
}

// runScript runs one store's script (argv, in directory dir) for r and
// returns the key it says it kept. The script prints "ok <step>" lines,
// "PAUSE" when it waits for the kill and "SETTLE" when it waits for the
// new leaders (each time it then reads "go" on stdin), "KEEP <key>" and
// finally "PASS"; anything else is logged.
func runScript(t *testing.T, r storeRun, dir string, argv []string, env ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SR_ADDR="+r.Addr, "SR_PREFIX="+r.Prefix)
	if r.Pause != nil {
		cmd.Env = append(cmd.Env, "SR_PAUSE=1")
	}
	cmd.Env = append(cmd.Env, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var key string
	passed, paused, settled := false, false, false
	resume := func() {
		if _, err := io.WriteString(stdin, "go\n"); err != nil {
			t.Errorf("resume the script: %v", err)
		}
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "PAUSE" && r.Pause != nil && !paused:
			paused = true
			r.Pause()
			resume()
		case line == "SETTLE" && paused && !settled:
			settled = true
			r.Settle()
			resume()
		case strings.HasPrefix(line, "KEEP "):
			key = strings.TrimPrefix(line, "KEEP ")
		case line == "PASS":
			passed = true
		default:
			t.Log(line)
		}
	}
	_ = stdin.Close()
	err = cmd.Wait()
	if err != nil || !passed {
		t.Fatalf("%s: %v (passed: %v)\nstderr:\n%s", strings.Join(argv, " "), err, passed, testcluster.LastLines(stderr.String(), 40))
	}
	if r.Pause != nil && !(paused && settled) {
		t.Fatal("the script never paused for the kill, or never waited for the new leaders")
	}
	if s := stderr.String(); s != "" {
		t.Logf("stderr:\n%s", testcluster.LastLines(s, 20))
	}
	return key
}
