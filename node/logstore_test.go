package node

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/sessionraft/sessionraft/node/raftwal"
)

// A data directory from before the log moved to raftwal: the entries are
// copied out of raft.db, the vote stays, and a copy cut short by a crash
// is redone rather than trusted.
func TestImportBoltLog(t *testing.T) {
	for _, partial := range []uint64{0, 3} { // entries already in the log from an interrupted copy
		t.Run(fmt.Sprintf("partial=%d", partial), func(t *testing.T) {
			importCase(t, partial)
		})
	}
}

func importCase(t *testing.T, partial uint64) {
	t.Helper()
	dir := t.TempDir()
	bolt, logs := oldBoltLog(t, dir, 2, [2]uint64{5, 1500})
	if err := bolt.SetUint64([]byte("CurrentTerm"), 2); err != nil {
		t.Fatal(err)
	}
	if partial > 0 {
		w, err := raftwal.Open(filepath.Join(dir, "wal"), raftwal.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.StoreLogs(logs[:partial]); err != nil {
			t.Fatal(err)
		}
		w.Close()
	}
	wal, err := openWAL(dir, bolt, true, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wal.Close() })
	if f, _ := wal.FirstIndex(); f != 5 {
		t.Fatalf("first index %d", f)
	}
	if l, _ := wal.LastIndex(); l != 1500 {
		t.Fatalf("last index %d", l)
	}
	var e raft.Log
	if err := wal.GetLog(777, &e); err != nil || !bytes.Equal(e.Data, []byte("e777")) {
		t.Fatalf("entry 777: %+v %v", e, err)
	}
	if l, _ := bolt.LastIndex(); l != 0 {
		t.Fatalf("bolt still holds entries up to %d", l)
	}
	if term, err := bolt.GetUint64([]byte("CurrentTerm")); err != nil || term != 2 {
		t.Fatalf("term %d %v", term, err)
	}
}

// A follower's raft-boltdb log with a hole (old entries kept below a
// snapshot it installed): the run after the hole is what moves.
func TestImportBoltLogWithHole(t *testing.T) {
	dir := t.TempDir()
	bolt, _ := oldBoltLog(t, dir, 3, [2]uint64{1, 100}, [2]uint64{501, 510})
	wal, err := openWAL(dir, bolt, true, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wal.Close() })
	if f, _ := wal.FirstIndex(); f != 501 {
		t.Fatalf("first index %d, want 501", f)
	}
	if l, _ := wal.LastIndex(); l != 510 {
		t.Fatalf("last index %d, want 510", l)
	}
	if l, _ := bolt.LastIndex(); l != 0 {
		t.Fatalf("bolt still holds entries up to %d", l)
	}
}

// oldBoltLog writes a raft-boltdb file as the per-group layout had it, with
// entries of term in each inclusive range, and returns the open store and
// the entries.
func oldBoltLog(t *testing.T, dir string, term uint64, ranges ...[2]uint64) (*raftboltdb.BoltStore, []*raft.Log) {
	t.Helper()
	bolt, err := raftboltdb.NewBoltStore(filepath.Join(dir, "raft.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bolt.Close() })
	var logs []*raft.Log
	for _, r := range ranges {
		for i := r[0]; i <= r[1]; i++ {
			logs = append(logs, &raft.Log{Index: i, Term: term, Type: raft.LogCommand, Data: fmt.Appendf(nil, "e%d", i)})
		}
	}
	if err := bolt.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	return bolt, logs
}

// TestCheckedLogDamage: an entry damaged on disk after start-up is refused
// on read, and the node is told which group and why before raft sees the
// error.
func TestCheckedLogDamage(t *testing.T) {
	dir := t.TempDir()
	w, err := raftwal.Open(dir, raftwal.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	payload := bytes.Repeat([]byte("session-data-"), 20)
	var logs []*raft.Log
	for i := uint64(1); i <= 3; i++ {
		logs = append(logs, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: payload})
	}
	if err := w.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	// Flip one byte of entry 2's payload in the segment file.
	segs, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
	if len(segs) != 1 {
		t.Fatalf("segments: %v", segs)
	}
	b, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	first := bytes.Index(b, payload)
	at := bytes.Index(b[first+len(payload):], payload) + first + len(payload) + 7
	f, err := os.OpenFile(segs[0], os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{b[at] ^ 0x40}, int64(at)); err != nil {
		t.Fatal(err)
	}
	f.Close()

	var failures []error
	c := checkedLog{Log: w, group: 5, onFailure: func(err error) { failures = append(failures, err) }}
	var e raft.Log
	if err := c.GetLog(1, &e); err != nil {
		t.Fatalf("intact entry 1: %v", err)
	}
	if err := c.GetLog(2, &e); !errors.Is(err, raftwal.ErrChecksum) {
		t.Fatalf("damaged entry 2: err = %v, want ErrChecksum", err)
	}
	if len(failures) != 1 || !strings.Contains(failures[0].Error(), "group 5") || !errors.Is(failures[0], raftwal.ErrChecksum) {
		t.Fatalf("onFailure got %v", failures)
	}
	if err := c.GetLog(9, &e); !errors.Is(err, raft.ErrLogNotFound) || len(failures) != 1 {
		t.Fatalf("missing entry: %v (failures %d)", err, len(failures))
	}
}
