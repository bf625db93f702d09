package raftwal

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/internal/crashfs"
)

func open(t *testing.T, dir string, o Options) *Log {
	t.Helper()
	l, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func entry(i, term uint64) *raft.Log {
	return &raft.Log{Index: i, Term: term, Type: raft.LogCommand, Data: fmt.Appendf(nil, "entry %d term %d", i, term)}
}

func entries(from, to, term uint64) []*raft.Log {
	var ls []*raft.Log
	for i := from; i <= to; i++ {
		ls = append(ls, entry(i, term))
	}
	return ls
}

// model is what the log should hold: index -> term.
type model struct {
	first, last uint64
	terms       map[uint64]uint64
}

func (m *model) clone() model {
	c := model{first: m.first, last: m.last, terms: map[uint64]uint64{}}
	for k, v := range m.terms {
		c.terms[k] = v
	}
	return c
}

// check compares l with m: range and every entry's contents.
func check(t *testing.T, l *Log, m model) {
	t.Helper()
	first, _ := l.FirstIndex()
	last, _ := l.LastIndex()
	if first != m.first || last != m.last {
		t.Fatalf("range [%d, %d], want [%d, %d]", first, last, m.first, m.last)
	}
	for i := first; i != 0 && i <= last; i++ {
		var e raft.Log
		if err := l.GetLog(i, &e); err != nil {
			t.Fatalf("GetLog(%d): %v", i, err)
		}
		want := entry(i, m.terms[i])
		if e.Index != i || e.Term != want.Term || !bytes.Equal(e.Data, want.Data) || e.Type != want.Type {
			t.Fatalf("entry %d = %+v, want %+v", i, e, want)
		}
	}
	var e raft.Log
	if err := l.GetLog(last+1, &e); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("GetLog(last+1): %v", err)
	}
}

func TestAppendDeleteReopen(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{})
	check(t, l, model{})
	if err := l.StoreLogs(entries(1, 10, 1)); err != nil {
		t.Fatal(err)
	}
	if err := l.StoreLog(entry(11, 2)); err != nil {
		t.Fatal(err)
	}
	if err := l.StoreLogs(entries(11, 11, 2)); !errors.Is(err, ErrNotContiguous) {
		t.Fatalf("overlap: %v", err)
	}
	if err := l.StoreLogs([]*raft.Log{entry(12, 2), entry(14, 2)}); !errors.Is(err, ErrNotContiguous) {
		t.Fatalf("gap inside a batch: %v", err)
	}
	if err := l.DeleteRange(1, 3); err != nil { // compaction
		t.Fatal(err)
	}
	if err := l.DeleteRange(9, 11); err != nil { // conflicting suffix
		t.Fatal(err)
	}
	if err := l.DeleteRange(5, 6); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("middle deletion: %v", err)
	}
	if err := l.StoreLogs(entries(9, 9, 3)); err != nil {
		t.Fatal(err)
	}
	want := model{first: 4, last: 9, terms: map[uint64]uint64{4: 1, 5: 1, 6: 1, 7: 1, 8: 1, 9: 3}}
	check(t, l, want)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.StoreLog(entry(10, 3)); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	check(t, open(t, dir, Options{}), want)
}

// After a snapshot install raft empties the log and continues past the
// snapshot's index.
func TestEmptyThenJump(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{})
	if err := l.StoreLogs(entries(1, 5, 1)); err != nil {
		t.Fatal(err)
	}
	if err := l.DeleteRange(1, 5); err != nil {
		t.Fatal(err)
	}
	check(t, l, model{})
	if err := l.StoreLogs(entries(100, 102, 4)); err != nil {
		t.Fatal(err)
	}
	want := model{first: 100, last: 102, terms: map[uint64]uint64{100: 4, 101: 4, 102: 4}}
	check(t, l, want)
	l.Close()
	check(t, open(t, dir, Options{}), want)
}

// A follower that installed a snapshot past the end of its log continues
// after the snapshot: the entries before the gap go.
func TestGapAfterSnapshotInstall(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{})
	if err := l.StoreLogs(entries(1, 54, 1)); err != nil {
		t.Fatal(err)
	}
	if err := l.StoreLogs(entries(140, 141, 3)); err != nil {
		t.Fatal(err)
	}
	want := model{first: 140, last: 141, terms: map[uint64]uint64{140: 3, 141: 3}}
	check(t, l, want)
	l.Close()
	check(t, open(t, dir, Options{}), want)
}

