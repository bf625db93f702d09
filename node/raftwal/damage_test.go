package raftwal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/internal/crashfs"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// issueEntry is an entry of the size the issue's log had (1,000 entries,
// 123,000 bytes).
func issueEntry(i uint64) *raft.Log {
	return &raft.Log{Index: i, Term: 3, Type: raft.LogCommand, Data: fmt.Appendf(nil, "%078d", i)}
}

// writeLog writes entries first..last, batch per StoreLogs, and closes it.
func writeLog(t *testing.T, dir string, o Options, first, last uint64, batch int) {
	t.Helper()
	l := open(t, dir, o)
	for i := first; i <= last; i += uint64(batch) {
		var b []*raft.Log
		for j := i; j <= last && j < i+uint64(batch); j++ {
			b = append(b, issueEntry(j))
		}
		if err := l.StoreLogs(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// snapshotDir returns every file of dir with its bytes.
func snapshotDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = b
	}
	return files
}

func sameFiles(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}

// flip flips one bit of the file at off.
func flip(t *testing.T, path string, off int, bit uint) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 1 << bit
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// mustRefuse opens dir, wants ErrCorrupt naming the segment and offset,
// and wants every file unchanged.
func mustRefuse(t *testing.T, dir, what string, wantInMsg ...string) error {
	t.Helper()
	before := snapshotDir(t, dir)
	l, err := Open(dir, Options{Logger: quiet})
	if err == nil {
		l.Close()
		t.Fatalf("%s: Open succeeded", what)
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("%s: Open: %v, want ErrCorrupt", what, err)
	}
	for _, s := range wantInMsg {
		if !strings.Contains(err.Error(), s) {
			t.Fatalf("%s: error %q does not name %q", what, err, s)
		}
	}
	if !sameFiles(before, snapshotDir(t, dir)) {
		t.Fatalf("%s: a refused Open changed the files", what)
	}
	return err
}

// The issue's case: one flipped bit 10% into the last segment of a
// 1,000-entry log used to open with last index 100 and a file cut to a
// tenth. It must refuse, naming the damage, and change nothing.
func TestBitFlipInLastSegmentRefused(t *testing.T) {
	for _, batch := range []int{1, 16, 1000} {
		t.Run(fmt.Sprintf("batch=%d", batch), func(t *testing.T) {
			dir := t.TempDir()
			writeLog(t, dir, Options{NoSync: true}, 1, 1000, batch)
			seg := segmentPath(dir, 1)
			b, err := os.ReadFile(seg)
			if err != nil {
				t.Fatal(err)
			}
			off := recordsEnd(b) / 10
			flip(t, seg, off, 3)
			recOff, index := recordAt(t, seg, off)
			err = mustRefuse(t, dir, "bit flip", seg, fmt.Sprintf("byte offset %d", recOff), fmt.Sprintf("%d..", index))
			t.Log(err)
			// The same inside an entry's data: that entry is named.
			flip(t, seg, off, 3)
			at := entryOffset(t, seg, 100)
			flip(t, seg, at+30, 5)
			mustRefuse(t, dir, "bit flip in entry 100", seg, fmt.Sprintf("byte offset %d", at), "entries 100..100 are damaged", "up to entry 1000")
		})
	}
}

// entryOffset is where entry i's record starts in the segment.
func entryOffset(t *testing.T, path string, i uint64) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for p := 0; p < len(b); {
		kind, payload, size, ok := parseRecord(b[p:])
		if !ok {
			t.Fatalf("bad record at %d", p)
		}
		if j, _ := entryIndex(payload); kind == kindEntry && j == i {
			return p
		}
		p += size
	}
	t.Fatalf("no entry %d", i)
	return 0
}

