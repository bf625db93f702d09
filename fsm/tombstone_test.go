package fsm

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func TestTombstoneMessage(t *testing.T) {
	f := New(Limits{})
	mustApply(t, f, 1, t0, cCreate("s1", "", nil, 0, 0))
	mustApply(t, f, 2, t0, cCreate("s2", "", nil, 0, 0))
	mustApply(t, f, 3, t0, cDestroy("s1"))
	res := f.ApplyDecoded(4, &Batch{Time: t0, Cmds: []Command{
		cCreate("s1", "", nil, 0, 0), cCreate("s2", "", nil, 0, 0), cRotate("s2", "s1", 0),
	}})
	for i, used := range []bool{true, false, true} {
		err := res[i].Err
		if !isErr(err, ErrExists) || strings.Contains(err.Error(), "used before") != used {
			t.Errorf("cmd %d: %v", i, err)
		}
	}
	// The message survives the trip back to a forwarding node.
	r, err := DecodeResult(AppendResult(nil, &res[0]))
	if err != nil || !isErr(r.Err, ErrExists) || r.Err.Error() != res[0].Err.Error() {
		t.Errorf("decoded %+v %v", r, err)
	}
}

// tombFSM returns an FSM whose tombstones include every kind the snapshot
// must keep: live ones, ended ones that pruning has not reached (more ended
// in one batch than a batch may prune), and a superseded entry (an id
// created and removed again before its ended tombstone was pruned).
func tombFSM(t testing.TB) *FSM {
	t.Helper()
	f := New(Limits{})
	const n = 3 * tombPruneMin
	var create, destroy []Command
	for i := range n {
		id := fmt.Sprintf("a%04d", i)
		create = append(create, cCreate(id, "", nil, 0, 0))
		destroy = append(destroy, cDestroy(id))
	}
	create = append(create, cCreate("s1", "u", nil, 0, 0), withReq(cCreate("s2", "u", nil, 0, 3600*sec), "r1"))
	f.ApplyDecoded(1, &Batch{Time: t0, Cmds: create})
	f.ApplyDecoded(2, &Batch{Time: t0, Cmds: append(destroy, cDestroy("s1"))})
	// At t0+600s all n+1 tombstones have ended; the batch recreates and
	// removes s1, then prunes only the first tombPruneMin+1 by (end, id):
	// a0000..., so s1's ended entry stays next to its new one.
	res := f.ApplyDecoded(3, &Batch{Time: t0 + 600*sec, Cmds: []Command{
		cCreate("s1", "u", nil, 0, 0), cDestroy("s1"), withReq(cRotate("s2", "s3", 0), "r2"),
	}})
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("cmd %d: %v", i, r.Err)
		}
	}
	tt := &f.state.Load().tombs
	if want := n + 1 + 2 - (tombPruneMin + 2); tt.len() != want || len(tt.m) != want-1 {
		t.Fatalf("%d heap entries, %d ids; want %d, %d", tt.len(), len(tt.m), want, want-1)
	}
	return f
}

