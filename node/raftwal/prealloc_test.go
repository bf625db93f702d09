package raftwal

import (
	"os"
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
	// Reopened without preallocation, as an older binary would: the same
	// log, and appends go on after the records (the zeros stay unused).
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
	writeLog(t, dir, Options{NoSync: true, SegmentBytes: 4096}, 1, 200, 1)
	seqs, _ := listSegments(crashfs.OS{}, dir)
	if len(seqs) < 3 {
		t.Fatalf("want several segments, got %d", len(seqs))
	}
	seg := segmentPath(dir, seqs[1])
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(seg, append(b, make([]byte, 4096)...), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRefuse(t, dir, "zeros after segment 2", seg, "not the last")
}
