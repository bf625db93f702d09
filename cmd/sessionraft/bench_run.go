package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// runResult is one run of one phase against one target.
type runResult struct {
	Ops       uint64            `json:"ops"`         // requests completed inside the measured window
	Seconds   float64           `json:"seconds"`     // length of the measured window
	OpsPerSec float64           `json:"ops_per_sec"` // Ops / Seconds
	Errors    map[string]uint64 `json:"errors,omitempty"`
	P50       float64           `json:"p50_ms"`
	P99       float64           `json:"p99_ms"`
	P999      float64           `json:"p999_ms"`
	Max       float64           `json:"max_ms"`
	Mean      float64           `json:"mean_ms"`
	// ServerCPU is the CPU seconds the target's servers used in the
	// measured window; CPUPerOp that per operation, in microseconds.
	// Absent when INFO could not be read.
	ServerCPU float64 `json:"server_cpu_seconds,omitempty"`
	CPUPerOp  float64 `json:"server_cpu_us_per_op,omitempty"`
	// ToolCPU is the CPU seconds the load tool itself (its workers and
	// the client library they drive) used in the window; ToolCPUPerOp
	// that per operation. On one machine, server and tool CPU per
	// operation together bound ops/s.
	ToolCPU      float64 `json:"tool_cpu_seconds,omitempty"`
	ToolCPUPerOp float64 `json:"tool_cpu_us_per_op,omitempty"`
	hist         *histogram
}

func (r *runResult) errorCount() uint64 {
	var n uint64
	for _, c := range r.Errors {
		n += c
	}
	return n
}

// worker is the state of one load goroutine.
type worker struct {
	done   atomic.Uint64 // requests completed (progress; warmup included)
	errs   atomic.Uint64
	hist   histogram
	counts map[string]uint64
	inWin  uint64 // completions inside the measured window
	_      [64]byte
}

// runPhase runs one phase: concurrency x pipeline goroutines issue
// requests back to back for warmup + duration (load: until --keys sessions
// exist). Latency is recorded for requests started after the warmup,
// throughput counts requests completed inside the measured window.
func runPhase(ctx context.Context, t benchTarget, p phase, keys []string, o benchOptions, run int, errOut io.Writer) (*runResult, error) {
	n := o.concurrency * o.pipeline
	value := benchValue(o.valueSize)
	workers := make([]*worker, n)
	for i := range workers {
		workers[i] = &worker{counts: map[string]uint64{}}
	}
	isLoad := p.workload == wlLoad
	warmup, duration := o.warmup, o.duration
	if isLoad {
		warmup = 0
	}
	if !isLoad && len(keys) == 0 && p.workload != wlCreate {
		return nil, fmt.Errorf("no preloaded keys")
	}
	var remaining atomic.Int64 // load: creates still to start
	remaining.Store(int64(o.keys))
	var stop atomic.Bool
	start := time.Now()
	winStart := start.Add(warmup)
	winEnd := winStart.Add(duration)
	if !isLoad {
		timer := time.AfterFunc(warmup+duration, func() { stop.Store(true) })
		defer timer.Stop()
	}
	var endMu sync.Mutex
	lastEnd := start
	cpu, closeCPU := watchCPU(ctx, t, winStart, winEnd, isLoad)
	defer closeCPU()

	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i)+1, uint64(run)<<32|uint64(time.Now().UnixNano())))
			for !stop.Load() && ctx.Err() == nil {
				if isLoad && remaining.Add(-1) < 0 {
					break
				}
				t0 := time.Now()
				err := doOp(ctx, t, p, rng, keys, value)
				t1 := time.Now()
				w.done.Add(1)
				if isLoad || !t0.Before(winStart) {
					w.hist.Record(t1.Sub(t0))
				}
				if isLoad || (!t1.Before(winStart) && !t1.After(winEnd)) {
					w.inWin++
				}
				if err != nil {
					w.errs.Add(1)
					w.counts[errKind(err)]++
				}
			}
			endMu.Lock()
			if t := time.Now(); t.After(lastEnd) {
				lastEnd = t
			}
			endMu.Unlock()
		}()
	}
	stopProgress := startProgress(errOut, o, fmt.Sprintf("%s %s run %d/%d", t.Name(), p, run+1, o.runs), workers, start, warmup+duration, isLoad)
	wg.Wait()
	closeCPU()
	stopProgress()

	r := &runResult{hist: &histogram{}, Errors: map[string]uint64{}}
	for _, w := range workers {
		r.hist.Merge(&w.hist)
		r.Ops += w.inWin
		for k, c := range w.counts {
			r.Errors[k] += c
		}
	}
	if isLoad {
		r.Seconds = lastEnd.Sub(start).Seconds()
	} else {
		r.Seconds = duration.Seconds()
	}
	if r.Seconds > 0 {
		r.OpsPerSec = float64(r.Ops) / r.Seconds
	}
	r.fillLatency()
	if secs, err := cpu.result(); err != nil {
		if ctx.Err() == nil {
			fmt.Fprintf(errOut, "%s %s: no server CPU figure: %v\n", t.Name(), p, err)
		}
	} else if r.Ops > 0 {
		r.ServerCPU = secs
		r.CPUPerOp = secs / float64(r.Ops) * 1e6
	}
	if secs, ok := cpu.toolResult(); ok && r.Ops > 0 {
		r.ToolCPU = secs
		r.ToolCPUPerOp = secs / float64(r.Ops) * 1e6
	}
	if len(r.Errors) == 0 {
		r.Errors = nil
	}
	return r, ctx.Err()
}

