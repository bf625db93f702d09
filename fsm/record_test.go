package fsm

import (
	"reflect"
	"testing"
	"unsafe"
)

// A node holds millions of records: the header is 64 bytes (a size class)
// only while id, subject and payload share one pointer (Record.data).
func TestRecordHeaderIs64Bytes(t *testing.T) {
	if n := unsafe.Sizeof(Record{}); n != 64 {
		t.Fatalf("Record is %d bytes, want 64 (see Record.data)", n)
	}
}

func TestRecordPartsShareOneAllocation(t *testing.T) {
	fs := fl("a", "1", "bb", "22")
	var r Record
	if n := testing.AllocsPerRun(100, func() { r.setFields("id-1", "user", fs) }); n != 1 {
		t.Fatalf("setFields made %v allocations, want 1", n)
	}
	if r.ID() != "id-1" || r.Subject() != "user" {
		t.Fatalf("id %q subject %q", r.ID(), r.Subject())
	}
	if v, ok := r.Field("bb"); !ok || string(v) != "22" {
		t.Fatalf("Field(bb) = %q, %v", v, ok)
	}
	p := r.payload()
	if cap(p) != len(p) {
		t.Fatalf("payload has spare capacity %d > %d: an append would write into the record", cap(p), len(p))
	}
	if unsafe.StringData(r.Subject()) != (*byte)(unsafe.Add(unsafe.Pointer(unsafe.StringData(r.ID())), len(r.ID()))) ||
		unsafe.SliceData(p) != (*byte)(unsafe.Add(unsafe.Pointer(unsafe.StringData(r.Subject())), len(r.Subject()))) {
		t.Fatal("id, subject and payload are not back to back")
	}
}

// Every combination of empty parts reads back as made, and an empty
// part is "" or nil.
func TestRecordEmptyParts(t *testing.T) {
	for _, tc := range []struct {
		id, subject string
		payload     []byte
	}{
		{"", "", nil}, {"k", "", nil}, {"", "u", nil}, {"", "", []byte{1}},
		{"k", "u", nil}, {"k", "", []byte{1}}, {"", "u", []byte{1}}, {"k", "u", []byte{1, 2}},
	} {
		r := mkRecord(tc.id, tc.subject, tc.payload, Record{})
		if r.ID() != tc.id || r.Subject() != tc.subject || string(r.payload()) != string(tc.payload) {
			t.Errorf("made %q %q %x, read %q %q %x", tc.id, tc.subject, tc.payload, r.ID(), r.Subject(), r.payload())
		}
		if tc.payload == nil && r.payload() != nil {
			t.Errorf("%q %q: no payload reads as %#v, want nil", tc.id, tc.subject, r.payload())
		}
	}
	var zero Record
	if zero.ID() != "" || zero.Subject() != "" || zero.payload() != nil {
		t.Error("the zero Record is not empty")
	}
}

// A record changed by a command gets data of its own; the old record,
// which readers and snapshots may still hold, keeps its bytes.
func TestChangedRecordLeavesOldData(t *testing.T) {
	old := mkRecord("k", "u", buildFieldList(fl("a", "1")), Record{Version: 1})
	before := dump(old)
	c := changed(old, 2, t0, hashData(old.ID(), old.Subject(), true, fl("a", "2")))
	if v, _ := c.Field("a"); string(v) != "2" || c.ID() != "k" || c.Subject() != "u" {
		t.Fatalf("changed record: %s", dump(c))
	}
	w := withDeadline(c, 3, t0, t0+sec)
	if w.data != c.data || w.AbsDeadline != t0+sec {
		t.Fatalf("withDeadline copied the data or lost the deadline: %s", dump(w))
	}
	if dump(old) != before {
		t.Fatalf("old record changed: %s, was %s", dump(old), before)
	}
}

// sameRecord and dump name every field of a Record: a new one must be
// added to them.
func TestRecordFieldsAreCompared(t *testing.T) {
	if n := reflect.TypeOf(Record{}).NumField(); n != 9 {
		t.Fatalf("Record has %d fields; sameRecord and dump know 9", n)
	}
}

// inside reports whether s's bytes lie in r's data.
func inside(s string, r *Record) bool {
	if s == "" || r.data == nil {
		return false
	}
	start := uintptr(unsafe.Pointer(r.data))
	end := start + uintptr(r.idLen) + uintptr(r.subjectLen) + uintptr(r.payloadLen)
	p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
	return p >= start && p < end
}

// The subject index and a destroyed session's tombstone keep copies of
// the strings they hold: a view of a record's data would keep all of it
// (payload included) alive after the record is gone.
func TestIndexesKeepNoRecordData(t *testing.T) {
	f := New(Limits{})
	big := string(make([]byte, 64<<10))
	mustApply(t, f, 1, t0, cCreate("s1", "u", map[string][]byte{"f": []byte(big)}, 0, 0))
	mustApply(t, f, 2, t0, cCreate("s2", "u", nil, 0, 0))
	s1, ok := f.Get("s1", t0)
	if !ok {
		t.Fatal("s1 missing")
	}
	mustApply(t, f, 3, t0, cDestroy("s1"))
	st := f.state.Load()
	for subject := range st.subjects {
		if inside(subject, s1) {
			t.Error("the subject index's key is a view of a destroyed record's data")
		}
	}
	for id := range st.tombs.m {
		if inside(id, s1) {
			t.Error("the tombstone's id is a view of the destroyed record's data")
		}
	}
	if !st.tombs.live("s1", t0) {
		t.Fatal("no tombstone for s1")
	}
}
