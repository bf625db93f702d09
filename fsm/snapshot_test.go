package fsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"slices"
	"testing"
)

// populated returns an FSM with a few hundred records of every kind and a
// non-empty dedup table.
func populated(t testing.TB, entries int) *FSM {
	t.Helper()
	log, _ := genLog(3, entries)
	f := New(Limits{DedupWindow: 30 * sec})
	for _, e := range log {
		if _, err := f.ApplyBatch(e.index, e.data); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// populatedSessions is populated with sessions only, as a binary before
// the Redis keys made them (version 2 and 3 snapshots).
func populatedSessions(t testing.TB, entries int) *FSM {
	t.Helper()
	g := newLogGen(3)
	g.noRedis = true
	log, _ := genLogWith(g, entries)
	f := New(Limits{DedupWindow: 30 * sec})
	for _, e := range log {
		if _, err := f.ApplyBatch(e.index, e.data); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func snapshotBytes(t testing.TB, f *FSM) []byte {
	t.Helper()
	s, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	var buf bytes.Buffer
	n, err := s.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("WriteTo reported %d bytes, wrote %d", n, buf.Len())
	}
	return buf.Bytes()
}

func TestSnapshotRoundTrip(t *testing.T) {
	f := populated(t, 400)
	data := snapshotBytes(t, f)
	g := New(Limits{DedupWindow: 30 * sec})
	if err := g.Restore(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if f.Hash() != g.Hash() {
		t.Fatal("hash differs after restore")
	}
	if f.Len() != g.Len() || f.Clock() != g.Clock() || f.AppliedIndex() != g.AppliedIndex() {
		t.Fatalf("%v vs %v", f, g)
	}
	now := f.Clock()
	for _, r := range f.state.Load().records() {
		a, okA := f.Get(r.ID(), now)
		b, okB := g.Get(r.ID(), now)
		if okA != okB || okA && !sameRecord(a, b) {
			t.Fatalf("Get(%q) differs: %+v vs %+v", r.ID(), a, b)
		}
		if !slices.EqualFunc(f.BySubject(r.Subject(), now), g.BySubject(r.Subject(), now), sameRecord) {
			t.Fatalf("BySubject(%q) differs", r.Subject())
		}
	}
	for _, later := range []int64{now, now + 10*sec, now + 1000*sec} {
		if !slices.Equal(f.Expired(later, 1000), g.Expired(later, 1000)) {
			t.Fatal("Expired differs")
		}
	}
	// Equal states write equal snapshots.
	if !bytes.Equal(data, snapshotBytes(t, g)) {
		t.Fatal("snapshot bytes differ between equal states")
	}
	// Both continue identically, dedup table included.
	gen := newLogGen(99)
	gen.f, gen.index, gen.now = g, g.AppliedIndex(), g.Clock()
	for range 200 {
		idx, b := gen.next() // applies to g
		f.ApplyDecoded(idx, b)
	}
	if f.Hash() != g.Hash() {
		t.Fatal("diverged after restore")
	}
}

func TestSnapshotIsPointInTime(t *testing.T) {
	f := populated(t, 200)
	want := f.Hash()
	s, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	if s.AppliedIndex() != f.AppliedIndex() {
		t.Fatal("snapshot index")
	}
	// Later applies, including deletes and rewrites, must not show.
	idx := f.AppliedIndex()
	for _, r := range f.state.Load().records() {
		idx++
		mustApply(t, f, idx, f.Clock(), cDestroy(r.ID()))
	}
	mustApply(t, f, idx+1, f.Clock(), cCreate("new", "", nil, 0, 0))
	var buf bytes.Buffer
	if _, err := s.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	g := New(Limits{})
	if err := g.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if g.Hash() != want {
		t.Fatal("snapshot saw later applies")
	}
}

func TestRestoreReplacesState(t *testing.T) {
	src := New(Limits{})
	mustApply(t, src, 1, t0, cCreate("keep", "u", nil, 0, 10*sec))
	data := snapshotBytes(t, src)

	f := New(Limits{})
	mustApply(t, f, 1, t0, cCreate("old", "u", nil, 0, 5*sec))
	mustApply(t, f, 2, t0, withReq(cCreate("old2", "v", nil, 0, 0), "r1"))
	if err := f.Restore(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if f.Hash() != src.Hash() || f.Len() != 1 || f.AppliedIndex() != 1 {
		t.Fatalf("state not replaced: %v", f)
	}
	mustGone(t, f, "old", t0)
	if got := ids(f.BySubject("u", t0)); !slices.Equal(got, []string{"keep"}) {
		t.Errorf("subject index = %v", got)
	}
	if got := f.Expired(t0+100*sec, 10); !slices.Equal(got, []string{"keep"}) {
		t.Errorf("deadline index = %v", got)
	}
	// The dedup table went too: r1 applies afresh.
	if r := applyOne(t, f, 3, t0, withReq(cCreate("old2", "v", nil, 0, 0), "r1")); r.Err != nil || r.Version != 3 {
		t.Errorf("replayed from a replaced dedup table: %+v", r)
	}
}

func TestRestoreRejectsDamage(t *testing.T) {
	src := New(Limits{})
	mustApply(t, src, 1, t0, cCreate("a", "u", flds("k", "v"), sec, 0))
	mustApply(t, src, 2, t0, withReq(cCreate("b", "", nil, 0, 0), "r1"))
	data := snapshotBytes(t, src)

	f := populated(t, 50)
	before := f.Hash()
	restore := func(d []byte) error {
		t.Helper()
		err := f.Restore(bytes.NewReader(d))
		if err != nil && f.Hash() != before {
			t.Fatal("failed restore changed the state")
		}
		return err
	}
	for n := range len(data) {
		if err := restore(data[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d/%d: %v", n, len(data), err)
		}
	}
	for i := range data {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			d := bytes.Clone(data)
			d[i] ^= x
			if err := restore(d); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("byte %d ^ %#x: %v", i, x, err)
			}
		}
	}
	for name, d := range map[string][]byte{
		"trailing data": append(bytes.Clone(data), 0),
		"bad magic":     append([]byte("XRSNAP"), data[6:]...),
		"version 1":     append([]byte("SRSNAP\x01"), data[7:]...),
		"version 5":     append([]byte("SRSNAP\x05"), data[7:]...),
		"empty":         nil,
	} {
		if err := restore(d); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Read errors are reported as themselves.
	boom := errors.New("boom")
	err := f.Restore(io.MultiReader(bytes.NewReader(data[:10]), &errReader{boom}))
	if !errors.Is(err, boom) || errors.Is(err, ErrCorrupt) {
		t.Errorf("read error: %v", err)
	}
	if f.Hash() != before {
		t.Fatal("state changed")
	}
	if err := restore(data); err != nil {
		t.Fatalf("the undamaged snapshot: %v", err)
	}
}

// TestRestoreRejectsInconsistent builds snapshots with valid checksums
// whose content breaks the format's rules.
func TestRestoreRejectsInconsistent(t *testing.T) {
	rec := func(id string) *Record { return mkRecord(id, "", nil, Record{}) }
	for name, s := range map[string]*Snapshot{
		"duplicate ids":     {recs: []*Record{rec("a"), rec("a")}},
		"empty id":          {recs: []*Record{rec("")}},
		"dedup repeats":     {dedup: []*dedupEntry{{reqID: "r", t: 1}, {reqID: "r", t: 2}}},
		"dedup time order":  {dedup: []*dedupEntry{{reqID: "r", t: 2}, {reqID: "s", t: 1}}},
		"dedup no id":       {dedup: []*dedupEntry{{t: 1}}},
		"dedup msg, no err": {dedup: []*dedupEntry{newDedupEntry("r", 0, outcome{msg: "x"})}},
		"dedup err and id":  {dedup: []*dedupEntry{newDedupEntry("r", 0, outcome{code: codeExists, msg: "x", id: "s1"})}},
		"tomb no id":        {tombs: []tombstone{{until: 5}}},
		"tomb repeats":      {tombs: []tombstone{{"a", 5}, {"a", 5}}},
	} {
		var buf bytes.Buffer
		if _, err := s.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		if err := New(Limits{}).Restore(&buf); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestRestoreTombstoneOrder writes tombstones in a chosen order, which
// WriteTo (it sorts) cannot.
func TestRestoreTombstoneOrder(t *testing.T) {
	raw := func(clock int64, recs []*Record, tombs ...tombstone) []byte {
		return rawSnapshot(snapVersion, clock, recs, tombs...)
	}
	v3 := func(clock int64, recs []*Record, tombs ...tombstone) []byte {
		return rawSnapshot(snapVersionSessions, clock, recs, tombs...)
	}
	rec := mkRecord("a", "", nil, Record{})
	str := mkRecord("a", "", stringData("", "", []byte("v")).payload(), Record{})
	for _, tc := range []struct {
		name  string
		data  []byte
		valid bool
	}{
		{"sorted", raw(5, nil, tombstone{"b", 4}, tombstone{"a", 6}, tombstone{"b", 6}), true},
		{"ended, then again", raw(5, nil, tombstone{"a", 5}, tombstone{"a", 7}), true},
		{"record and ended", raw(5, []*Record{rec}, tombstone{"a", 5}), true},
		{"ids unordered", raw(5, nil, tombstone{"b", 6}, tombstone{"a", 6}), false},
		{"ends unordered", raw(5, nil, tombstone{"a", 7}, tombstone{"b", 6}), false},
		{"same id, ends unordered", raw(0, nil, tombstone{"a", -1}, tombstone{"a", -2}), false},
		// Redis commands write over tombstones (version 4 on).
		{"record and live", raw(5, []*Record{rec}, tombstone{"a", 6}), true},
		{"live twice", raw(5, nil, tombstone{"a", 6}, tombstone{"a", 7}), true},
		{"v3 record and live", v3(5, []*Record{rec}, tombstone{"a", 6}), false},
		{"v3 live twice", v3(5, nil, tombstone{"a", 6}, tombstone{"a", 7}), false},
		{"v3 record and ended", v3(5, []*Record{rec}, tombstone{"a", 5}), true},
		{"v3 string", v3(5, []*Record{str}), false},
		{"string", raw(5, []*Record{str}), true},
	} {
		f := New(Limits{})
		err := f.Restore(bytes.NewReader(tc.data))
		if tc.valid && err != nil || !tc.valid && !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v", tc.name, err)
		}
		if tc.valid && err == nil {
			g := New(Limits{})
			if err := g.Restore(bytes.NewReader(snapshotBytes(t, f))); err != nil || g.Hash() != f.Hash() {
				t.Errorf("%s: rewritten: %v", tc.name, err)
			}
		}
	}
}

// rawSnapshot writes a snapshot of the given version (3 or later) with the
// records and tombstones in the order given.
func rawSnapshot(version byte, clock int64, recs []*Record, tombs ...tombstone) []byte {
	b := append([]byte(snapMagic), version)
	b = binary.AppendUvarint(b, 1)
	b = binary.AppendVarint(b, clock)
	b = binary.AppendUvarint(b, uint64(len(recs)))
	b = binary.AppendUvarint(b, 0)
	b = binary.AppendUvarint(b, uint64(len(tombs)))
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
	for _, r := range recs {
		b = appendFramed(b, func(b []byte) []byte { return AppendRecord(b, r) })
	}
	for _, e := range tombs {
		b = appendFramed(b, func(b []byte) []byte { return appendTombstone(b, e) })
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

func TestSnapshotRelease(t *testing.T) {
	s, _ := New(Limits{}).Snapshot()
	s.Release()
	if _, err := s.WriteTo(io.Discard); err == nil {
		t.Fatal("WriteTo after Release succeeded")
	}
}

func TestSnapshotWriteError(t *testing.T) {
	f := populated(t, 100)
	s, _ := f.Snapshot()
	defer s.Release()
	boom := errors.New("boom")
	if _, err := s.WriteTo(&errWriter{err: boom, after: 100}); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
}

type errReader struct{ err error }

func (r *errReader) Read([]byte) (int, error) { return 0, r.err }

type errWriter struct {
	err   error
	after int
}

func (w *errWriter) Write(p []byte) (int, error) {
	if len(p) > w.after {
		n := w.after
		w.after = 0
		return n, w.err
	}
	w.after -= len(p)
	return len(p), nil
}

// toVersion2 rewrites a current snapshot in version 2, the format without
// the header checksum, as a binary before version 3 wrote it.
func toVersion2(t testing.TB, v3 []byte) []byte {
	t.Helper()
	if string(v3[:len(snapMagic)]) != snapMagic || v3[len(snapMagic)] != snapVersion {
		t.Fatalf("not a version %d snapshot", snapVersion)
	}
	hdr := len(snapMagic) + 1
	for range 5 {
		_, n := binary.Uvarint(v3[hdr:])
		if n <= 0 {
			t.Fatal("bad header")
		}
		hdr += n
	}
	v2 := append([]byte(snapMagic), snapVersionNoHeaderCRC)
	v2 = append(v2, v3[len(snapMagic)+1:hdr]...)
	v2 = append(v2, v3[hdr+4:len(v3)-4]...)
	return binary.BigEndian.AppendUint32(v2, crc32.Checksum(v2, crcTable))
}

// TestRestoreVersion2: snapshots written before the header checksum was
// added restore to the same state, and are still checked as strictly.
func TestRestoreVersion2(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    *FSM
	}{
		{"empty", New(Limits{})},
		{"records", populatedSessions(t, 30)},
		{"tombstones", tombFSM(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v2 := toVersion2(t, snapshotBytes(t, tc.f))
			g := New(Limits{})
			if err := g.Restore(bytes.NewReader(v2)); err != nil {
				t.Fatal(err)
			}
			if g.Hash() != tc.f.Hash() {
				t.Fatal("version 2 restores to another state")
			}
			// Written again, it is the current version.
			if b := snapshotBytes(t, g); b[len(snapMagic)] != snapVersion {
				t.Fatalf("rewritten as version %d", b[len(snapMagic)])
			}
			for n := range len(v2) {
				if err := New(Limits{}).Restore(bytes.NewReader(v2[:n])); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("truncated to %d/%d: %v", n, len(v2), err)
				}
			}
		})
	}
}

// TestRestoreHeaderChecksum: a damaged count is caught before anything is
// sized from it.
func TestRestoreHeaderChecksum(t *testing.T) {
	data := snapshotBytes(t, populated(t, 10))
	hdrEnd := len(snapMagic) + 1
	for range 5 {
		_, n := binary.Uvarint(data[hdrEnd:])
		hdrEnd += n
	}
	for i := len(snapMagic) + 1; i < hdrEnd+4; i++ {
		d := bytes.Clone(data)
		d[i] ^= 0x40
		err := New(Limits{}).Restore(bytes.NewReader(d))
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("byte %d: %v", i, err)
		}
	}
	// The header alone, with a count far beyond the data and a correct
	// header checksum: sized up to maxPresize, then refused as truncated.
	h := append([]byte(snapMagic), snapVersion)
	for _, v := range []uint64{1, 0, 1 << 40, 1 << 40, 0} {
		h = binary.AppendUvarint(h, v)
	}
	h = binary.BigEndian.AppendUint32(h, crc32.Checksum(h, crcTable))
	if err := New(Limits{}).Restore(bytes.NewReader(h)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("huge counts: %v", err)
	}
}