func (r *runResult) fillLatency() {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	r.P50 = ms(r.hist.Quantile(0.50))
	r.P99 = ms(r.hist.Quantile(0.99))
	r.P999 = ms(r.hist.Quantile(0.999))
	r.Max = ms(r.hist.Max())
	r.Mean = ms(r.hist.Mean())
}

// doOp issues one request of the phase's workload.
func doOp(ctx context.Context, t benchTarget, p phase, rng *rand.Rand, keys []string, value []byte) error {
	switch p.workload {
	case wlCreate, wlLoad:
		_, err := t.Create(ctx, rng, value)
		return err
	case wlGet:
		return t.Get(ctx, keys[rng.IntN(len(keys))], p.consistency)
	case wlSet:
		return t.Set(ctx, keys[rng.IntN(len(keys))], value)
	case wlTouch:
		return t.Touch(ctx, keys[rng.IntN(len(keys))])
	case wlMixed:
		k := keys[rng.IntN(len(keys))]
		if rng.IntN(10) == 0 {
			return t.Set(ctx, k, value)
		}
		return t.Get(ctx, k, p.consistency)
	}
	return fmt.Errorf("unknown workload %q", p.workload)
}

// preload creates --keys keys for the read and update workloads.
func preload(ctx context.Context, t benchTarget, o benchOptions, errOut io.Writer) ([]string, error) {
	keys := make([]string, o.keys)
	value := benchValue(o.valueSize)
	var next atomic.Int64
	var firstErr error
	var errMu sync.Mutex
	var wg sync.WaitGroup
	par := max(o.concurrency, 64)
	workers := make([]*worker, par)
	for i := range workers {
		workers[i] = &worker{}
	}
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i)+1, uint64(time.Now().UnixNano())))
			for ctx.Err() == nil {
				j := next.Add(1) - 1
				if j >= int64(len(keys)) {
					return
				}
				k, err := t.Create(ctx, rng, value)
				if err != nil {
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
					return
				}
				keys[j] = k
				w.done.Add(1)
			}
		}()
	}
	stopProgress := startProgress(errOut, o, t.Name()+" preload", workers, time.Now(), 0, true)
	wg.Wait()
	stopProgress()
	if firstErr != nil {
		return nil, firstErr
	}
	return keys, ctx.Err()
}

// startProgress prints a progress line to errOut every second (rewritten in
// place on a terminal) until the returned function is called.
func startProgress(errOut io.Writer, o benchOptions, label string, workers []*worker, start time.Time, total time.Duration, countKeys bool) func() {
	if !o.progress {
		return func() {}
	}
	tty := isTerminal(errOut)
	stopc := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		var prev uint64
		prevT := start
		for {
			select {
			case <-stopc:
				if tty {
					fmt.Fprint(errOut, "\r\033[K")
				}
				return
			case now := <-tick.C:
				var done, errs uint64
				for _, w := range workers {
					done += w.done.Load()
					errs += w.errs.Load()
				}
				rate := float64(done-prev) / now.Sub(prevT).Seconds()
				prev, prevT = done, now
				var frac float64
				if countKeys {
					frac = float64(done) / float64(o.keys)
				} else if total > 0 {
					frac = float64(now.Sub(start)) / float64(total)
				}
				line := fmt.Sprintf("%-32s %s %6.1fs %9.0f ops/s %8d errors", label, bar(frac, 20), now.Sub(start).Seconds(), rate, errs)
				if tty {
					fmt.Fprint(errOut, "\r\033[K"+line)
				} else {
					fmt.Fprintln(errOut, line)
				}
			}
		}
	}()
	return func() { close(stopc); wg.Wait() }
}

func bar(frac float64, width int) string {
	frac = min(max(frac, 0), 1)
	n := int(frac * float64(width))
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// median returns the median of xs (the mean of the middle two for an even
// count); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}
