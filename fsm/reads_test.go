package fsm

import (
	"cmp"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

func TestGetHidesExpired(t *testing.T) {
	f := New(Limits{})
	mustApply(t, f, 1, t0, cCreate("s1", "u", nil, 30*sec, 0))
	mustGet(t, f, "s1", t0+30*sec-1)
	// By the reader's clock, before any expire commits.
	mustGone(t, f, "s1", t0+30*sec)
	if got := f.BySubject("u", t0+30*sec); len(got) != 0 {
		t.Errorf("BySubject shows expired: %v", ids(got))
	}
	// By the log clock, even for a reader whose clock lags.
	mustApply(t, f, 2, t0+31*sec, cCreate("other", "", nil, 0, 0))
	mustGone(t, f, "s1", t0)
	if got := f.BySubject("u", t0); len(got) != 0 {
		t.Errorf("BySubject shows expired: %v", ids(got))
	}
	if f.Len() != 2 {
		t.Errorf("Len = %d; expired records count until swept", f.Len())
	}
}

// TestGetAtIgnoresLogClock: GetAt (test hook only) judges expiry by the
// given time alone, where Get also applies the log clock.
func TestGetAtIgnoresLogClock(t *testing.T) {
	f := New(Limits{})
	mustApply(t, f, 1, t0, cCreate("s1", "u", nil, 30*sec, 0))
	mustApply(t, f, 2, t0+31*sec, cCreate("other", "", nil, 0, 0))
	mustGone(t, f, "s1", t0)
	if _, ok := f.GetAt("s1", t0); !ok {
		t.Error("GetAt hid a record not expired at the given time")
	}
	if _, ok := f.GetAt("s1", t0+30*sec); ok {
		t.Error("GetAt served a record expired at the given time")
	}
	if _, ok := f.GetAt("nope", t0); ok {
		t.Error("GetAt found a missing record")
	}
}

func TestBySubject(t *testing.T) {
	f := New(Limits{})
	for i, id := range []string{"c", "a", "d", "b"} {
		mustApply(t, f, uint64(i+1), t0, cCreate(id, "u", nil, 0, 0))
	}
	mustApply(t, f, 5, t0, cCreate("e", "u", nil, 0, sec))
	mustApply(t, f, 6, t0, cCreate("x", "v", nil, 0, 0))
	if got := ids(f.BySubject("u", t0)); !slices.Equal(got, []string{"a", "b", "c", "d", "e"}) {
		t.Errorf("u = %v", got)
	}
	if got := ids(f.BySubject("u", t0+sec)); !slices.Equal(got, []string{"a", "b", "c", "d"}) {
		t.Errorf("u later = %v", got)
	}
	if got := f.BySubject("", t0); got != nil {
		t.Errorf("empty subject = %v", ids(got))
	}
	if got := f.BySubject("nobody", t0); got != nil {
		t.Errorf("nobody = %v", ids(got))
	}
}

func TestExpired(t *testing.T) {
	f := New(Limits{})
	mustApply(t, f, 1, t0, cCreate("late", "", nil, 0, 50*sec))
	mustApply(t, f, 2, t0, cCreate("b", "", nil, 10*sec, 0))
	mustApply(t, f, 3, t0, cCreate("a", "", nil, 10*sec, 0))
	mustApply(t, f, 4, t0, cCreate("first", "", nil, 5*sec, 0))
	mustApply(t, f, 5, t0, cCreate("never", "", nil, 0, 0))

	for _, tc := range []struct {
		now   int64
		limit int
		want  []string
	}{
		{t0, 10, nil},
		{t0 + 5*sec - 1, 10, nil},
		{t0 + 5*sec, 10, []string{"first"}},
		{t0 + 10*sec, 10, []string{"first", "a", "b"}}, // equal deadlines by id
		{t0 + 10*sec, 2, []string{"first", "a"}},
		{t0 + 10*sec, 0, nil},
		{t0 + 1000*sec, 10, []string{"first", "a", "b", "late"}},
	} {
		if got := f.Expired(tc.now, tc.limit); !slices.Equal(got, tc.want) {
			t.Errorf("Expired(+%ds, %d) = %v, want %v", (tc.now-t0)/sec, tc.limit, got, tc.want)
		}
	}

	// The index follows touch, rotate and destroy.
	mustApply(t, f, 6, t0+4*sec, cTouch([]string{"first"}, []int64{t0 + 4*sec})) // now due at +9s
	mustApply(t, f, 7, t0+4*sec, cRotate("a", "z", 0))
	mustApply(t, f, 8, t0+4*sec, cDestroy("b"))
	if got, want := f.Expired(t0+10*sec, 10), []string{"first", "z"}; !slices.Equal(got, want) {
		t.Errorf("after changes: %v, want %v", got, want)
	}
	// now is raised to the log clock.
	mustApply(t, f, 9, t0+9*sec, cCreate("tick", "", nil, 0, 0))
	if got, want := f.Expired(t0, 10), []string{"first"}; !slices.Equal(got, want) {
		t.Errorf("lagging clock: %v, want %v", got, want)
	}
	mustApply(t, f, 10, t0+100*sec, cExpire(f.Expired(t0+100*sec, 10)...))
	if got := f.Expired(t0+1000*sec, 10); len(got) != 0 || f.Len() != 2 {
		t.Errorf("after sweep: %v, len %d", got, f.Len())
	}
	if n := len(f.state.Load().deadlines.heap); n != 0 {
		t.Errorf("%d empty buckets left after the sweep", n)
	}
}

// TestExpiredMatchesBruteForce checks the bucketed heap against sorting.
func TestExpiredMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	f := New(Limits{})
	type dl struct {
		d  int64
		id string
	}
	var all []dl
	var cmds []Command
	for i := range 5000 {
		id := "s" + strconv.Itoa(i)
		ttl := 1 + rng.Int64N(600*sec)
		if rng.IntN(10) == 0 {
			ttl = 1 + rng.Int64N(10*sec) // crowd the first buckets
		}
		cmds = append(cmds, cCreate(id, "", nil, 0, ttl))
		all = append(all, dl{t0 + ttl, id})
	}
	f.ApplyDecoded(1, &Batch{Time: t0, Cmds: cmds})
	slices.SortFunc(all, func(a, b dl) int { return cmp.Or(cmp.Compare(a.d, b.d), cmp.Compare(a.id, b.id)) })
	for range 200 {
		now := t0 + rng.Int64N(700*sec)
		limit := 1 + rng.IntN(300)
		var want []string
		for _, e := range all {
			if e.d > now || len(want) == limit {
				break
			}
			want = append(want, e.id)
		}
		if got := f.Expired(now, limit); !slices.Equal(got, want) {
			t.Fatalf("Expired(%d, %d): got %d ids, want %d", now-t0, limit, len(got), len(want))
		}
	}
}