// recordAt finds the record that covers byte off of the segment and the
// entry it holds, by walking the intact file's records.
func recordAt(t *testing.T, path string, off int) (int, uint64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p := 0
	var last uint64
	for p < len(b) {
		kind, payload, size, ok := parseRecord(b[p:])
		if !ok {
			// The damaged one: it holds the entry after the last intact one.
			return p, last + 1
		}
		if _, m := markerLen(kind, payload); kind == kindEntry && !m {
			last, _ = entryIndex(payload)
		}
		if p+size > off {
			return p, last
		}
		p += size
	}
	t.Fatalf("offset %d past the records", off)
	return 0, 0
}

// Damage anywhere but in the final write refuses, whatever the bit: every
// 61st byte of the file is flipped in turn.
func TestBitFlipAnywhereRefused(t *testing.T) {
	for _, batch := range []int{1, 7} {
		dir := t.TempDir()
		writeLog(t, dir, Options{NoSync: true, Logger: quiet, PreallocBytes: 8 << 10}, 1, 120, batch)
		seg := segmentPath(dir, 1)
		clean, _ := os.ReadFile(seg)
		lastWrite := lastWriteStart(t, clean)
		for off := 0; off < lastWrite; off += 61 {
			if err := os.WriteFile(seg, clean, 0o600); err != nil {
				t.Fatal(err)
			}
			flip(t, seg, off, uint(off%8))
			mustRefuse(t, dir, fmt.Sprintf("batch %d, bit flip at %d", batch, off), seg)
		}
	}
}

func lastWriteStart(t *testing.T, b []byte) int {
	t.Helper()
	p, start := 0, -1
	for p < len(b) && !allZero(b[p:]) {
		kind, payload, size, ok := parseRecord(b[p:])
		if !ok {
			t.Fatalf("bad record at %d", p)
		}
		if _, m := markerLen(kind, payload); m {
			start = p
		}
		p += size
	}
	return start
}

// recordsEnd is where a segment's records end: its length less the zeros
// preallocated after them.
func recordsEnd(b []byte) int {
	p := 0
	for p < len(b) && !allZero(b[p:]) {
		_, _, size, ok := parseRecord(b[p:])
		if !ok {
			break
		}
		p += size
	}
	return p
}

// secondOfSeveralSegments writes a log of several segments in dir and
// returns the path of its second: one that is neither first nor last.
func secondOfSeveralSegments(t *testing.T, dir string) string {
	t.Helper()
	writeLog(t, dir, Options{NoSync: true, SegmentBytes: 4096}, 1, 200, 1)
	seqs, _ := listSegments(crashfs.OS{}, dir)
	if len(seqs) < 3 {
		t.Fatalf("want several segments, got %d", len(seqs))
	}
	return segmentPath(dir, seqs[1])
}

// A bad record in a segment that is not the last refuses (as before), now
// naming the offset and entries.
func TestBitFlipEarlierSegmentRefused(t *testing.T) {
	dir := t.TempDir()
	seg := secondOfSeveralSegments(t, dir)
	flip(t, seg, 1000, 0)
	mustRefuse(t, dir, "flip in segment 2", seg, "byte offset", "not the last")
}

// An impossible length in the middle (over the limit, or running past the
// end of the file) is damage, not a torn tail.
func TestBadLengthInMiddleRefused(t *testing.T) {
	for name, length := range map[string]uint32{"over the limit": 0xfffffff0, "past the end": 200000} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeLog(t, dir, Options{NoSync: true}, 1, 1000, 1)
			seg := segmentPath(dir, 1)
			b, _ := os.ReadFile(seg)
			if len(b) == recordsEnd(b) {
				t.Fatalf("the segment has no preallocated zeros after its records")
			}
			off, _ := recordAt(t, seg, recordsEnd(b)/2)
			b[off], b[off+1], b[off+2], b[off+3] = byte(length), byte(length>>8), byte(length>>16), byte(length>>24)
			os.WriteFile(seg, b, 0o600)
			mustRefuse(t, dir, name, seg, fmt.Sprintf("byte offset %d", off))
		})
	}
}

