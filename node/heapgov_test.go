package node

import (
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestGCHeadroomLimit(t *testing.T) {
	const mb = 1 << 20
	for _, tc := range []struct {
		name          string
		h             gcHeadroom
		live, nonHeap uint64
		want          int64
	}{
		{"small heap: the floor", gcHeadroom{15, 64 * mb}, 10 * mb, 5 * mb, 79 * mb},
		{"large heap: the percentage", gcHeadroom{15, 64 * mb}, 1000 * mb, 20 * mb, 1170 * mb},
		{"percentage equals floor", gcHeadroom{10, 100 * mb}, 1000 * mb, 0, 1100 * mb},
		{"no floor", gcHeadroom{20, 0}, 500 * mb, 0, 600 * mb},
		{"overflow is no limit", gcHeadroom{15, 64 * mb}, math.MaxUint64 - 10, 0, math.MaxInt64},
		{"beyond int64 is no limit", gcHeadroom{15, 0}, math.MaxInt64, 0, math.MaxInt64},
	} {
		if got := tc.h.memoryLimit(tc.live, tc.nonHeap); got != tc.want {
			t.Errorf("%s: memoryLimit(%d, %d) = %d, want %d", tc.name, tc.live, tc.nonHeap, got, tc.want)
		}
	}
}

// TestHeapGovernor runs the governor in this process: after a collection
// it sets a limit above the live heap by at least the floor, it lifts the
// limit while a restore pauses the collector, and the last stop puts the
// previous limit back.
func TestHeapGovernor(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "") // the governor stays off when the operator set one
	prev := debug.SetMemoryLimit(-1)
	h := gcHeadroom{percent: 15, min: 64 << 20}
	stop1 := startHeapGovernor(h)
	stop2 := startHeapGovernor(h) // a second node in the same process
	limit := func() int64 { return debug.SetMemoryLimit(-1) }
	waitFor(t, 10*time.Second, "a memory limit after a collection", func() error {
		runtime.GC()
		if l := limit(); l == prev || l == math.MaxInt64 {
			return fmt.Errorf("limit %d", l)
		}
		return nil
	})
	if l := limit(); l < int64(h.min) {
		t.Fatalf("limit %d below the %d floor", l, h.min)
	}
	resume := pauseGC()
	waitLimitLifted(t)
	resume()
	// Until a collection after the pause has measured the heap, the
	// governor sets no limit (the live heap on record predates whatever
	// the pause let grow). Watch a few of its rounds.
	// The loop reads a preallocated sample and allocates nothing, so it
	// does not itself bring on a collection.
	gcPause.mu.Lock()
	resumedAt := gcPause.resumedAt
	gcPause.mu.Unlock()
	cycles := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	watched := 0
	for end := time.Now().Add(5 * heapGovInterval); time.Now().Before(end); time.Sleep(heapGovInterval / 10) {
		l := limit()
		metrics.Read(cycles)
		if c := cycles[0].Value.Uint64(); c > resumedAt {
			break // a collection measured the heap: a limit is due
		}
		if l != math.MaxInt64 {
			t.Fatalf("limit %d set after the pause before any collection (resumed at cycle %d)", l, resumedAt)
		}
		watched++
	}
	if watched < 3 {
		t.Logf("a collection came %d observations after the pause: the no-limit window was barely watched", watched)
	}
	waitFor(t, 10*time.Second, "a limit again after the pause", func() error {
		runtime.GC()
		if l := limit(); l == math.MaxInt64 {
			return fmt.Errorf("limit %d", l)
		}
		return nil
	})
	stop1()
	if limit() == prev {
		t.Fatal("the first stop put the limit back while another node runs")
	}
	stop2()
	if l := limit(); l != prev {
		t.Fatalf("limit after the last stop = %d, want the previous %d", l, prev)
	}
}

func TestHeapGovernorOffWithGOMEMLIMIT(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "1GiB")
	prev := debug.SetMemoryLimit(-1)
	stop := startHeapGovernor(gcHeadroom{percent: 15, min: 64 << 20})
	defer stop()
	runtime.GC()
	if l := debug.SetMemoryLimit(-1); l != prev {
		t.Fatalf("limit changed to %d with GOMEMLIMIT set", l)
	}
	stop()
	if heapGov.n != 0 {
		t.Fatalf("governor count %d after stop", heapGov.n)
	}
}

// With GOGC off, nothing but the governor's limit starts a collection, so
// after a restore's pause it sets one without waiting for a collection.
func TestHeapGovernorGOGCOff(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	gc := debug.SetGCPercent(-1)
	t.Cleanup(func() { debug.SetGCPercent(gc) })
	prev := debug.SetMemoryLimit(-1)
	limit := func() int64 { return debug.SetMemoryLimit(-1) }
	stop := startHeapGovernor(gcHeadroom{percent: 15, min: 64 << 20})
	resume := pauseGC()
	waitLimitLifted(t)
	resume()
	waitFor(t, 10*time.Second, "a limit after the pause with GOGC off", func() error {
		if l := limit(); l == math.MaxInt64 {
			return fmt.Errorf("limit %d", l)
		}
		return nil
	})
	stop()
	if l := limit(); l != prev {
		t.Fatalf("limit after stop = %d, want the previous %d", l, prev)
	}
}

// waitLimitLifted waits for the governor to lift the limit while a pause
// is open.
func waitLimitLifted(t *testing.T) {
	t.Helper()
	waitFor(t, 10*time.Second, "the limit lifted while the collector is paused", func() error {
		if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
			return fmt.Errorf("limit %d", l)
		}
		return nil
	})
}