func TestTombstoneSnapshotRoundTrip(t *testing.T) {
	f := tombFSM(t)
	data := snapshotBytes(t, f)
	g := New(Limits{})
	if err := g.Restore(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if f.Hash() != g.Hash() {
		t.Fatal("hash differs after restore")
	}
	if !bytes.Equal(data, snapshotBytes(t, g)) {
		t.Fatal("snapshot bytes differ between equal states")
	}
	now := f.Clock()
	// Both refuse the tombstoned ids, answer the dedup table with the
	// original ids, and go on pruning identically until nothing is left.
	steps := []struct {
		at   int64
		cmds []Command
	}{
		{now, []Command{
			cCreate("s1", "", nil, 0, 0),                      // live tombstone (removed at now)
			cCreate("s2", "", nil, 0, 0),                      // rotated away, deadline t0+3600s
			cCreate("a0300", "", nil, 0, 0),                   // ended, not pruned yet
			withReq(cCreate("zz", "", nil, 0, 0), "r1"),       // replay: created s2
			withReq(cRotate("s3", "s4", 0), "r2"),             // replay: rotated to s3
			withReq(cCreate("a0301", "", nil, 0, 0), "fresh"), // new
		}},
		{now + 599*sec, []Command{cCreate("s1", "", nil, 0, 0)}},
		{now + 600*sec, []Command{cCreate("s1", "", nil, 0, 0), cCreate("s2", "", nil, 0, 0)}},
		{t0 + 3600*sec, []Command{cCreate("s2", "", nil, 0, 0)}},
		{t0 + 3600*sec, nil},
		{t0 + 3600*sec, nil},
	}
	var got [][]Result
	for i, s := range steps {
		idx := f.AppliedIndex() + 1
		rf := f.ApplyDecoded(idx, &Batch{Time: s.at, Cmds: s.cmds})
		rg := g.ApplyDecoded(idx, &Batch{Time: s.at, Cmds: s.cmds})
		if !bytes.Equal(encodeResults(rf), encodeResults(rg)) || f.Hash() != g.Hash() {
			t.Fatalf("step %d: restored FSM diverged", i)
		}
		got = append(got, rf)
	}
	errs := func(rs []Result) []bool {
		var out []bool
		for _, r := range rs {
			out = append(out, r.Err != nil)
		}
		return out
	}
	for i, want := range [][]bool{
		{true, true, false, false, false, false},
		{true},
		{false, true},
		{false},
	} {
		if e := errs(got[i]); fmt.Sprint(e) != fmt.Sprint(want) {
			t.Errorf("step %d: errors %v, want %v (%+v)", i, e, want, got[i])
		}
	}
	if r := got[0][3]; r.ID != "s2" || r.Version != 1 {
		t.Errorf("create replay: %+v", r)
	}
	if r := got[0][4]; r.ID != "s3" || r.Version != 3 {
		t.Errorf("rotate replay: %+v", r)
	}
	if n := g.state.Load().tombs.len(); n != 0 {
		t.Errorf("%d tombstones left after all ended", n)
	}
}

// TestTombstonePruning checks that pruning does bounded work per batch,
// drains a backlog, and gives memory back once the backlog is gone.
func TestTombstonePruning(t *testing.T) {
	f := New(Limits{DedupWindow: 10 * sec})
	const n = 5000
	var create, destroy []Command
	for i := range n {
		id := fmt.Sprintf("k%05d", i)
		create = append(create, cCreate(id, "", nil, 0, 0))
		destroy = append(destroy, cDestroy(id))
	}
	f.ApplyDecoded(1, &Batch{Time: t0, Cmds: create})
	f.ApplyDecoded(2, &Batch{Time: t0, Cmds: destroy})
	tt := &f.state.Load().tombs
	if tt.len() != n || len(tt.m) != n {
		t.Fatalf("%d tombstones, want %d", tt.len(), n)
	}
	// Not ended: nothing goes.
	f.ApplyDecoded(3, &Batch{Time: t0 + 10*sec - 1})
	if tt.len() != n {
		t.Fatalf("pruned live tombstones: %d left", tt.len())
	}
	// Ended: at most tombPruneMin per batch that adds none, earliest
	// first, and a batch that adds k may prune k more.
	f.ApplyDecoded(4, &Batch{Time: t0 + 10*sec})
	if tt.len() != n-tombPruneMin || len(tt.m) != n-tombPruneMin {
		t.Fatalf("%d left after one batch, want %d", tt.len(), n-tombPruneMin)
	}
	_, first := tt.m["k00000"]
	_, next := tt.m[fmt.Sprintf("k%05d", tombPruneMin)]
	if first || !next {
		t.Fatal("pruned out of (end, id) order")
	}
	f.ApplyDecoded(5, &Batch{Time: t0 + 10*sec, Cmds: []Command{
		cCreate("x1", "", nil, 0, 0), cCreate("x2", "", nil, 0, 0), cDestroy("x1", "x2"),
	}})
	if want := n - 2*tombPruneMin - 2 + 2; tt.len() != want {
		t.Fatalf("%d left, want %d", tt.len(), want)
	}
	idx := uint64(6)
	for ; tt.len() > 2 && idx < 1000; idx++ {
		f.ApplyDecoded(idx, &Batch{Time: t0 + 10*sec})
	}
	if tt.len() != 2 || idx > 6+n/tombPruneMin+1 {
		t.Fatalf("%d left after %d batches", tt.len(), idx-6)
	}
	if cap(tt.h) > 1024 || tt.peak > 1024 {
		t.Errorf("memory kept after the backlog drained: heap cap %d, map peak %d", cap(tt.h), tt.peak)
	}
	f.ApplyDecoded(idx, &Batch{Time: t0 + 20*sec})
	if tt.len() != 0 || len(tt.m) != 0 {
		t.Fatalf("%d left", tt.len())
	}
}