// A log written before write headers existed (records only) gets the same
// treatment: a flip in the middle refuses, a torn or zero-filled tail is
// cut.
func TestLegacyLog(t *testing.T) {
	var b []byte
	var ends []int
	for i := uint64(1); i <= 300; i++ {
		p := append(indexBytes(i), encodeLog(nil, issueEntry(i))...)
		b = appendRecord(b, kindEntry, p)
		ends = append(ends, len(b))
	}
	dir := t.TempDir()
	seg := segmentPath(dir, 1)
	flipped := bytes.Clone(b)
	flipped[len(b)/10] ^= 0x10
	os.WriteFile(seg, flipped, 0o600)
	mustRefuse(t, dir, "legacy bit flip", seg, "entries")

	// Upgraded: today's writes follow the old records; damage in the old
	// part still refuses, as a write header follows it.
	os.WriteFile(seg, b, 0o600)
	writeLog(t, dir, Options{NoSync: true}, 301, 310, 3)
	mixed, _ := os.ReadFile(seg)
	l, err := Open(dir, Options{NoSync: true, Logger: quiet})
	if err != nil {
		t.Fatalf("old records then new writes: %v", err)
	}
	if first, last := mustRange(l); first != 1 || last != 310 {
		t.Fatalf("old records then new writes: [%d, %d], want [1, 310]", first, last)
	}
	l.Close()
	mixed[len(b)-50] ^= 1
	os.WriteFile(seg, mixed, 0o600)
	mustRefuse(t, dir, "flip in the old final record before new writes", seg, "write header")

	last := ends[len(ends)-2] // the final record is [last, len(b))
	for cut := last; cut <= len(b); cut++ {
		for _, pad := range []int{0, 100} {
			os.WriteFile(seg, append(bytes.Clone(b[:cut]), make([]byte, pad)...), 0o600)
			l, err := Open(dir, Options{NoSync: true, Logger: quiet})
			if err != nil {
				t.Fatalf("legacy cut at %d +%d zeros: %v", cut, pad, err)
			}
			want := uint64(299)
			if cut == len(b) || pad >= len(b)-cut && allZero(b[cut:]) {
				want = 300 // the zeros put back what was cut
			}
			if got, _ := l.LastIndex(); got != want {
				t.Fatalf("legacy cut at %d +%d zeros: last %d, want %d", cut, pad, got, want)
			}
			l.Close()
		}
	}
}

