//go:build linux

package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sessionraft/sessionraft/internal/testcluster"
	"github.com/sessionraft/sessionraft/transport/resp"
)

// TestDiskAlarmTmpfs runs a node on a small tmpfs the test mounts (root
// only) and fills the file system for real: creates get DISKFULL once the
// free space (statfs, no test hook) is below --min-free-disk, reads keep
// working, and writes resume by themselves once the space is freed.
func TestDiskAlarmTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	mnt := t.TempDir()
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=96m"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(mnt, unix.MNT_DETACH) })
	cfg := testConfig(t, "n1", filepath.Join(mnt, "data"))
	cfg.BootstrapExpect = 1
	cfg.NoSync = true
	cfg.MinFreeDisk = 32 << 20
	cfg.DiskCheckInterval = 50 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	cl, err := resp.Dial(ctx, n.clientAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	create := func() error {
		_, err := cl.Do(ctx, "SESSION.CREATE", "SUBJECT", "s", "TTL", "1h", "FIELDS", "k", "v")
		return err
	}
	var last error
	if !testcluster.WaitFor(30*time.Second, func() bool { last = create(); return last == nil }) {
		t.Fatalf("the node takes no writes: %v", last)
	}
	v, err := cl.Do(ctx, "SESSION.CREATE", "SUBJECT", "keep", "TTL", "1h")
	if err != nil {
		t.Fatal(err)
	}
	var keep string
	for i := 0; i+1 < len(v.Elems); i += 2 {
		if v.Elems[i].Str == "id" {
			keep = v.Elems[i+1].Str
		}
	}

	// Fill the file system to 16 MiB free: below the 32 MiB floor.
	free, _, err := fsSpace(mnt)
	if err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for left := int64(free) - 16<<20; left > 0; left -= int64(len(chunk)) {
		if _, err := f.Write(chunk[:min(int64(len(chunk)), left)]); err != nil {
			t.Fatalf("filling the tmpfs: %v", err)
		}
	}
	f.Close()
	if !testcluster.WaitFor(10*time.Second, func() bool {
		last = create()
		return last != nil && strings.HasPrefix(last.Error(), "DISKFULL")
	}) {
		t.Fatalf("creates not refused on a file system below --min-free-disk: %v", last)
	}
	t.Logf("refused: %v", last)
	if _, err := cl.Do(ctx, "SESSION.GET", keep); err != nil {
		t.Fatalf("read refused on a full disk: %v", err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if !testcluster.WaitFor(10*time.Second, func() bool { last = create(); return last == nil }) {
		t.Fatalf("writes did not resume after space was freed: %v", last)
	}

	// Fill it to the last byte: the entries that still flow (leader
	// clock ticks, expiry) hit a real ENOSPC in the raft log, and the
	// node stops cleanly, saying why, instead of panicking.
	f, err = os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{1 << 20, 4096, 1} {
		for {
			if _, err := f.Write(chunk[:size]); err != nil {
				break
			}
		}
	}
	f.Close()
	// Deletes are still taken with the alarm raised: they append to the
	// log until it cannot grow.
	deadline := time.After(30 * time.Second)
	for stopped := false; !stopped; {
		select {
		case <-n.Done():
			stopped = true
		case <-deadline:
			t.Fatal("the node still runs 30s after its file system filled up")
		default:
			_, _ = cl.Do(ctx, "SESSION.DESTROY", "no-such-session-"+strings.Repeat("x", 200))
		}
	}
	if err := n.Err(); err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("the node stopped with %v, want the ENOSPC named", err)
	} else {
		t.Logf("stopped: %v", err)
	}
}
