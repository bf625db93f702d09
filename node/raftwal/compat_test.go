package raftwal

import (
	"math/rand/v2"
	"os"
	"testing"
)

// oldReplay is how a binary from before write headers replays a segment:
// every intact record in order, deletions through the index's own checks,
// the first bad record ending the log.
func oldReplay(t *testing.T, data []byte) index {
	t.Helper()
	var x index
	for off := 0; off < len(data); {
		kind, payload, size, ok := parseRecord(data[off:])
		if !ok {
			break
		}
		if kind == kindEntry {
			i, err := entryIndex(payload)
			if err != nil {
				t.Fatal(err)
			}
			if err := x.add(i, loc{}); err != nil {
				t.Fatalf("old binary: record at %d: %v", off, err)
			}
		} else {
			min, max, err := parseDelete(payload)
			if err != nil {
				t.Fatal(err)
			}
			if err := x.checkDelete(min, max); err != nil {
				t.Fatalf("old binary: deletion at %d: %v", off, err)
			}
			x.remove(min, max)
		}
		off += size
	}
	return x
}

// A log written now opens with the binary before it (a rollback): the
// write headers read as deletions of nothing, and the log is the same.
func TestOldBinaryReadsNewLog(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{NoSync: true, SegmentBytes: 1 << 30})
	m := model{terms: map[uint64]uint64{}}
	randomOps(t, rand.New(rand.NewPCG(3, 3)), l, &m, 300)
	first, _ := l.FirstIndex()
	last, _ := l.LastIndex()
	l.Close()
	data, err := os.ReadFile(segmentPath(dir, 1))
	if err != nil {
		t.Fatal(err)
	}
	x := oldReplay(t, data)
	if x.first != first || x.last != last {
		t.Fatalf("old binary sees [%d, %d], the log is [%d, %d]", x.first, x.last, first, last)
	}
}
