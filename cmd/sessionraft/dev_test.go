//go:build unix

package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/internal/testcluster"
	"github.com/sessionraft/sessionraft/transport/resp"
)

// TestDevCluster runs "sessionraft dev" as a user would: three real server
// processes. It needs the node package to work end to end.
func TestDevCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-process cluster; skipped with -short")
	}
	dev := startDev(t, 2*time.Minute, "--data-dir", t.TempDir(), "--wait", "90s")
	bin, addrs, pids := dev.bin, dev.addrs, dev.pids
	if !strings.Contains(dev.Out.String(), "cluster ready") {
		t.Fatalf("no \"cluster ready\" in the output")
	}
	if len(pids) != 3 {
		t.Fatalf("want 3 node pids in the output, got %v", pids)
	}
	for _, a := range addrs {
		if !strings.Contains(dev.Out.String(), a) {
			t.Errorf("ready output does not list %s", a)
		}
	}

	// status: three nodes, each seeing a leader for each group.
	sts := runStatus(t, bin, addrs)
	if len(sts) != 3 {
		t.Fatalf("status: %d nodes", len(sts))
	}
	for _, st := range sts {
		if !st.Up || st.Node == "" || len(st.Groups) == 0 {
			t.Errorf("status: %+v", st)
		}
		for _, g := range st.Groups {
			if g.Leader == "" {
				t.Errorf("status: node %s group %d has no leader", st.Node, g.Group)
			}
		}
	}
	text, err := exec.Command(bin, "status", "--addr", strings.Join(addrs, ",")).CombinedOutput()
	if err != nil || !strings.Contains(string(text), "3/3 nodes up") {
		t.Errorf("status: %v\n%s", err, text)
	}

	// A write on one node is readable, linearizably, on every node.
	id := createSession(t, addrs[0])
	for _, a := range addrs {
		getSession(t, a, id)
	}

	// Each node's admin port, printed in the banner, serves the status
	// page, /ready and /metrics with raft's own metrics (the go-metrics
	// sink is installed in a server process), lint-clean.
	checkDevAdmin(t, dev.Out.String())

	// kill -9 one node: dev reports it and keeps the others running.
	if err := syscall.Kill(pids["n3"], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := dev.WaitOutput("n3 (pid", 10*time.Second); err != nil {
		t.Errorf("dev did not report the death of n3: %v", err)
	}
	select {
	case <-dev.Exited():
		t.Fatal("dev exited after one node died")
	default:
	}
	if !testcluster.Alive(pids["n1"]) || !testcluster.Alive(pids["n2"]) {
		t.Error("n1 or n2 died with n3")
	}

	// SIGTERM: every node stops, then dev exits cleanly.
	if err := dev.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-dev.Exited():
	case <-time.After(30 * time.Second):
		t.Fatal("dev did not exit within 30s of SIGTERM")
	}
	if err := dev.Err(); err != nil {
		t.Errorf("dev exit: %v", err)
	}
	for id, pid := range pids {
		if !testcluster.WaitFor(5*time.Second, func() bool { return !testcluster.Alive(pid) }) {
			t.Errorf("%s (pid %d) still running after dev exited", id, pid)
		}
	}
}

func runStatus(t *testing.T, bin string, addrs []string) []nodeStatus {
	t.Helper()
	var sts []nodeStatus
	// Leadership may still be settling right after "ready"; allow a retry.
	testcluster.WaitFor(15*time.Second, func() bool {
		o, err := exec.Command(bin, "status", "--json", "--addr", strings.Join(addrs, ",")).Output()
		if err != nil {
			return false
		}
		sts = nil
		if json.Unmarshal(o, &sts) != nil {
			return false
		}
		ok, _ := clusterReady(sts)
		return ok
	})
	return sts
}

// retryDo sends one command until it succeeds or 15s pass: a leadership
// change right after start-up can make a request fail with UNAVAILABLE.
func retryDo(t *testing.T, addr string, args ...string) resp.Value {
	t.Helper()
	var lastErr error
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := resp.Dial(ctx, addr)
		if err == nil {
			var v resp.Value
			v, err = do(ctx, c, args...)
			c.Close()
			if err == nil {
				cancel()
				return v
			}
		}
		cancel()
		lastErr = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s %q: %v", addr, args, lastErr)
	return resp.Value{}
}

func createSession(t *testing.T, addr string) string {
	t.Helper()
	v := retryDo(t, addr, "SESSION.CREATE", "SUBJECT", "alice", "TTL", "3600", "FIELDS", "cart", "3")
	m, err := asMap(v)
	if err != nil {
		t.Fatalf("SESSION.CREATE reply: %v", err)
	}
	id := asString(m["id"])
	if id == "" {
		t.Fatalf("SESSION.CREATE reply has no id: %+v", v)
	}
	return id
}

func getSession(t *testing.T, addr, id string) {
	t.Helper()
	v := retryDo(t, addr, "SESSION.GET", id, "CONSISTENCY", "linearizable")
	m, err := asMap(v)
	if err != nil {
		t.Fatalf("%s SESSION.GET reply: %v", addr, err)
	}
	if asString(m["id"]) != id || asString(m["subject"]) != "alice" {
		t.Errorf("%s SESSION.GET %s: %+v", addr, id, m)
	}
	fields, err := asMap(m["fields"])
	if err != nil || asString(fields["cart"]) != "3" {
		t.Errorf("%s SESSION.GET %s: fields %+v (%v)", addr, id, m["fields"], err)
	}
}