// Compaction deletes whole segments; what is left replays to the same log.
func TestSegments(t *testing.T) {
	dir := t.TempDir()
	o := Options{SegmentBytes: 512, NoSync: true}
	l := open(t, dir, o)
	m := model{terms: map[uint64]uint64{}}
	for i := uint64(1); i <= 200; i++ {
		if err := l.StoreLog(entry(i, 1)); err != nil {
			t.Fatal(err)
		}
		m.terms[i] = 1
	}
	m.first, m.last = 1, 200
	before, _ := listSegments(crashfs.OS{}, dir)
	bytesBefore := l.Bytes()
	if err := l.DeleteRange(1, 150); err != nil {
		t.Fatal(err)
	}
	m.first = 151
	after, _ := listSegments(crashfs.OS{}, dir)
	if len(before) < 10 || len(after) >= len(before)/2 {
		t.Fatalf("segments: %d before compaction, %d after", len(before), len(after))
	}
	// Bytes follows the segment files' records: it drops with the removed
	// ones. The files hold them, and the last one up to a segment's size
	// of preallocated zeros after them.
	var onDisk int64
	for _, seq := range after {
		fi, err := os.Stat(segmentPath(dir, seq))
		if err != nil {
			t.Fatal(err)
		}
		onDisk += fi.Size()
	}
	if b := l.Bytes(); b > onDisk || onDisk > b+o.SegmentBytes || b >= bytesBefore {
		t.Fatalf("Bytes() = %d after compaction (%d before), segment files hold %d", b, bytesBefore, onDisk)
	}
	check(t, l, m)
	l.Close()
	check(t, open(t, dir, o), m)
}

// randomOps applies n random raft-like operations to l and m and returns,
// after each, the model and the active segment's size.
func randomOps(t *testing.T, rng *rand.Rand, l *Log, m *model, n int) {
	t.Helper()
	for range n {
		switch r := rng.IntN(10); {
		case r < 6 || m.last == 0: // append a batch
			term := uint64(1)
			if m.last > 0 {
				term = m.terms[m.last]
			}
			if rng.IntN(4) == 0 {
				term++
			}
			next := m.last + 1
			if m.last == 0 && rng.IntN(2) == 0 {
				next = uint64(rng.IntN(1000) + 1)
			} else if rng.IntN(10) == 0 { // past a snapshot: older entries go
				next += uint64(rng.IntN(50) + 1)
				m.first, m.last, m.terms = 0, 0, map[uint64]uint64{}
			}
			k := uint64(rng.IntN(5) + 1)
			if err := l.StoreLogs(entries(next, next+k-1, term)); err != nil {
				t.Fatal(err)
			}
			if m.last == 0 {
				m.first = next
			}
			for i := next; i < next+k; i++ {
				m.terms[i] = term
			}
			m.last = next + k - 1
		case r < 8: // compact a prefix
			max := m.first + uint64(rng.IntN(int(m.last-m.first+1)))
			if err := l.DeleteRange(m.first, max); err != nil {
				t.Fatal(err)
			}
			for i := m.first; i <= max; i++ {
				delete(m.terms, i)
			}
			if max == m.last {
				m.first, m.last = 0, 0
			} else {
				m.first = max + 1
			}
		default: // truncate a suffix
			min := m.first + uint64(rng.IntN(int(m.last-m.first+1)))
			if err := l.DeleteRange(min, m.last); err != nil {
				t.Fatal(err)
			}
			for i := min; i <= m.last; i++ {
				delete(m.terms, i)
			}
			if min == m.first {
				m.first, m.last = 0, 0
			} else {
				m.last = min - 1
			}
		}
	}
}

func TestRandomOpsReopen(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			dir := t.TempDir()
			o := Options{SegmentBytes: 1024, NoSync: true}
			m := model{terms: map[uint64]uint64{}}
			for range 5 {
				l, err := Open(dir, o)
				if err != nil {
					t.Fatal(err)
				}
				check(t, l, m)
				randomOps(t, rng, l, &m, 60)
				check(t, l, m)
				l.Close()
			}
		})
	}
}

// TestTornTail is the crash test: after every operation the expected log
// is noted along with the last segment's size; then the file is cut at
// every byte offset (and, separately, padded with zeros, as a crash during
// a file extension can leave it). Reopening must give exactly the state
// after the last operation that was completely on disk.
func TestTornTail(t *testing.T) {
	for seed := range uint64(5) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { tornTail(t, seed) })
	}
}

