package raftwal

import (
	"testing"
	"time"
)

// OnAppend sees every successful StoreLogs, with an fdatasync time when the
// log syncs and none when it does not; a refused append is not reported.
func TestOnAppend(t *testing.T) {
	for _, noSync := range []bool{false, true} {
		var calls int
		var syncs []time.Duration
		l := open(t, t.TempDir(), Options{NoSync: noSync, OnAppend: func(total, sync time.Duration) {
			calls++
			syncs = append(syncs, sync)
			if total < sync {
				t.Errorf("append took %v, less than its sync %v", total, sync)
			}
		}})
		if err := l.StoreLogs(entries(1, 3, 1)); err != nil {
			t.Fatal(err)
		}
		if err := l.StoreLog(entry(4, 1)); err != nil {
			t.Fatal(err)
		}
		if err := l.StoreLog(entry(2, 1)); err == nil {
			t.Fatal("overlapping append accepted")
		}
		if calls != 2 {
			t.Fatalf("noSync=%v: %d calls, want 2", noSync, calls)
		}
		for _, s := range syncs {
			if noSync && s != 0 {
				t.Fatalf("sync time %v without fdatasync", s)
			}
			if !noSync && s <= 0 {
				t.Fatalf("no sync time with fdatasync")
			}
		}
	}
}
