package fsm

import (
	"fmt"
	"slices"
	"testing"
)

// TestDeadlineIndexAddNewAll: the bulk add of Restore indexes exactly
// what adding one record at a time does, keeps records without a deadline
// out, and leaves a valid heap holding each bucket key once. (That it
// saves the rehashing shows in BenchmarkRestore333k's profile, not here.)
func TestDeadlineIndexAddNewAll(t *testing.T) {
	const bucket = int64(1) << bucketShift
	var recs []*Record
	for i := range 3000 {
		r := mkRecord(fmt.Sprintf("id%05d", i), "", nil, Record{LastAccess: t0})
		switch i % 4 {
		case 0: // no deadline
		case 1: // absolute, spread over 40 buckets, some of them crowded
			r.AbsDeadline = t0 + int64(i%40)*bucket + int64(i)
		case 2: // sliding
			r.IdleTimeout = int64(1+i%7) * bucket
		case 3: // both: the earlier one counts
			r.AbsDeadline, r.IdleTimeout = t0+3*bucket, 9*bucket
		}
		recs = append(recs, r)
	}
	one := newDeadlineIndex()
	for _, r := range recs {
		one.addNew(r)
	}
	bulk := newDeadlineIndex()
	bulk.addNewAll(recs)

	if len(bulk.buckets) != len(one.buckets) {
		t.Fatalf("%d buckets, one at a time made %d", len(bulk.buckets), len(one.buckets))
	}
	for k, want := range one.buckets {
		got := bulk.buckets[k]
		if got == nil {
			t.Fatalf("bucket %d missing", k)
		}
		var a, b []string
		want.all(func(r *Record) { a = append(a, r.ID()) })
		got.all(func(r *Record) { b = append(b, r.ID()) })
		slices.Sort(a)
		slices.Sort(b)
		if !slices.Equal(a, b) {
			t.Fatalf("bucket %d holds %d ids, one at a time %d (or different ones)", k, len(b), len(a))
		}
	}
	for _, r := range recs {
		if d := r.Deadline(); d == 0 {
			for k, b := range bulk.buckets {
				if b.get(r.ID()) != nil {
					t.Fatalf("%s has no deadline but is in bucket %d", r.ID(), k)
				}
			}
		}
	}
	keys := slices.Clone(bulk.heap)
	slices.Sort(keys)
	if len(slices.Compact(keys)) != len(bulk.buckets) {
		t.Fatalf("heap holds %d distinct keys for %d buckets", len(slices.Compact(keys)), len(bulk.buckets))
	}
	for i := 1; i < len(bulk.heap); i++ {
		if bulk.heap[i] < bulk.heap[(i-1)/2] {
			t.Fatalf("heap order broken at %d", i)
		}
	}
	for _, now := range []int64{t0, t0 + 5*bucket, t0 + 50*bucket} {
		if !slices.Equal(bulk.expired(now, 5000), one.expired(now, 5000)) {
			t.Fatalf("expired(%d) differs", now)
		}
	}
}