// TestRecordsDoNotAliasCommands: ApplyDecoded copies what it keeps, so a
// caller may reuse its command's maps and values; a Clone of a shared
// record is the caller's own.
func TestRecordsDoNotAliasCommands(t *testing.T) {
	f := New(Limits{})
	fields := flds("a", "1")
	b := &Batch{Time: t0, Cmds: []Command{cCreate("s1", "", fields, 0, 0)}}
	res := f.ApplyDecoded(1, b)
	if r := mustGet(t, f, "s1", t0); res[0].Record != r {
		t.Errorf("result record %p is not the stored one %p", res[0].Record, r)
	}
	fields["a"][0] = 'Y'
	fields["b"] = []byte("2")
	set := flds("c", "3")
	res = f.ApplyDecoded(2, &Batch{Time: t0, Cmds: []Command{cSet("s1", 0, set)}})
	set["c"][0] = 'Z'
	c := res[0].Record.Clone()
	v, _ := c.Field("a")
	v[0] = 'W'
	r := mustGet(t, f, "s1", t0)
	if r.NumFields() != 2 || val(r, "a") != "1" || val(r, "c") != "3" {
		t.Errorf("stored record aliased caller memory: %q", r.payload())
	}
}

func TestApplyBatchUnknownTypes(t *testing.T) {
	f := New(Limits{})
	data := EncodeBatch(&Batch{Time: t0, Cmds: []Command{
		cCreate("s1", "", nil, 0, 0),
		{Type: IgnorableFlag | 3},
		cCreate("s2", "", nil, 0, 0),
	}})
	res, err := f.ApplyBatch(1, data)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 || res[0].Err != nil || !errors.Is(res[1].Err, ErrUnknownCmd) || res[2].Err != nil {
		t.Fatalf("results %+v", res)
	}

	before := f.Hash()
	bad := EncodeBatch(&Batch{Time: t0 + sec, Cmds: []Command{cCreate("s3", "", nil, 0, 0), {Type: 100}}})
	if _, err := f.ApplyBatch(2, bad); !errors.Is(err, ErrUnknownCmd) {
		t.Fatalf("non-ignorable type: err = %v", err)
	}
	if _, err := f.ApplyBatch(2, []byte{byte(CmdBatch), EnvelopeFlagsVersion + 1}); !errors.Is(err, ErrUnknownCmd) {
		t.Fatalf("future envelope: err = %v", err)
	}
	if _, err := f.ApplyBatch(2, []byte{byte(CmdBatch)}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("truncated: err = %v", err)
	}
	if f.Hash() != before {
		t.Fatal("a failed entry changed the state")
	}

	// A whole entry of an unknown ignorable type is skipped.
	res, err = f.ApplyBatch(3, []byte{byte(IgnorableFlag | 9), 1, 2, 3})
	if err != nil || res != nil || f.AppliedIndex() != 3 {
		t.Fatalf("ignorable entry: %v %v applied %d", res, err, f.AppliedIndex())
	}
}

