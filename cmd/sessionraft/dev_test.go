//go:build unix

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
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
	bin, err := testcluster.Binary()
	if err != nil {
		t.Fatal(err)
	}
	base, err := testcluster.FreeBasePort(3)
	if err != nil {
		t.Fatal(err)
	}
	addrs := []string{
		fmt.Sprintf("127.0.0.1:%d", base),
		fmt.Sprintf("127.0.0.1:%d", base+1),
		fmt.Sprintf("127.0.0.1:%d", base+2),
	}

	dev := exec.Command(bin, "dev", "--fresh", "--data-dir", t.TempDir(), "--base-port", strconv.Itoa(base), "--wait", "90s")
	out := &testcluster.Buffer{}
	dev.Stdout, dev.Stderr = out, out
	dev.SysProcAttr = childProcAttr() // on Linux dev dies if the test binary does
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = dev.Wait(); close(exited) }()

	pidRE := regexp.MustCompile(`started (n\d) pid=(\d+)`)
	pids := map[string]int{}
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = dev.Process.Kill()
			<-exited
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if t.Failed() {
			t.Logf("dev output:\n%s", out.String())
		}
	})

	// Wait for the ready banner.
	deadline := time.After(2 * time.Minute)
	for !strings.Contains(out.String(), "cluster ready") {
		select {
		case <-exited:
			t.Fatalf("dev exited before the cluster was ready: %v", dev.ProcessState)
		case <-deadline:
			t.Fatal("cluster not ready within 2 minutes")
		case <-time.After(100 * time.Millisecond):
		}
	}
	for _, m := range pidRE.FindAllStringSubmatch(out.String(), -1) {
		pid, _ := strconv.Atoi(m[2])
		pids[m[1]] = pid
	}
	if len(pids) != 3 {
		t.Fatalf("want 3 node pids in the output, got %v", pids)
	}
	for _, a := range addrs {
		if !strings.Contains(out.String(), a) {
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

	// kill -9 one node: dev reports it and keeps the others running.
	if err := syscall.Kill(pids["n3"], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !testcluster.WaitFor(10*time.Second, func() bool { return strings.Contains(out.String(), "n3 (pid") }) {
		t.Error("dev did not report the death of n3")
	}
	select {
	case <-exited:
		t.Fatal("dev exited after one node died")
	default:
	}
	if !testcluster.Alive(pids["n1"]) || !testcluster.Alive(pids["n2"]) {
		t.Error("n1 or n2 died with n3")
	}

	// SIGTERM: every node stops, then dev exits cleanly.
	if err := dev.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("dev did not exit within 30s of SIGTERM")
	}
	if !dev.ProcessState.Success() {
		t.Errorf("dev exit: %v", dev.ProcessState)
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
