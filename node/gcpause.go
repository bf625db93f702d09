package node

import (
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// gcPause counts the startup restores in progress in this process (see
// raftFSM.Restore). A node restores its groups side by side, several nodes
// can open at once in one process (tests, embedders), and the collector's
// setting is process-wide: the first pause saves it and the last resume
// puts it back.
var gcPause struct {
	mu      sync.Mutex
	n       int
	percent int
	// resumedAt is the count of finished collections when the last pause
	// ended: the heap governor (heapgov.go) waits for one more, whose
	// live heap includes what the restores built. Not with GOGC off
	// (percent < 0): then only the governor's limit ever starts one.
	resumedAt uint64
}

// gcCycles is the count of finished collections.
func gcCycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// pauseGC turns the garbage collector's pacing off until the returned
// function is called (see raftFSM.Restore).
func pauseGC() (resume func()) {
	gcPause.mu.Lock()
	if gcPause.n == 0 {
		gcPause.percent = debug.SetGCPercent(-1)
	}
	gcPause.n++
	gcPause.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			gcPause.mu.Lock()
			gcPause.n--
			if gcPause.n == 0 {
				gcPause.resumedAt = 0
				if gcPause.percent >= 0 {
					gcPause.resumedAt = gcCycles()
				}
				debug.SetGCPercent(gcPause.percent)
			}
			gcPause.mu.Unlock()
		})
	}
}