func TestLimits(t *testing.T) {
	if err := DefaultLimits().Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (Limits{}).Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (Limits{MaxFields: -1}).Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("negative limit: %v", err)
	}
	if err := (Limits{MaxRecordBytes: maxRecordBytesLimit}).Validate(); err != nil {
		t.Fatalf("record limit at the bound: %v", err)
	}
	if err := (Limits{MaxRecordBytes: maxRecordBytesLimit + 1}).Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("record limit beyond 32-bit lengths: %v", err)
	}
	if got := New(Limits{MaxIDLen: 7}).Limits(); got.MaxIDLen != 7 || got.MaxRecordBytes != 4<<20 {
		t.Fatalf("defaults not filled: %+v", got)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("New accepted invalid limits")
		}
	}()
	New(Limits{DedupWindow: -1})
}

func TestCheck(t *testing.T) {
	l := smallLimits
	for _, tc := range []struct {
		c    Command
		want error
	}{
		{cCreate("s1", "", nil, 0, 0), nil},
		{cCreate("", "", nil, 0, 0), ErrInvalid},
		{cCreate("s1", "", flds("a", "123456789"), 0, 0), ErrTooLarge},
		{withReq(cDestroy("x"), "12345"), ErrTooLarge},
		{cSet("123456789", 0, nil), ErrTooLarge},
		{cTouch([]string{"a"}, nil), ErrInvalid},
		{cRotate("a", "a", 0), ErrInvalid},
		{cRevoke("", ""), ErrInvalid},
		{cExpire("a"), nil},
		{Command{Type: CmdDestroy}, ErrInvalid},
		{Command{Type: 77}, ErrUnknownCmd},
	} {
		if err := l.Check(&tc.c); (err == nil) != (tc.want == nil) || !errors.Is(err, tc.want) && tc.want != nil {
			t.Errorf("Check(type %d) = %v, want %v", tc.c.Type, err, tc.want)
		}
	}
}

// TestApplyBatchCopiesValues: ApplyBatch decodes field values as views of
// the entry, so the records must copy them: raft may reuse the entry's
// buffer once Apply returns.
func TestApplyBatchCopiesValues(t *testing.T) {
	f := New(Limits{})
	entry := EncodeBatch(&Batch{Time: t0, Cmds: []Command{cCreate("s1", "", flds("a", "value-a"), 0, 0)}})
	if _, err := f.ApplyBatch(1, entry); err != nil {
		t.Fatal(err)
	}
	set := EncodeBatch(&Batch{Time: t0, Cmds: []Command{cSet("s1", 0, flds("b", "value-b"))}})
	if _, err := f.ApplyBatch(2, set); err != nil {
		t.Fatal(err)
	}
	clear(entry)
	clear(set)
	if r := mustGet(t, f, "s1", t0); val(r, "a") != "value-a" || val(r, "b") != "value-b" {
		t.Errorf("record aliases the entries: %q", r.FieldMap())
	}
}
