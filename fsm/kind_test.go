package fsm

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"testing"
)

// kindRecords returns one record of every layout.
func kindRecords() []*Record {
	base := Record{Version: 7, Created: t0, LastAccess: t0 + 1, AbsDeadline: t0 + 9}
	session := base
	session.IdleTimeout = 30 * sec
	return []*Record{
		mkRecord("k", "u", buildFieldList(fl("a", "1")), session),
		mkRecord("k", "", nil, base),
		mkRecord("k", "", hashData("", "", false, fl("a", "1", "b", "")).payload(), base),
		mkRecord("k", "", stringData("", "", []byte("value")).payload(), base),
		mkRecord("k", "", stringData("", "", nil).payload(), base),
		mkRecord("k", "", membersData("", "", []string{"", "a", "b"}).payload(), base),
	}
}

func TestRecordKinds(t *testing.T) {
	recs := kindRecords()
	for i, want := range []struct {
		kind    Kind
		session bool
		fields  int
		value   string
		members int
		size    int
	}{
		{KindHash, true, 1, "", 0, 1 + 1 + 2},
		{KindHash, true, 0, "", 0, 1},
		{KindHash, false, 2, "", 0, 1 + 3},
		{KindString, false, 0, "value", 0, 1 + 5},
		{KindString, false, 0, "", 0, 1},
		{KindSet, false, 0, "", 3, 1 + 2},
	} {
		r := recs[i]
		v, isStr := r.Value()
		if r.Kind() != want.kind || r.Session() != want.session || r.NumFields() != want.fields ||
			string(v) != want.value || isStr != (want.kind == KindString) || r.NumMembers() != want.members || r.Size() != want.size {
			t.Errorf("record %d: kind %s session %v fields %d value %q members %d size %d", i, r.Kind(), r.Session(), r.NumFields(), v, r.NumMembers(), r.Size())
		}
		if isStr && v == nil {
			t.Errorf("record %d: an empty string reads as nil", i)
		}
		if isStr && cap(v) != len(v) {
			t.Errorf("record %d: value has spare capacity", i)
		}
		// Round trip, and a copy by Clone.
		got, err := DecodeRecord(AppendRecord(nil, r))
		if err != nil || !sameRecord(got, r) {
			t.Errorf("record %d round trip: %v\n%s\n%s", i, err, dump(got), dump(r))
		}
		if !sameRecord(r.Clone(), r) {
			t.Errorf("record %d: clone differs", i)
		}
	}
	if Kind(0).String() != "none" || KindSet.String() != "set" || Kind(9).String() != "kind 9" {
		t.Error("Kind.String")
	}
}

// TestRecordEncodingGolden pins the record encodings: a session's is
// version 1, byte for byte what binaries before the Redis keys wrote (an
// older node reads the sessions a newer one forwards), the other kinds'
// version 2.
func TestRecordEncodingGolden(t *testing.T) {
	recs := kindRecords()
	for i, want := range []string{
		// Written by the binary before the Redis keys, for the same records.
		"01016b0175078080d0e2c6bfce972f8280d0e2c6bfce972f80b09dc2df019280d0e2c6bfce972f0101610131",
		"01016b00078080d0e2c6bfce972f8280d0e2c6bfce972f009280d0e2c6bfce972f00",
		// Version 2.
		"02016b00078080d0e2c6bfce972f8280d0e2c6bfce972f009280d0e2c6bfce972f010201610131016200",
		"02016b00078080d0e2c6bfce972f8280d0e2c6bfce972f009280d0e2c6bfce972f020576616c7565",
		"02016b00078080d0e2c6bfce972f8280d0e2c6bfce972f009280d0e2c6bfce972f0200",
		"02016b00078080d0e2c6bfce972f8280d0e2c6bfce972f009280d0e2c6bfce972f03030001610162",
	} {
		if got := hex.EncodeToString(AppendRecord(nil, recs[i])); got != want {
			t.Errorf("record %d:\n got %s\nwant %s", i, got, want)
		}
	}
	// Corrupt version 2 bodies.
	head := AppendRecord(nil, mkRecord("k", "", stringData("", "", nil).payload(), Record{}))
	head = head[:len(head)-2]
	head[0] = recordVersionKind
	for name, body := range map[string][]byte{
		"plain hash without fields": {byte(KindHash), 0},
		"empty set":                 {byte(KindSet), 0},
		"set out of order":          {byte(KindSet), 2, 1, 'b', 1, 'a'},
		"set duplicate":             {byte(KindSet), 2, 1, 'a', 1, 'a'},
		"unknown kind":              {9, 0},
		"kind zero":                 {0, 0},
		"string truncated":          {byte(KindString), 5, 'a'},
	} {
		if _, err := DecodeRecord(append(bytes.Clone(head), body...)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestResultEncodingTxn(t *testing.T) {
	rec := kindRecords()[3]
	for i, r := range []*Result{
		{Version: 3, Count: 1},
		{Count: math.MinInt64, Record: rec},
		{Txn: &TxnResult{Aborted: true}},
		{Txn: &TxnResult{Results: []Result{{Err: ErrWrongType}, {Record: rec}, {Count: 2}, {}}}},
		{Txn: &TxnResult{}},
	} {
		enc := AppendResult(nil, r)
		got, err := DecodeResult(enc)
		if err != nil {
			t.Fatalf("result %d: %v", i, err)
		}
		if !bytes.Equal(AppendResult(nil, got), enc) {
			t.Errorf("result %d: encoding not stable", i)
		}
		if got.Count != r.Count || (got.Txn == nil) != (r.Txn == nil) || (got.Record == nil) != (r.Record == nil) {
			t.Fatalf("result %d: %+v, want %+v", i, got, r)
		}
		// Without a transaction, a result is still version 2.
		if (enc[0] == resultVersionTxn) != (r.Txn != nil) {
			t.Errorf("result %d: version %d", i, enc[0])
		}
		if r.Txn == nil {
			continue
		}
		if got.Txn.Aborted != r.Txn.Aborted || len(got.Txn.Results) != len(r.Txn.Results) {
			t.Fatalf("result %d: %+v, want %+v", i, got.Txn, r.Txn)
		}
		for j, ir := range r.Txn.Results {
			g := got.Txn.Results[j]
			if errors.Is(g.Err, ErrWrongType) != (ir.Err != nil) || g.Count != ir.Count || !sameRecord(g.Record, ir.Record) {
				t.Errorf("result %d.%d: %+v, want %+v", i, j, g, ir)
			}
		}
	}
	// A transaction's result inside one is refused.
	inner := AppendResult(nil, &Result{Txn: &TxnResult{}})
	outer := AppendResult(nil, &Result{Txn: &TxnResult{}})
	outer = outer[:len(outer)-1] // no results
	outer = append(outer, 1, byte(len(inner)))
	outer = append(outer, inner...)
	if _, err := DecodeResult(outer); !errors.Is(err, ErrCorrupt) {
		t.Errorf("nested transaction result: %v", err)
	}
}
