package fsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"reflect"
	"slices"
	"testing"
)

// seedEntries returns a few generated raft entries to seed the fuzzers.
func seedEntries() [][]byte {
	log, _ := genLog(11, 12)
	out := [][]byte{EncodeBatch(sampleBatch()), EncodeBatch(&Batch{}), {}, {byte(CmdBatch)}}
	for _, e := range log {
		out = append(out, e.data)
	}
	return out
}

func FuzzDecodeBatch(f *testing.F) {
	for _, d := range seedEntries() {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := DecodeBatch(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownCmd) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			// ApplyBatch decodes on its own (entrybuf.go) and must refuse
			// the same entries with the same errors; it skips only an
			// entry of an ignorable top-level type.
			res, aerr := New(smallLimits).ApplyBatch(1, data)
			if len(data) > 0 && CmdType(data[0]) != CmdBatch && CmdType(data[0])&IgnorableFlag != 0 {
				if aerr != nil || res != nil {
					t.Fatalf("ignorable entry: %v, %v", res, aerr)
				}
			} else if aerr == nil || aerr.Error() != "entry 1: "+err.Error() {
				t.Fatalf("ApplyBatch error %v, DecodeBatch error %v", aerr, err)
			}
			return
		}
		again, err := DecodeBatch(EncodeBatch(b))
		if err != nil {
			t.Fatalf("re-encoding does not decode: %v", err)
		}
		if !reflect.DeepEqual(b, again) {
			t.Fatalf("round trip:\n%+v\n%+v", b, again)
		}
		// Whatever decodes applies deterministically, twice over (so the
		// second pass meets the first's records and request ids).
		f1, f2 := New(smallLimits), New(smallLimits)
		for idx := uint64(1); idx <= 2; idx++ {
			r1 := f1.ApplyDecoded(idx, b)
			r2, err := f2.ApplyBatch(idx, data)
			if err != nil {
				t.Fatalf("ApplyBatch: %v", err)
			}
			if !bytes.Equal(encodeResults(r1), encodeResults(r2)) {
				t.Fatal("results differ between ApplyDecoded and ApplyBatch")
			}
		}
		if f1.Hash() != f2.Hash() {
			t.Fatal("states differ between ApplyDecoded and ApplyBatch")
		}
	})
}

func FuzzDecodeCommand(f *testing.F) {
	for _, c := range sampleBatch().Cmds {
		f.Add(AppendCommand(nil, &c))
	}
	f.Add([]byte{byte(CmdSet), 1, 0})
	for _, cs := range tableSamples() { // every type, the Redis commands' included
		for _, c := range cs {
			f.Add(AppendCommand(nil, &c))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeCommand(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownCmd) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		again, err := DecodeCommand(AppendCommand(nil, c))
		if err != nil {
			t.Fatalf("re-encoding does not decode: %v", err)
		}
		if !reflect.DeepEqual(c, again) {
			t.Fatalf("round trip:\n%+v\n%+v", c, again)
		}
		_ = smallLimits.Check(c)
	})
}

func FuzzDecodeResult(f *testing.F) {
	rec := mkRecord("s1", "u", encFields(fl("a", "1")), Record{Version: 3, Created: t0})
	for _, r := range []*Result{
		{},
		{Version: 7, ID: "s1", Record: rec},
		{Version: 8, ID: "s2"},
		{Err: ErrNotFound, Count: 3},
		{Err: errors.New("other")},
		{Count: -3, Record: kindRecords()[5]},
		{Txn: &TxnResult{Aborted: true}},
		{Txn: &TxnResult{Results: []Result{{Err: ErrWrongType}, {Record: kindRecords()[3]}, {Count: -1}}}},
	} {
		f.Add(AppendResult(nil, r))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeResult(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error is not ErrCorrupt: %v", err)
			}
			return
		}
		enc := AppendResult(nil, r)
		again, err := DecodeResult(enc)
		if err != nil {
			t.Fatalf("re-encoding does not decode: %v", err)
		}
		if !bytes.Equal(enc, AppendResult(nil, again)) {
			t.Fatal("encoding is not stable")
		}
		if (r.Err == nil) != (again.Err == nil) || r.Err != nil && r.Err.Error() != again.Err.Error() {
			t.Fatalf("error %v became %v", r.Err, again.Err)
		}
		for _, s := range codeSentinels {
			if s != nil && errors.Is(r.Err, s) != errors.Is(again.Err, s) {
				t.Fatalf("error %v changed kind", r.Err)
			}
		}
	})
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(AppendRecord(nil, mkRecord("s1", "u", encFields(fl("a", "1", "b", "")), Record{Version: 3, Created: t0, AbsDeadline: -1})))
	f.Add(AppendRecord(nil, &Record{}))
	for _, r := range kindRecords() {
		f.Add(AppendRecord(nil, r))
	}
	// Out of order and duplicate names: corrupt.
	f.Add(AppendRecord(nil, mkRecord("s1", "", encFields([]Field{{"b", []byte("1")}, {"a", nil}}), Record{})))
	f.Add(AppendRecord(nil, mkRecord("s1", "", encFields([]Field{{"a", []byte("1")}, {"a", nil}}), Record{})))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRecord(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error is not ErrCorrupt: %v", err)
			}
			return
		}
		// The record shares no memory with its input, which a snapshot
		// reader reuses for the next frame.
		before := dump(r)
		for i := range data {
			data[i] ^= 0xff
		}
		if dump(r) != before {
			t.Fatalf("the record changed with its input:\n%s\n%s", before, dump(r))
		}
		var names []string
		for name, value := range r.Fields() {
			names = append(names, name)
			if cap(value) != len(value) {
				t.Fatalf("value %q has spare capacity %d: an append would write into its neighbour", name, cap(value))
			}
			if v, ok := r.Field(name); !ok || !bytes.Equal(v, value) {
				t.Fatalf("Field(%q) = %q, %v; Fields gave %q", name, v, ok, value)
			}
		}
		if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) || len(names) != r.NumFields() {
			t.Fatalf("fields out of order: %q", names)
		}
		again, err := DecodeRecord(AppendRecord(nil, r))
		if err != nil {
			t.Fatalf("re-encoding does not decode: %v", err)
		}
		if !sameRecord(r, again) {
			t.Fatalf("round trip:\n%s\n%s", dump(r), dump(again))
		}
		_ = r.Clone().Deadline()
		var members []string
		for m := range r.Members() {
			members = append(members, m)
			if !r.IsMember(m) {
				t.Fatalf("member %q is not IsMember", m)
			}
		}
		if !slices.IsSorted(members) || len(slices.Compact(slices.Clone(members))) != len(members) || len(members) != r.NumMembers() {
			t.Fatalf("members out of order: %q", members)
		}
		_, _ = r.Value()
		_ = r.Size()
	})
}

