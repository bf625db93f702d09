package fsm

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
)

// Without FlagForgetFailures a failed command's outcome is remembered (the
// meaning of every existing log); with it, a retry of the same ReqID runs
// again. Both are deterministic: two FSMs fed the same entries agree.
func TestForgetFailures(t *testing.T) {
	for _, flags := range []BatchFlags{0, FlagForgetFailures} {
		t.Run(fmt.Sprintf("flags=%d", flags), func(t *testing.T) {
			f, g := New(Limits{}), New(Limits{})
			apply := func(index uint64, c Command) Result {
				t.Helper()
				b := &Batch{Time: t0 + int64(index)*sec, Flags: flags, Cmds: []Command{c}}
				r1 := f.ApplyDecoded(index, b)
				r2, err := g.ApplyBatch(index, EncodeBatch(b))
				if err != nil {
					t.Fatal(err)
				}
				if (r1[0].Err == nil) != (r2[0].Err == nil) {
					t.Fatalf("decoded and encoded apply disagree: %v vs %v", r1[0].Err, r2[0].Err)
				}
				return r1[0]
			}
			// A set of a missing session fails...
			checkErr(t, apply(1, withReq(cSet("s1", 0, flds("a", "1")), "r1")).Err, ErrNotFound)
			wantDedup := 1
			if flags&FlagForgetFailures != 0 {
				wantDedup = 0
			}
			if n := f.state.Load().dedup.len(); n != wantDedup {
				t.Fatalf("dedup entries after a failure = %d, want %d", n, wantDedup)
			}
			// ...and its retry, once the session exists, runs again only
			// under the flag.
			mustApply(t, f, 2, t0+2*sec, cCreate("s1", "", nil, 0, 0))
			if _, err := g.ApplyBatch(2, EncodeBatch(&Batch{Time: t0 + 2*sec, Cmds: []Command{cCreate("s1", "", nil, 0, 0)}})); err != nil {
				t.Fatal(err)
			}
			r := apply(3, withReq(cSet("s1", 0, flds("a", "1")), "r1"))
			if flags&FlagForgetFailures != 0 {
				checkErr(t, r.Err, nil)
			} else {
				checkErr(t, r.Err, ErrNotFound)
			}
			// A success is remembered either way.
			if r := apply(4, withReq(cSet("s1", 0, flds("b", "2")), "r2")); r.Err != nil || f.state.Load().dedup.get("r2", t0+4*sec, f.limits.DedupWindow) == nil {
				t.Fatalf("success not remembered: %v", r.Err)
			}
			if f.Hash() != g.Hash() {
				t.Fatal("replicas diverged")
			}
		})
	}
}

func TestBatchFlagsEncoding(t *testing.T) {
	b := &Batch{Time: t0, Cmds: []Command{cDestroy("x")}}
	if e := EncodeBatch(b); e[1] != EnvelopeVersion {
		t.Fatalf("a batch without flags has envelope version %d, want %d", e[1], EnvelopeVersion)
	}
	b.Flags = FlagForgetFailures
	e := EncodeBatch(b)
	if e[1] != EnvelopeFlagsVersion {
		t.Fatalf("a flagged batch has envelope version %d", e[1])
	}
	got, err := DecodeBatch(e)
	if err != nil || got.Flags != FlagForgetFailures || got.Time != t0 || len(got.Cmds) != 1 {
		t.Fatalf("decoded %+v, %v", got, err)
	}
	res := New(Limits{}).ApplyDecoded(1, &Batch{Time: t0, Flags: 1 << 5, Cmds: []Command{cDestroy("x")}})
	checkErr(t, res[0].Err, ErrUnknownCmd)
}

// The memory estimate follows records, tombstones and dedup entries, and
// a restored replica computes the same figure.
func TestMemoryUsage(t *testing.T) {
	f := New(Limits{})
	if m := f.MemoryUsage(); m != 0 {
		t.Fatalf("empty FSM uses %d", m)
	}
	big := bytes.Repeat([]byte("v"), 100_000)
	mustApply(t, f, 1, t0, withReq(cCreate("s1", "u", map[string][]byte{"f": big}, 0, 0), "req1"))
	afterCreate := f.MemoryUsage()
	if afterCreate < 100_000 || afterCreate > 101_000 {
		t.Fatalf("after a 100 kB create: %d", afterCreate)
	}
	mustApply(t, f, 2, t0+sec, cDestroy("s1"))
	afterDestroy := f.MemoryUsage()
	if afterDestroy >= 1000 || afterDestroy <= 0 {
		t.Fatalf("after destroy (a tombstone and a dedup entry left): %d", afterDestroy)
	}
	g := New(Limits{})
	if err := g.Restore(bytes.NewReader(snapshotBytes(t, f))); err != nil {
		t.Fatal(err)
	}
	if g.MemoryUsage() != afterDestroy {
		t.Fatalf("restored estimate %d, want %d", g.MemoryUsage(), afterDestroy)
	}
	// After the dedup window the tombstone and the entry are pruned.
	w := f.Limits().DedupWindow
	mustApply(t, f, 3, t0+2*w, cDestroy("none"))
	if m := f.MemoryUsage(); m != 0 {
		t.Fatalf("after the window: %d", m)
	}
}

func TestSubjectPage(t *testing.T) {
	f := New(Limits{})
	var want []string
	for i := range 2500 {
		id := fmt.Sprintf("id%05d", i)
		want = append(want, id)
		ttl := int64(0)
		if i%10 == 3 {
			ttl = 5 * sec // expired when the pages are read
		}
		mustApply(t, f, uint64(i+1), t0, cCreate(id, "u", flds("k", "v"), 0, ttl))
	}
	mustApply(t, f, 2501, t0, cCreate("other", "v", nil, 0, 0))
	now := t0 + 10*sec
	live := slices.DeleteFunc(slices.Clone(want), func(id string) bool { r, ok := f.Get(id, now); return !ok || r == nil })
	var got []string
	after, pages := "", 0
	for {
		p := f.SubjectPage("u", after, 300, 1<<20, now)
		pages++
		if len(p.Records) > 300 {
			t.Fatalf("page of %d", len(p.Records))
		}
		for _, r := range p.Records {
			got = append(got, r.ID())
		}
		if !p.More {
			break
		}
		after = p.Next
		if pages > 100 {
			t.Fatal("paging does not end")
		}
	}
	if !slices.Equal(got, live) {
		t.Fatalf("paged %d ids, want %d (first %v)", len(got), len(live), got[:min(3, len(got))])
	}
	// The byte bound cuts pages short, but never below one record.
	p := f.SubjectPage("u", "", 300, 1, now)
	if len(p.Records) != 1 || !p.More || p.Next != p.Records[0].ID() {
		t.Fatalf("byte-bound page: %d records, more %v, next %q", len(p.Records), p.More, p.Next)
	}
	if n := f.SubjectLen("u"); n != 2500 {
		t.Fatalf("SubjectLen = %d", n)
	}
	if p := f.SubjectPage("nobody", "", 10, 1<<20, now); len(p.Records) != 0 || p.More {
		t.Fatalf("page of an unknown subject: %+v", p)
	}
}