// Every state a power loss can leave in a multi-sector final write opens
// and drops that write whole: each sector of it lost in turn (zeros) with
// the later ones kept, and the write zero-filled from any byte on.
func TestTornFinalWrite(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, dir, Options{NoSync: true}, 1, 50, 5)
	l := open(t, dir, Options{NoSync: true})
	var batch []*raft.Log
	for i := uint64(51); i <= 100; i++ {
		batch = append(batch, issueEntry(i))
	}
	if err := l.StoreLogs(batch); err != nil {
		t.Fatal(err)
	}
	l.Close()
	seg := segmentPath(dir, 1)
	full, _ := os.ReadFile(seg)
	// The file as a log that grows it leaves it; below, also with the
	// zeros a preallocating one leaves after its records.
	full = full[:recordsEnd(full)]
	w0 := lastWriteStart(t, full)
	if len(full)-w0 < 4*sectorSize {
		t.Fatalf("final write of %d bytes, want several sectors", len(full)-w0)
	}
	var states [][]byte
	for s := w0 &^ (sectorSize - 1); s < len(full); s += sectorSize {
		b := bytes.Clone(full)
		clear(b[max(s, w0):min(s+sectorSize, len(b))])
		states = append(states, b)
	}
	for c := w0; c < len(full); c += 7 {
		b := bytes.Clone(full)
		clear(b[c:])
		states = append(states, b)
	}
	for _, prealloc := range []int{0, 3000} {
		for k, b := range states {
			b = append(bytes.Clone(b), make([]byte, prealloc)...)
			os.WriteFile(seg, b, 0o600)
			var logged bytes.Buffer
			l, err := Open(dir, Options{NoSync: true, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
			if err != nil {
				t.Fatalf("state %d+%d: %v", k, prealloc, err)
			}
			if first, last := mustRange(l); first != 1 || last != 50 {
				t.Fatalf("state %d+%d: range [%d, %d], want [1, 50]", k, prealloc, first, last)
			}
			l.Close()
			fi, _ := os.Stat(seg)
			msg := logged.String()
			if allZero(b[w0:]) {
				// None of the write reached the disk: the records end where
				// it began and only zeros follow, which is the end of the log
				// (the next append overwrites them); nothing to cut or say.
				if fi.Size() != int64(len(b)) || msg != "" {
					t.Fatalf("state %d+%d: file is %d bytes of %d, logged %q", k, prealloc, fi.Size(), len(b), msg)
				}
				continue
			}
			if fi.Size() != int64(w0) {
				t.Fatalf("state %d+%d: file is %d bytes, want %d", k, prealloc, fi.Size(), w0)
			}
			if !strings.Contains(msg, "torn final write") || !strings.Contains(msg, seg) || !strings.Contains(msg, fmt.Sprintf("bytes=%d", len(b)-w0)) {
				t.Fatalf("state %d+%d: log line %q does not report the cut", k, prealloc, msg)
			}
			// The line names the intact entries it cut, read before the
			// file (which Open maps) was truncated.
			if _, _, _, ok := parseRecord(b[w0+markerSize:]); ok && !strings.Contains(msg, "intact_entries_cut=51..") {
				t.Fatalf("state %d+%d: log line %q does not name the intact entries cut (51 on)", k, prealloc, msg)
			}
		}
	}
}

func mustRange(l *Log) (uint64, uint64) {
	first, _ := l.FirstIndex()
	last, _ := l.LastIndex()
	return first, last
}

// Damage that appears after Open is caught on read: GetLog returns
// ErrChecksum naming the entry, the segment and the offset, and leaves
// the caller's entry untouched.
func TestChecksumOnRead(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{NoSync: true})
	if err := l.StoreLogs(entries(1, 20, 1)); err != nil {
		t.Fatal(err)
	}
	at, _ := l.idx.get(7)
	seg := segmentPath(dir, 1)
	f, err := os.OpenFile(seg, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	f.ReadAt(b, at.off+int64(at.n)-3)
	b[0] ^= 0x40
	f.WriteAt(b, at.off+int64(at.n)-3)

	var e raft.Log
	err = l.GetLog(7, &e)
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("GetLog(7) on a damaged record: %v, want ErrChecksum", err)
	}
	for _, s := range []string{"entry 7", seg, fmt.Sprintf("byte offset %d", at.off)} {
		if !strings.Contains(err.Error(), s) {
			t.Fatalf("error %q does not name %q", err, s)
		}
	}
	if e.Index != 0 || e.Data != nil {
		t.Fatalf("GetLog filled the entry from a damaged record: %+v", e)
	}
	if err := l.GetLog(8, &e); err != nil {
		t.Fatalf("GetLog(8), intact: %v", err)
	}

	// A record that is intact but not the entry asked for (a misdirected
	// write) is caught too.
	at11, _ := l.idx.get(11)
	at12, _ := l.idx.get(12)
	rec := make([]byte, at12.n)
	f.ReadAt(rec, at12.off)
	if at11.n != at12.n {
		t.Fatalf("records 11 and 12 differ in size")
	}
	f.WriteAt(rec, at11.off)
	if err := l.GetLog(11, &e); !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "not that entry") {
		t.Fatalf("GetLog(11) reading entry 12's record: %v", err)
	}

	// A file cut underneath the log.
	if err := f.Truncate(at.off + 4); err != nil {
		t.Fatal(err)
	}
	if err := l.GetLog(15, &e); !errors.Is(err, ErrChecksum) {
		t.Fatalf("GetLog(15) past a cut file: %v, want ErrChecksum", err)
	}
}
