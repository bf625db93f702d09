//go:build unix

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/internal/testcluster"
	"github.com/sessionraft/sessionraft/transport/resp"
)

// runCLI runs the sessionraft command line in-process and returns its exit
// code and its output (stdout and stderr together).
func runBackupCLI(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&out)
	if err := root.ExecuteContext(context.Background()); err != nil {
		return 1, out.String()
	}
	return 0, out.String()
}

// created is one acknowledged SESSION.CREATE: the id, the record the
// server answered (rendered) and when the acknowledgement arrived.
type created struct {
	id, record string
	acked      time.Time
}

func createBackupSession(ctx context.Context, c *resp.Client, i int, ttl string) (created, error) {
	v, err := c.Do(ctx, "SESSION.CREATE", "SUBJECT", fmt.Sprintf("user-%d", i%17), "TTL", ttl,
		"FIELDS", "n", fmt.Sprint(i), "role", strings.Repeat("r", i%50))
	if err != nil {
		return created{}, err
	}
	m, err := asMap(v)
	if err != nil {
		return created{}, err
	}
	return created{id: asString(m["id"]), record: v.String(), acked: time.Now()}, nil
}

// TestBackupRestore is issue 13's "done means", on real processes: sessions
// with fields and TTLs, a backup taken while writes go on, the cluster
// stopped, the file restored into three fresh data directories of a new
// cluster, and every session acknowledged before the backup began is
// there with the same record (fields, version, deadlines); a session whose
// TTL ran out since is gone.
func TestBackupRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two three-node clusters of server processes; skipped with -short")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	a, err := testcluster.Start(testcluster.Options{Dir: filepath.Join(dir, "a"), Writes: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Stop() })
	addrs := a.Addrs()

	// Sessions before the backup: long TTLs, and one that ends soon.
	c, err := resp.Dial(ctx, addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var before []created
	for i := range 300 {
		s, err := createBackupSession(ctx, c, i, "1h")
		if err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
		before = append(before, s)
	}
	short, err := createBackupSession(ctx, c, 1000, "2s")
	if err != nil {
		t.Fatal(err)
	}

	// A writer goes on during the backup, on another node.
	var (
		mu      sync.Mutex
		written []created
	)
	wctx, stopWriter := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		wc, err := resp.Dial(wctx, addrs[1])
		if err != nil {
			return
		}
		defer wc.Close()
		for i := 2000; wctx.Err() == nil; i++ {
			s, err := createBackupSession(wctx, wc, i, "1h")
			if err == nil {
				mu.Lock()
				written = append(written, s)
				mu.Unlock()
			}
		}
	}()
	if !testcluster.WaitFor(30*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(written) >= 20 }) {
		t.Fatal("the writer got no acknowledgements")
	}
	file := filepath.Join(dir, "cluster.srbak")
	backupStart := time.Now()
	if code, out := runBackupCLI(t, "backup", "--addr", strings.Join(addrs, ","), "--out", file); code != 0 {
		t.Fatalf("backup failed: %s\n%s", out, a.Tail(20))
	}
	stopWriter()
	wg.Wait()
	for _, s := range written {
		if s.acked.Before(backupStart) {
			before = append(before, s)
		}
	}
	t.Logf("%d sessions acknowledged before the backup began (%d written during the run)", len(before), len(written))
	code, out := runBackupCLI(t, "backup", "verify", file)
	if code != 0 {
		t.Fatalf("verify: %s", out)
	}
	t.Logf("verify:\n%s", out)
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}

	// Past the short session's deadline, by wall clock, before the new
	// cluster's leaders stamp their first entries.
	if wait := time.Until(short.acked.Add(2500 * time.Millisecond)); wait > 0 {
		time.Sleep(wait)
	}

	// A new cluster: its ports and data directories, emptied and restored.
	b, err := testcluster.Start(testcluster.Options{Dir: filepath.Join(dir, "b")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Stop() })
	var peers []string
	for _, nd := range b.Nodes {
		peers = append(peers, nd.ID+"="+nd.Raft)
	}
	for _, nd := range b.Nodes {
		if err := b.Kill(nd); err != nil {
			t.Fatal(err)
		}
	}
	for _, nd := range b.Nodes {
		if err := os.RemoveAll(nd.DataDir); err != nil {
			t.Fatal(err)
		}
		// A group count other than the backup's is refused, clearly.
		code, out := runBackupCLI(t, "restore", file, "--data-dir", nd.DataDir, "--id", nd.ID, "--peers", strings.Join(peers, ","), "--groups", "4")
		if code == 0 || !strings.Contains(out, "the backup holds 3 groups but the new cluster has 4") {
			t.Fatalf("restore with --groups 4: exit %d, %s", code, out)
		}
		code, out = runBackupCLI(t, "restore", file, "--data-dir", nd.DataDir, "--id", nd.ID, "--peers", strings.Join(peers, ","))
		if code != 0 {
			t.Fatalf("restore %s: %s", nd.ID, out)
		}
		// A second restore into the same directory is refused.
		if code, out := runBackupCLI(t, "restore", file, "--data-dir", nd.DataDir, "--id", nd.ID, "--peers", strings.Join(peers, ",")); code == 0 || !strings.Contains(out, "not empty") {
			t.Fatalf("restore into a restored directory: exit %d, %s", code, out)
		}
	}
	for _, nd := range b.Nodes {
		if err := b.Restart(nd); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.WaitReady(90 * time.Second); err != nil {
		t.Fatalf("restored cluster not ready: %v\n%s", err, b.Tail(30))
	}

	// Every session acknowledged before the backup began, as it was.
	for _, addr := range b.Addrs() {
		rc, err := resp.Dial(ctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range before {
			v, err := rc.Do(ctx, "SESSION.GET", s.id, "NOTOUCH")
			if err != nil {
				t.Fatalf("%s: GET %s: %v", addr, s.id, err)
			}
			if got := v.String(); got != s.record {
				t.Fatalf("%s: session %s after restore:\n%s\nwant\n%s", addr, s.id, got, s.record)
			}
		}
		// The short session's deadline passed since the backup: the log
		// clock, moved by the new leaders' first entries, expires it.
		v, err := rc.Do(ctx, "SESSION.GET", short.id, "NOTOUCH")
		if err == nil || !strings.HasPrefix(v.Str, "NOTFOUND") {
			t.Fatalf("%s: session with a 2s TTL, after restore: %v %v", addr, v, err)
		}
		rc.Close()
	}
}