func FuzzRestore(f *testing.F) {
	small := New(Limits{})
	mustApply(f, small, 1, t0, cCreate("a", "u", flds("k", "v"), sec, 0))
	mustApply(f, small, 2, t0, withReq(cCreate("b", "", nil, 0, 3*sec), "r1"))
	mustApply(f, small, 3, t0, withReq(cRotate("b", "c", 0), "r2"))
	mustApply(f, small, 4, t0, cDestroy("a"))
	f.Add(snapshotBytes(f, small))
	f.Add(snapshotBytes(f, tombFSM(f)))
	f.Add(snapshotBytes(f, New(Limits{})))
	f.Add(snapshotBytes(f, populated(f, 10)))
	f.Add(toVersion2(f, snapshotBytes(f, small)))
	f.Fuzz(func(t *testing.T, data []byte) {
		// The checksum stops almost every mutation; also try each input
		// with a repaired checksum, so the fuzzer reaches the checks
		// behind it.
		try(t, data)
		if len(data) >= 4 {
			fixed := bytes.Clone(data)
			binary.BigEndian.PutUint32(fixed[len(fixed)-4:], crc32.Checksum(fixed[:len(fixed)-4], crcTable))
			try(t, fixed)
		}
	})
}

// try restores data into an FSM that has state of its own and checks that
// failure leaves that state alone and success gives a working FSM whose
// snapshot restores to the same state.
func try(t *testing.T, data []byte) {
	f := New(Limits{})
	f.ApplyDecoded(1, &Batch{Time: t0, Cmds: []Command{cCreate("mine", "u", nil, 0, 0)}})
	before := f.Hash()
	if err := f.Restore(bytes.NewReader(data)); err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error is not ErrCorrupt: %v", err)
		}
		if f.Hash() != before {
			t.Fatal("failed restore changed the state")
		}
		return
	}
	g := New(Limits{})
	if err := g.Restore(bytes.NewReader(snapshotBytes(t, f))); err != nil {
		t.Fatalf("snapshot of a restored state: %v", err)
	}
	if f.Hash() != g.Hash() {
		t.Fatal("restored states differ")
	}
	// The restored state must be usable: exercise every command on it.
	now := f.Clock()
	var some []string
	for _, r := range f.state.Load().records() {
		some = append(some, r.ID())
		if len(some) == 4 {
			break
		}
	}
	cmds := []Command{cExpire(f.Expired(now+100*sec, 10)...), cTouch(some, make([]int64, len(some)))}
	for _, id := range some {
		cmds = append(cmds, cSet(id, 0, flds("x", "y")), cRotate(id, id+"'", 0), cRevoke("u", ""), withReq(cDestroy(id), "r1"))
	}
	// Tombstones: ids just removed, and whatever the snapshot held.
	for _, id := range some {
		cmds = append(cmds, cCreate(id, "", nil, 0, 0), cRotate(id+"'", id, 0))
	}
	for i, e := range f.state.Load().tombs.entries() {
		if i == 4 {
			break
		}
		cmds = append(cmds, cCreate(e.id, "", nil, 0, 0))
	}
	res1 := f.ApplyDecoded(f.AppliedIndex()+1, &Batch{Time: now + sec, Cmds: cmds})
	res2 := g.ApplyDecoded(g.AppliedIndex()+1, &Batch{Time: now + sec, Cmds: cmds})
	if !bytes.Equal(encodeResults(res1), encodeResults(res2)) || f.Hash() != g.Hash() {
		t.Fatal("restored states diverge")
	}
}