func tornTail(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	dir := t.TempDir()
	l := open(t, dir, Options{NoSync: true, SegmentBytes: 1 << 30})
	m := model{terms: map[uint64]uint64{}}
	randomOps(t, rng, l, &m, 20) // a history before the part we cut
	type point struct {
		size int64
		m    model
	}
	seg := l.segs[len(l.segs)-1]
	points := []point{{seg.size, m.clone()}}
	for range 8 {
		randomOps(t, rng, l, &m, 1)
		points = append(points, point{seg.size, m.clone()})
	}
	l.Close()
	data, err := os.ReadFile(seg.path)
	if err != nil {
		t.Fatal(err)
	}
	// Cut within the records, not in the zeros preallocated after them.
	data = data[:points[len(points)-1].size]
	cdir := t.TempDir()
	for cut := points[0].size; cut <= int64(len(data)); cut++ {
		// The last operation completely on disk, and the one cut (if any).
		done, cutOp := points[0].m, model{}
		for k, p := range points {
			if p.size <= cut {
				done, cutOp = p.m, model{}
				if k+1 < len(points) && points[k+1].size > cut {
					cutOp = points[k+1].m
				}
			}
		}
		for _, pad := range []int{0, 64} {
			tail := append(append([]byte(nil), data[:cut]...), make([]byte, pad)...)
			if err := os.WriteFile(filepath.Join(cdir, filepath.Base(seg.path)), tail, 0o600); err != nil {
				t.Fatal(err)
			}
			var logged bytes.Buffer
			cl, err := Open(cdir, Options{NoSync: true, PreallocBytes: 4 << 10, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
			if err != nil {
				t.Fatalf("cut at %d (+%d zeros): %v", cut, pad, err)
			}
			// Whatever is cut is said, with the segment and the bytes.
			size := int64(len(tail))
			cl.wmu.Lock()
			kept := cl.segs[len(cl.segs)-1].size
			cl.wmu.Unlock()
			// Zeros after whole writes are the log's end, not a tear: kept
			// in the file, silently, and overwritten by the next append.
			atBoundary := slices.ContainsFunc(points, func(p point) bool { return p.size == kept })
			cutSaid := strings.Contains(logged.String(), "torn final write") && strings.Contains(logged.String(), filepath.Base(seg.path)) && strings.Contains(logged.String(), fmt.Sprintf("bytes=%d", size-kept))
			if msg := logged.String(); kept < size && !cutSaid && !(atBoundary && allZero(tail[kept:]) && msg == "") ||
				kept == size && msg != "" {
				t.Fatalf("cut at %d (+%d zeros): kept %d of %d bytes, logged %q", cut, pad, kept, size, msg)
			}
			got := readModel(t, cl)
			// A deletion is one record: all or nothing. An append of k
			// entries is k records (after a deletion record if it leaves a
			// gap): any prefix of them may survive (raft never
			// acknowledged them, and a prefix keeps the log contiguous).
			if !(sameTerms(done, got) || isAppend(done, cutOp) && (got.last == 0 || got.first == cutOp.first) && within(got, cutOp) && within(common(done, cutOp), got)) {
				t.Fatalf("cut at %d (+%d zeros): got %v, want %v or part of the way to %v", cut, pad, got, done, cutOp)
			}
			check(t, cl, got)
			// The cut tail is gone, so appending works and survives.
			next := got.last + 1
			if err := cl.StoreLog(entry(next, 9)); err != nil {
				t.Fatalf("append after recovery: %v", err)
			}
			cl.Close()
		}
	}
}

// A bad record before the end of the log is corruption, not a torn tail.
func TestCorruptEarlierSegment(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{SegmentBytes: 256, NoSync: true})
	if err := l.StoreLogs(entries(1, 40, 1)); err != nil {
		t.Fatal(err)
	}
	for i := uint64(41); i <= 60; i++ {
		if err := l.StoreLog(entry(i, 1)); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	seqs, _ := listSegments(crashfs.OS{}, dir)
	if len(seqs) < 2 {
		t.Fatalf("want several segments, got %d", len(seqs))
	}
	path := segmentPath(dir, seqs[0])
	data, _ := os.ReadFile(path)
	data[20] ^= 0xff
	os.WriteFile(path, data, 0o600)
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open: %v, want ErrCorrupt", err)
	}
}

// FuzzReplay: any bytes as the only segment open without panicking, and
// what opens is a consistent log that accepts the next append.
func FuzzReplay(f *testing.F) {
	var seed []byte
	for i := uint64(1); i <= 3; i++ {
		p := append(indexBytes(i), encodeLog(nil, entry(i, 1))...)
		seed = appendRecord(seed, kindEntry, p)
	}
	seed = appendRecord(seed, kindDelete, deletePayload(1, 1))
	f.Add(seed)
	f.Add(seed[:len(seed)-3])
	f.Add([]byte{})
	written := writtenSegment(f)
	f.Add(written)
	f.Add(written[:len(written)-40])
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(segmentPath(dir, 1), b, 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := Open(dir, Options{NoSync: true, Logger: quiet})
		if err != nil {
			return
		}
		defer l.Close()
		first, _ := l.FirstIndex()
		last, _ := l.LastIndex()
		if (first == 0) != (last == 0) || first > last {
			t.Fatalf("range [%d, %d]", first, last)
		}
		for i := first; i != 0 && i <= last && i < first+100; i++ {
			var e raft.Log
			if err := l.GetLog(i, &e); err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("GetLog(%d): %v", i, err)
			}
		}
		if last < 1<<62 {
			if err := l.StoreLog(entry(last+1, 1)); err != nil {
				t.Fatalf("append: %v", err)
			}
		}
	})
}

