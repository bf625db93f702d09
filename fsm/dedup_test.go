package fsm

import "testing"

// TestDedupEntryOutcomes: common outcomes are kept in the entry's own
// fields, rare ones encoded, and both give back exactly what went in,
// also through the snapshot encoding.
func TestDedupEntryOutcomes(t *testing.T) {
	for _, o := range []outcome{
		{},
		{version: 7, id: "s1"},
		{version: 7},
		{count: 3},
		{count: -1},
		{code: codeExists, msg: "fsm: exists: id \"s1\""},
		{code: codeOther},
		{code: 200, msg: "m", version: 1, count: 2, id: "x"},
		{version: rareFlag, id: "s1"},
		{version: ^uint64(0)},
	} {
		e := newDedupEntry("r", 5, o)
		if got := e.outcome(); got != o {
			t.Errorf("%+v: kept as %+v", o, got)
		}
		rare := o.code != codeNone || o.msg != "" || o.count != 0 || o.version&rareFlag != 0
		if (e.version == rareFlag) != rare {
			t.Errorf("%+v: rare = %v", o, e.version == rareFlag)
		}
		d := decoder{buf: appendDedupEntry(nil, e)}
		again := decodeDedupEntry(&d, nil)
		if err := d.finish(); err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
		if *again != *e {
			t.Errorf("%+v: round trip %+v, want %+v", o, again, e)
		}
	}
}
