package fsm

import "testing"

// TableSizes counts a destroy's tombstone and a request id's dedup entry.
func TestTableSizes(t *testing.T) {
	f := New(Limits{})
	if tb, dd := f.TableSizes(); tb != 0 || dd != 0 {
		t.Fatalf("empty: %d tombstones, %d dedup", tb, dd)
	}
	mustApply(t, f, 1, t0, cCreate("s1", "", nil, 0, 0))
	mustApply(t, f, 2, t0, cDestroy("s1"))
	if tb, _ := f.TableSizes(); tb != 1 {
		t.Fatalf("after a destroy: %d tombstones, want 1", tb)
	}
	c := cCreate("s2", "", nil, 0, 0)
	c.ReqID = "req-1"
	mustApply(t, f, 3, t0, c)
	if _, dd := f.TableSizes(); dd != 1 {
		t.Fatalf("after a request id: %d dedup entries, want 1", dd)
	}
}