// writtenSegment is a segment as the log writes it: appends, a gap, a
// compaction and a suffix truncation.
func writtenSegment(tb testing.TB) []byte {
	dir := tb.TempDir()
	l, err := Open(dir, Options{NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	for _, step := range []func() error{
		func() error { return l.StoreLogs(entries(1, 4, 1)) },
		func() error { return l.StoreLog(entry(5, 2)) },
		func() error { return l.DeleteRange(1, 2) },
		func() error { return l.DeleteRange(5, 5) },
		func() error { return l.StoreLogs(entries(9, 10, 3)) },
		func() error { return l.StoreLogs(entries(11, 11, 3)) },
	} {
		if err := step(); err != nil {
			tb.Fatal(err)
		}
	}
	l.Close()
	b, err := os.ReadFile(segmentPath(dir, 1))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func indexBytes(i uint64) []byte {
	return []byte{byte(i >> 56), byte(i >> 48), byte(i >> 40), byte(i >> 32), byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
}

// readModel reads the whole log back as a model.
func readModel(t *testing.T, l *Log) model {
	t.Helper()
	m := model{terms: map[uint64]uint64{}}
	m.first, _ = l.FirstIndex()
	m.last, _ = l.LastIndex()
	for i := m.first; i != 0 && i <= m.last; i++ {
		var e raft.Log
		if err := l.GetLog(i, &e); err != nil {
			t.Fatalf("GetLog(%d): %v", i, err)
		}
		m.terms[i] = e.Term
	}
	return m
}

// within reports whether every entry of a is in b with the same term.
func within(a, b model) bool {
	for i, term := range a.terms {
		if bt, ok := b.terms[i]; !ok || bt != term {
			return false
		}
	}
	return true
}

func sameTerms(a, b model) bool { return within(a, b) && within(b, a) }

// isAppend reports whether the operation from a to b appended entries.
func isAppend(a, b model) bool { return b.last != 0 && b.last > a.last }

// common is the part of a that b also holds.
func common(a, b model) model {
	c := model{terms: map[uint64]uint64{}}
	for i, term := range a.terms {
		if b.terms[i] == term {
			c.terms[i] = term
		}
	}
	return c
}

// A failed write is reported once and leaves the log refusing writes.
func TestWriteFailure(t *testing.T) {
	var reported []error
	l := open(t, t.TempDir(), Options{NoSync: true, OnFailure: func(err error) { reported = append(reported, err) }})
	if err := l.StoreLogs(entries(1, 3, 1)); err != nil {
		t.Fatal(err)
	}
	l.segs[len(l.segs)-1].f.Close() // the next write fails
	if err := l.StoreLog(entry(4, 1)); err == nil {
		t.Fatal("write to a closed file succeeded")
	}
	if err := l.StoreLog(entry(4, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("second write: %v, want ErrClosed", err)
	}
	if len(reported) != 1 {
		t.Fatalf("OnFailure called %d times, want 1", len(reported))
	}
	if last, _ := l.LastIndex(); last != 3 {
		t.Fatalf("last index %d after failed writes, want 3", last)
	}
}

// BytesFrom counts the records of the entries the log holds from an index
// on; a compacted prefix, still on disk in its segment, is not counted.
func TestBytesFrom(t *testing.T) {
	l := open(t, t.TempDir(), Options{NoSync: true})
	defer l.Close()
	var batch []*raft.Log
	for i := uint64(1); i <= 20; i++ {
		batch = append(batch, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: make([]byte, 1000)})
	}
	if err := l.StoreLogs(batch); err != nil {
		t.Fatal(err)
	}
	all := l.BytesFrom(1)
	if all < 20*1000 || all > l.Bytes() {
		t.Fatalf("BytesFrom(1) = %d for 20 entries of 1,000 bytes (file %d)", all, l.Bytes())
	}
	if got, want := l.BytesFrom(11), all/2; got != want {
		t.Fatalf("BytesFrom(11) = %d, want half of %d", got, all)
	}
	if l.BytesFrom(0) != all || l.BytesFrom(21) != 0 || l.BytesFrom(1<<40) != 0 {
		t.Fatalf("BytesFrom(0, 21, 2^40) = %d, %d, %d", l.BytesFrom(0), l.BytesFrom(21), l.BytesFrom(1<<40))
	}
	if err := l.DeleteRange(1, 15); err != nil {
		t.Fatal(err)
	}
	if got, want := l.BytesFrom(1), all/4; got != want || l.Bytes() < all {
		t.Fatalf("after deleting 1..15: BytesFrom(1) = %d, want %d (file %d)", got, want, l.Bytes())
	}
}
