package node

import (
	"bytes"
	"fmt"
	"path/filepath"
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
	wal, err := openWAL(dir, bolt, true, nil, nil)
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
	wal, err := openWAL(dir, bolt, true, nil, nil)
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
