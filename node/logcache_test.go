package node

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/hashicorp/raft"
)

// countingStore counts the reads that reach the store.
type countingStore struct {
	*raft.InmemStore
	gets int
}

func (s *countingStore) GetLog(idx uint64, out *raft.Log) error {
	s.gets++
	return s.InmemStore.GetLog(idx, out)
}

func entry(idx, term uint64, size int) *raft.Log {
	return &raft.Log{Index: idx, Term: term, Type: raft.LogCommand, Data: bytes.Repeat([]byte{byte(idx)}, size)}
}

func TestLogCacheBounds(t *testing.T) {
	st := &countingStore{InmemStore: raft.NewInmemStore()}
	c := newLogCache(st, 8, 1000)
	for i := uint64(1); i <= 20; i++ {
		if err := c.StoreLogs([]*raft.Log{entry(i, 1, 300)}); err != nil {
			t.Fatal(err)
		}
		if c.bytes > c.maxBytes || c.n > 8 {
			t.Fatalf("after %d: %d entries, %d bytes", i, c.n, c.bytes)
		}
	}
	// 1,000 bytes hold three entries of 300: 18, 19 and 20.
	if c.n != 3 || c.lo != 18 {
		t.Fatalf("cached %d from %d, want 3 from 18", c.n, c.lo)
	}
	var l raft.Log
	for _, tc := range []struct {
		idx  uint64
		gets int // store reads so far
	}{{20, 0}, {18, 0}, {17, 1}, {1, 2}} {
		if err := c.GetLog(tc.idx, &l); err != nil || l.Index != tc.idx {
			t.Fatalf("GetLog(%d): %v, index %d", tc.idx, err, l.Index)
		}
		if st.gets != tc.gets {
			t.Fatalf("GetLog(%d): %d store reads, want %d", tc.idx, st.gets, tc.gets)
		}
	}
	// An entry larger than the budget is still cached, alone.
	if err := c.StoreLog(entry(21, 1, 5000)); err != nil {
		t.Fatal(err)
	}
	if c.n != 1 || c.lo != 21 {
		t.Fatalf("cached %d from %d, want the big entry alone", c.n, c.lo)
	}
	if c.IsMonotonic() {
		t.Error("IsMonotonic: the in-memory store is not")
	}
}

// hookStore runs before in StoreLogs, and can fail it.
type hookStore struct {
	*raft.InmemStore
	before func()
	fail   bool
}

func (s *hookStore) StoreLogs(logs []*raft.Log) error {
	if s.before != nil {
		s.before()
	}
	if s.fail {
		return errors.New("disk on fire")
	}
	return s.InmemStore.StoreLogs(logs)
}

// TestLogCacheCachesOnlyWhatTheStoreKept: nothing from a failed StoreLogs,
// nor from one a DeleteRange overtook while it wrote.
func TestLogCacheCachesOnlyWhatTheStoreKept(t *testing.T) {
	st := &hookStore{InmemStore: raft.NewInmemStore(), fail: true}
	c := newLogCache(st, 8, 1000)
	if err := c.StoreLog(entry(1, 1, 10)); err == nil {
		t.Fatal("StoreLog: no error from a failing store")
	}
	if c.n != 0 {
		t.Fatalf("a failed store cached %d entries", c.n)
	}
	st.fail = false
	st.before = func() { c.DeleteRange(1, 1) }
	if err := c.StoreLog(entry(1, 1, 10)); err != nil {
		t.Fatal(err)
	}
	if c.n != 0 {
		t.Fatalf("a store overtaken by DeleteRange cached %d entries", c.n)
	}
	st.before = nil
	if err := c.StoreLog(entry(2, 1, 10)); err != nil || c.n != 1 {
		t.Fatalf("StoreLog after: %v, %d cached", err, c.n)
	}
}

// TestLogCacheMatchesStore applies random appends, overwrites of a suffix
// (DeleteRange, then a new term's entries), jumps (the log emptied and
// restarted past a snapshot), and overwrites and gaps without a
// DeleteRange (which raft does not make, but the cache must not be wrong
// about), and checks after each that every index reads
// the same through the cache as from the store.
func TestLogCacheMatchesStore(t *testing.T) {
	for seed := range uint64(10) {
		rng := rand.New(rand.NewPCG(seed, 1))
		st := raft.NewInmemStore()
		c := newLogCache(st, 1+rng.IntN(16), 1+rng.IntN(4000))
		next, term := uint64(1), uint64(1)
		hi := uint64(0) // the highest index ever stored
		// check reads every index up to two past hi through the cache and
		// from the store.
		check := func(op int) {
			t.Helper()
			for idx := uint64(1); idx <= hi+2; idx++ {
				var want, got raft.Log
				werr := st.GetLog(idx, &want)
				gerr := c.GetLog(idx, &got)
				if (werr == nil) != (gerr == nil) || (werr == nil && (got.Index != want.Index || got.Term != want.Term || !bytes.Equal(got.Data, want.Data))) {
					t.Fatalf("seed %d op %d index %d: cache %v %d/%d, store %v %d/%d", seed, op, idx, gerr, got.Index, got.Term, werr, want.Index, want.Term)
				}
			}
		}
		for op := range 200 {
			switch k := rng.IntN(10); {
			case k == 0 && next > 2: // a new leader overwrites a suffix
				from := 1 + rng.Uint64N(next-1)
				if first, _ := st.FirstIndex(); from < first {
					from = first
				}
				if err := c.DeleteRange(from, next-1); err != nil {
					t.Fatal(err)
				}
				check(op)
				next = from
				term++
			case k == 1: // a snapshot: the log emptied and restarted further on
				if next > 1 {
					first, _ := st.FirstIndex()
					if err := c.DeleteRange(first, next-1); err != nil {
						t.Fatal(err)
					}
					check(op)
				}
				next += 1 + rng.Uint64N(50)
			case k == 2 && next > 2: // entries stored over a suffix without a DeleteRange first
				next = 1 + rng.Uint64N(next-1)
				if first, _ := st.FirstIndex(); next < first {
					next = first
				}
				term++
			case k == 3: // or past a gap
				next += 1 + rng.Uint64N(50)
			}
			var logs []*raft.Log
			for range 1 + rng.IntN(5) {
				logs = append(logs, entry(next, term, rng.IntN(800)))
				next++
			}
			if err := c.StoreLogs(logs); err != nil {
				t.Fatal(err)
			}
			if c.n > len(c.ring) || (c.bytes > c.maxBytes && c.n > 1) {
				t.Fatalf("seed %d op %d: %d entries, %d bytes", seed, op, c.n, c.bytes)
			}
			hi = max(hi, next-1)
			check(op)
		}
	}
}
