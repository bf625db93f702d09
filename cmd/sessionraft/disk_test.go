//go:build unix

package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/internal/testcluster"
	"github.com/sessionraft/sessionraft/transport/resp"
)

// TestDiskBudget drives the disk guard of real processes through the
// test-mode DEBUG.DISK hook: a node below --min-free-disk makes every node
// refuse creates with DISKFULL while reads and deletes work, writes resume
// by themselves when its space returns, and a node whose raft log writes
// fail (EIO) stops cleanly (exit, no panic) while the others keep serving.
func TestDiskBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three server processes; skipped with -short")
	}
	c := startFaultCluster(t, "--disk-check-interval", "200ms", "--min-free-disk", "64MiB")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dial := func(addr string) *resp.Client { return dialRESP(ctx, t, addr) }
	n1, n2, n3 := dial(c.Nodes[0].Client), dial(c.Nodes[1].Client), dial(c.Nodes[2].Client)
	create := func(cl *resp.Client) (string, error) {
		v, err := cl.Do(ctx, "SESSION.CREATE", "SUBJECT", "disk", "TTL", "1h", "FIELDS", "k", "v")
		if err != nil {
			return v.Str, err
		}
		m, err := asMap(v)
		if err != nil {
			return "", err
		}
		return asString(m["id"]), nil
	}
	keep, err := create(n1)
	if err != nil {
		t.Fatal(err)
	}
	doomed, err := create(n1)
	if err != nil {
		t.Fatal(err)
	}

	// n2's disk "fills": every node refuses creates once gossip carries it.
	if _, err := n2.Do(ctx, "DEBUG.DISK", "FREE", "1000"); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*resp.Client{n1, n2, n3} {
		var last error
		if !testcluster.WaitFor(20*time.Second, func() bool {
			_, last = create(cl)
			return last != nil && strings.HasPrefix(last.Error(), "DISKFULL")
		}) {
			t.Fatalf("creates not refused with DISKFULL while n2 is below --min-free-disk: %v", last)
		}
	}
	t.Logf("refused: %v", func() error { _, err := create(n1); return err }())
	for _, cl := range []*resp.Client{n1, n2, n3} {
		if _, err := cl.Do(ctx, "SESSION.GET", keep); err != nil {
			t.Fatalf("read refused while the disk alarm is raised: %v", err)
		}
	}
	if v, err := n3.Do(ctx, "SESSION.DESTROY", doomed); err != nil || v.Int != 1 {
		t.Fatalf("delete while the disk alarm is raised: %v %v", v, err)
	}

	// Space returns: writes resume without anyone's help.
	if _, err := n2.Do(ctx, "DEBUG.DISK", "FREE", "REAL"); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*resp.Client{n1, n2, n3} {
		var last error
		if !testcluster.WaitFor(20*time.Second, func() bool { _, last = create(cl); return last == nil }) {
			t.Fatalf("writes did not resume after space returned: %v", last)
		}
	}

	// n3's disk fails: it stops cleanly, the other two go on.
	if _, err := n3.Do(ctx, "DEBUG.DISK", "FAIL", "EIO"); err != nil {
		t.Fatal(err)
	}
	if !testcluster.WaitFor(30*time.Second, func() bool { return c.hasExited("n3") }) {
		t.Fatalf("n3 still runs with a failing disk\n%s", c.Tail(20))
	}
	log := c.Nodes[2].Log()
	if strings.Contains(log, "panic:") || !strings.Contains(log, "input/output error") {
		t.Fatalf("n3 did not stop cleanly naming the failure:\n%s", testcluster.LastLines(log, 30))
	}
	_, exitErr := c.exit("n3")
	t.Logf("n3 stopped: %v", exitErr)
	for _, cl := range []*resp.Client{n1, n2} {
		var last error
		if !testcluster.WaitFor(30*time.Second, func() bool { _, last = create(cl); return last == nil }) {
			t.Fatalf("the two healthy nodes do not take writes after n3's disk failed: %v", last)
		}
		if _, err := cl.Do(ctx, "SESSION.GET", keep); err != nil {
			t.Fatal(err)
		}
	}
}
