package node

import (
	"context"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// The heap governor bounds the garbage collector's headroom in bytes.
//
// Why: a node's heap is mostly its state machines, which live as long as
// the process, plus a little short-lived garbage per request. Go's default
// pacing (GOGC=100) lets the heap grow to twice what is live before it
// collects, so a node holding 500 MB of sessions sits at about 1 GB of
// RSS although a few tens of megabytes of headroom would carry its
// garbage. The governor sets the runtime's soft memory limit after each
// collection to the live heap plus Config.GCHeadroomPercent of it (at
// least Config.GCHeadroomMin), plus the runtime's own non-heap memory.
// GOGC still decides for small heaps (its target is lower there), so a
// node with little state collects exactly as before; the limit only bites
// once the state is large. The runtime's GC CPU limiter (50%) keeps a
// node whose live heap outgrows any limit from thrashing.
//
// An operator who sets GOMEMLIMIT has chosen a limit: the governor then
// stays off. The limit is lifted while startup restores pause the
// collector (gcpause.go), so the pause is not undone by the limit.
//
// The setting is process-wide and several nodes may run in one process
// (tests, embedders): the first node to start runs the governor with its
// settings and the last to stop puts the previous limit back.

// gcHeadroom is the governor's setting: at least min bytes, or percent of
// the live heap if more.
type gcHeadroom struct {
	percent int
	min     int64
}

// memoryLimit returns the soft memory limit for a live heap of live bytes
// when the runtime holds nonHeap bytes outside the heap (stacks, metadata,
// other runtime structures).
func (h gcHeadroom) memoryLimit(live, nonHeap uint64) int64 {
	head := max(uint64(h.min), live/100*uint64(h.percent))
	l := live + head + nonHeap
	if l > math.MaxInt64 || l < live { // overflow: no limit
		return math.MaxInt64
	}
	return int64(l)
}

var heapGov struct {
	mu     sync.Mutex
	n      int
	prev   int64 // the limit before the first node started the governor
	cancel context.CancelFunc
	done   chan struct{}
}

// heapGovInterval is how often the governor looks for a finished
// collection; a new limit only matters at the next collection.
const heapGovInterval = 200 * time.Millisecond

// startHeapGovernor runs the governor for one node until the returned
// function is called. It does nothing when h.percent is 0 or the operator
// set GOMEMLIMIT.
func startHeapGovernor(h gcHeadroom) (stop func()) {
	if h.percent <= 0 || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	heapGov.mu.Lock()
	if heapGov.n == 0 {
		heapGov.prev = debug.SetMemoryLimit(-1)
		ctx, cancel := context.WithCancel(context.Background())
		heapGov.cancel, heapGov.done = cancel, make(chan struct{})
		go governHeap(ctx, h, heapGov.done)
	}
	heapGov.n++
	heapGov.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			heapGov.mu.Lock()
			defer heapGov.mu.Unlock()
			heapGov.n--
			if heapGov.n == 0 {
				heapGov.cancel()
				<-heapGov.done
				debug.SetMemoryLimit(heapGov.prev)
			}
		})
	}
}

// heapSamples are the runtime metrics the governor reads.
var heapSamples = []string{
	"/gc/cycles/total:gc-cycles",
	"/gc/heap/live:bytes",
	"/memory/classes/total:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/released:bytes",
}

func governHeap(ctx context.Context, h gcHeadroom, done chan struct{}) {
	defer close(done)
	s := make([]metrics.Sample, len(heapSamples))
	for i, name := range heapSamples {
		s[i].Name = name
	}
	t := time.NewTicker(heapGovInterval)
	defer t.Stop()
	var cycles uint64
	paused := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		gcPause.mu.Lock()
		nowPaused, resumedAt := gcPause.n > 0, gcPause.resumedAt
		gcPause.mu.Unlock()
		if nowPaused {
			if !paused {
				debug.SetMemoryLimit(math.MaxInt64)
				paused = true
			}
			continue
		}
		metrics.Read(s)
		c := s[0].Value.Uint64()
		if c == cycles && !paused {
			continue
		}
		if paused && resumedAt > 0 && c <= resumedAt {
			// The live heap on record is from before the restores: a
			// limit from it would be far below the heap they built and
			// force a second full collection right after the first.
			// Keep none until a collection has measured the new heap.
			continue
		}
		cycles, paused = c, false
		live := s[1].Value.Uint64()
		// Heap memory is objects, unused span space, free and released
		// pages. Everything else (goroutine stacks, metadata, the
		// runtime's own structures) the limit must leave room for.
		heap := s[3].Value.Uint64() + s[4].Value.Uint64() + s[5].Value.Uint64() + s[6].Value.Uint64()
		total := s[2].Value.Uint64()
		nonHeap := uint64(0)
		if total > heap {
			nonHeap = total - heap
		}
		debug.SetMemoryLimit(h.memoryLimit(live, nonHeap))
	}
}
