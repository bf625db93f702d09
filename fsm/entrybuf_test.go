package fsm

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// rawFieldsEntry returns an entry of one create (id "s1") and one set of
// that id, each with the given name/value pairs written in the order
// given: encoders sort names, but ApplyBatch must take whatever
// DecodeBatch takes. The list claims n fields, len(kv)/2 if n < 0.
func rawFieldsEntry(n int, kv ...string) []byte {
	if n < 0 {
		n = len(kv) / 2
	}
	list := binary.AppendUvarint(nil, uint64(n))
	for i := 0; i+1 < len(kv); i += 2 {
		list = appendString(list, kv[i])
		list = appendString(list, kv[i+1])
	}
	create := appendString(nil, "")       // ReqID
	create = appendString(create, "s1")   // ID
	create = appendString(create, "subj") // Subject
	create = append(create, list...)
	create = append(create, 0, 0) // IdleTimeout, AbsTTL
	set := appendString(nil, "")
	set = appendString(set, "s1")
	set = append(set, 0) // IfVersion
	set = append(set, list...)
	set = append(set, 0, 0) // Unset, AbsTTL
	e := []byte{byte(CmdBatch), EnvelopeVersion}
	e = binary.AppendVarint(e, t0)
	e = append(e, 2)
	e = append(e, byte(CmdCreate), cmdVersion)
	e = appendBytes(e, create)
	e = append(e, byte(CmdSet), cmdVersion)
	e = appendBytes(e, set)
	return e
}

// TestApplyBatchFieldOrder: ApplyBatch reads fields as sorted views
// (entrybuf.go), not as DecodeBatch's maps, yet it accepts the same
// entries, fails with the same errors, and applies them the same.
func TestApplyBatchFieldOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		ok   bool
	}{
		{"ascending", rawFieldsEntry(-1, "a", "1", "b", "2", "c", "3"), true},
		{"descending", rawFieldsEntry(-1, "c", "3", "b", "2", "a", "1"), true},
		{"shuffled", rawFieldsEntry(-1, "b", "2", "c", "3", "a", "1"), true},
		{"empty name first", rawFieldsEntry(-1, "", "0", "a", "1"), true},
		{"empty name last", rawFieldsEntry(-1, "a", "1", "", "0"), true},
		{"adjacent duplicate", rawFieldsEntry(-1, "a", "1", "a", "2"), false},
		{"duplicate after disorder", rawFieldsEntry(-1, "b", "1", "a", "2", "b", "3"), false},
		{"first duplicate wins", rawFieldsEntry(-1, "c", "1", "a", "2", "c", "3", "a", "4"), false},
		// The count runs past the fields, into the bytes after them.
		{"duplicate before truncation", rawFieldsEntry(4, "a", "1", "a", "2", "b", "3"), false},
		{"truncated", rawFieldsEntry(5, "a", "1", "b", "2"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := New(Limits{})
			res, err := f.ApplyBatch(1, tc.data)
			b, derr := DecodeBatch(tc.data)
			if (derr == nil) != tc.ok {
				t.Fatalf("DecodeBatch: %v", derr)
			}
			if derr != nil {
				if want := "entry 1: " + derr.Error(); err == nil || err.Error() != want {
					t.Fatalf("ApplyBatch error %v, want %s", err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("ApplyBatch: %v", err)
			}
			g := New(Limits{})
			if want := g.ApplyDecoded(1, b); !bytes.Equal(encodeResults(res), encodeResults(want)) {
				t.Errorf("results differ from ApplyDecoded")
			}
			if f.Hash() != g.Hash() {
				t.Errorf("state differs from ApplyDecoded")
			}
		})
	}
}

// TestApplyBatchKeepsNoViews: ApplyBatch decodes some strings as views of
// the entry (a create's id, ReqIDs) and copies what it keeps, so a state
// built from an entry whose bytes are then overwritten, as raft may
// reuse them, is the state built from a copy.
func TestApplyBatchKeepsNoViews(t *testing.T) {
	first := &Batch{Time: t0, Cmds: []Command{
		withReq(cCreate("with-fields", "subj", flds("v", "value"), 0, 60*sec), "req-1"),
		withReq(cCreate("no-fields", "", nil, 30*sec, 0), "req-2"),
		cCreate("no-req", "", flds("a", "1", "b", "2"), 0, 0),
		withReq(cCreate("with-fields", "", nil, 0, 0), "req-3"), // fails: exists
	}}
	second := &Batch{Time: t0 + sec, Cmds: []Command{
		withReq(cCreate("other", "", nil, 0, 0), "req-1"), // a replay: answered from the table
		withReq(cCreate("no-fields", "", nil, 0, 0), "req-4"),
		cCreate("three-fields", "a-subject", flds("x", "", "yy", "1", "zzz", "22"), sec, 0),
	}}
	f, g := New(Limits{}), New(Limits{})
	for i, b := range []*Batch{first, second} {
		data := EncodeBatch(b)
		got, err := f.ApplyBatch(uint64(i+1), data)
		if err != nil {
			t.Fatal(err)
		}
		for j := range data {
			data[j] = 0xff
		}
		want := g.ApplyDecoded(uint64(i+1), b)
		if !bytes.Equal(encodeResults(got), encodeResults(want)) {
			t.Errorf("entry %d: results differ from ApplyDecoded's", i+1)
		}
	}
	if f.Hash() != g.Hash() {
		t.Errorf("state differs from ApplyDecoded's")
	}
	for _, id := range []string{"with-fields", "no-fields", "no-req"} {
		if r, ok := f.Get(id, t0+sec); !ok || r.ID() != id {
			t.Errorf("Get(%q) = %v, %v", id, r, ok)
		}
	}
	if e := f.state.Load().dedup.get("req-1", t0+sec, f.limits.DedupWindow); e == nil || e.reqID != "req-1" || e.id != "with-fields" {
		t.Errorf("dedup entry of req-1: %+v", e)
	}
	// Restore counts each record's memory from the record (Size), which
	// create counted from its fields.
	r := New(Limits{})
	if err := r.Restore(bytes.NewReader(snapshotBytes(t, f))); err != nil {
		t.Fatal(err)
	}
	if r.MemoryUsage() != f.MemoryUsage() {
		t.Errorf("restored memory estimate %d, applied %d", r.MemoryUsage(), f.MemoryUsage())
	}
}
