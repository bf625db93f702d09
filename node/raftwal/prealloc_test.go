package raftwal

import (
	"io/fs"
	"math/rand/v2"
	"os"
	"syscall"
	"testing"

	"github.com/sessionraft/sessionraft/internal/crashfs"
)

// The last segment runs ahead of its records with zeros, a full one is cut
// back to its records before the next starts, and a log so written
// replays, takes appends where its records end and replays again.
func TestPreallocatedSegments(t *testing.T) {
	dir := t.TempDir()
	o := Options{SegmentBytes: 16 << 10, PreallocBytes: 4 << 10, NoSync: true}
	l := open(t, dir, o)
	m := model{terms: map[uint64]uint64{}}
	next := uint64(1)
	add := func(l *Log, n int, term uint64) {
		t.Helper()
		es := entries(next, next+uint64(n)-1, term)
		if err := l.StoreLogs(es); err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			m.terms[e.Index] = term
		}
		m.first, m.last = 1, next+uint64(n)-1
		next += uint64(n)
	}
	for range 300 {
		add(l, 3, 1)
	}
	layout := func() {
		t.Helper()
		seqs, err := listSegments(crashfs.OS{}, dir)
		if err != nil || len(seqs) < 3 {
			t.Fatalf("segments %v, %v: want several", seqs, err)
		}
		for k, seq := range seqs {
			b, err := os.ReadFile(segmentPath(dir, seq))
			if err != nil {
				t.Fatal(err)
			}
			end := recordsEnd(b)
			if k < len(seqs)-1 && end != len(b) {
				t.Fatalf("segment %d of %d: %d bytes of records in a file of %d", k+1, len(seqs), end, len(b))
			}
			if k == len(seqs)-1 && (len(b) <= end || len(b)%int(o.PreallocBytes) != 0 || !allZero(b[end:])) {
				t.Fatalf("last segment: %d bytes of records in a file of %d, want zeros up to a multiple of %d", end, len(b), o.PreallocBytes)
			}
		}
	}
	layout()
	check(t, l, m)
	l.Close()
	l = open(t, dir, o)
	check(t, l, m)
	add(l, 5, 2)
	layout()
	l.Close()
	// Reopened with preallocation off: the same log, and appends go on
	// after the records (the zeros stay unused). (A binary from before
	// preallocation cuts the zeros as a torn tail, with a warning:
	// docs/DURABILITY.md.)
	l = open(t, dir, Options{PreallocBytes: -1, NoSync: true})
	check(t, l, m)
	add(l, 2, 2)
	l.Close()
	check(t, open(t, dir, o), m)
}

// Zeros after the records of a segment that is not the last are damage:
// such a segment was cut back to its records and synced before the next
// one began, so lost data reads as zeros there, not unused space.
func TestZerosEndingEarlierSegmentRefused(t *testing.T) {
	dir := t.TempDir()
	seg := secondOfSeveralSegments(t, dir)
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(seg, append(b, make([]byte, 4096)...), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRefuse(t, dir, "zeros after segment 2", seg, "not the last")
}

// fullDisk is a file system on which writing zeros past byte limit of a
// file fails part-way with ENOSPC: the zero fill, never an append's
// records (the test's entries are not zeros).
type fullDisk struct {
	crashfs.FS
	limit int64
}

func (d fullDisk) Create(p string, perm fs.FileMode) (crashfs.File, error) {
	f, err := d.FS.Create(p, perm)
	return fullFile{f, d.limit}, err
}

func (d fullDisk) OpenRW(p string) (crashfs.File, error) {
	f, err := d.FS.OpenRW(p)
	return fullFile{f, d.limit}, err
}

type fullFile struct {
	crashfs.File
	limit int64
}

func (f fullFile) WriteAt(b []byte, off int64) (int, error) {
	if off+int64(len(b)) > f.limit && allZero(b) {
		n := max(0, min(int(f.limit-off), len(b)/2))
		if n > 0 {
			if _, err := f.File.WriteAt(b[:n], off); err != nil {
				return 0, err
			}
		}
		return n, syscall.ENOSPC
	}
	return f.File.WriteAt(b, off)
}

// A zero fill that fails (a full disk) fails no append: the records go on,
// the full segment is still cut back to them, and the log reopens whole.
func TestZeroFillFails(t *testing.T) {
	mem := crashfs.NewMem(rand.New(rand.NewPCG(1, 2)))
	if err := mem.MkdirAll("/data"); err != nil {
		t.Fatal(err)
	}
	o := Options{fs: fullDisk{mem, 3000}, SegmentBytes: 8 << 10, PreallocBytes: 4 << 10}
	l, err := Open("/data/wal", o)
	if err != nil {
		t.Fatal(err)
	}
	m := model{terms: map[uint64]uint64{}}
	for i := uint64(1); i <= 300; i++ {
		if err := l.StoreLog(entry(i, 1)); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		m.terms[i] = 1
	}
	m.first, m.last = 1, 300
	check(t, l, m)
	l.Close()
	seqs, err := listSegments(mem, "/data/wal")
	if err != nil || len(seqs) < 3 {
		t.Fatalf("segments %v, %v: want several", seqs, err)
	}
	for _, seq := range seqs[:len(seqs)-1] {
		b, err := mem.ReadFile(segmentPath("/data/wal", seq))
		if err != nil {
			t.Fatal(err)
		}
		if recordsEnd(b) != len(b) {
			t.Fatalf("segment %d: %d bytes of records in a file of %d", seq, recordsEnd(b), len(b))
		}
	}
	o.fs = mem
	check(t, open(t, "/data/wal", o), m)
}
