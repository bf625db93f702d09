package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/sessionraft/sessionraft/transport/resp"
)

// Server CPU per operation: bench reads used_cpu_user + used_cpu_sys from
// INFO's CPU section of every server of a target (every sessionraft node,
// the Redis server) when a run's measured window opens and when it
// closes, and divides the difference by the operations completed in the
// window. Unlike ops/s it does not depend on how busy the machine is with
// other work.

// infoCPUSeconds is used_cpu_user + used_cpu_sys of an INFO reply.
func infoCPUSeconds(info string) (float64, error) {
	m := parseInfo(info)
	var sum float64
	for _, k := range []string{"used_cpu_user", "used_cpu_sys"} {
		v, err := strconv.ParseFloat(m[k], 64)
		if err != nil {
			return 0, fmt.Errorf("INFO has no usable %s", k)
		}
		sum += v
	}
	return sum, nil
}

// ServerCPU sums the CPU seconds of every node of the cluster: the seeds
// and every member their TOPOLOGY names, each asked once.
func (t *sessionraftTarget) ServerCPU(ctx context.Context) (float64, error) {
	if t.nodes == nil {
		nodes, err := clusterNodes(ctx, t.dial, t.seeds)
		if err != nil {
			return 0, err
		}
		t.nodes = nodes
	}
	var sum float64
	for _, addr := range t.nodes {
		v, err := nodeInfoCPU(ctx, t.dial, addr)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", addr, err)
		}
		sum += v
	}
	return sum, nil
}

// clusterNodes is the client addresses of the seeds and of every member
// the first seed that answers TOPOLOGY names, sorted.
func clusterNodes(ctx context.Context, d dialer, seeds []string) ([]string, error) {
	set := map[string]bool{}
	for _, s := range seeds {
		set[s] = true
	}
	for _, s := range seeds {
		c, err := dialNode(ctx, d, s)
		if err != nil {
			continue
		}
		v, err := do(ctx, c, "TOPOLOGY")
		c.Close()
		if err != nil {
			continue
		}
		top, err := parseTopology(v)
		if err != nil {
			continue
		}
		for _, g := range top.Groups {
			for _, m := range g.Members {
				if m.ClientAddr != "" {
					set[m.ClientAddr] = true
				}
			}
		}
		break
	}
	out := make([]string, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	slices.Sort(out)
	return out, nil
}

func dialNode(ctx context.Context, d dialer, addr string) (*resp.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return d.dial(ctx, addr)
}

func nodeInfoCPU(ctx context.Context, d dialer, addr string) (float64, error) {
	c, err := dialNode(ctx, d, addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, err := do(ctx, c, "INFO", "cpu")
	if err != nil {
		return 0, err
	}
	return infoCPUSeconds(v.Str)
}

// ServerCPU is the Redis server's CPU seconds.
func (t *redisTarget) ServerCPU(ctx context.Context) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := t.c.Do(ctx, t.c.B().Info().Section("cpu").Build()).ToString()
	if err != nil {
		return 0, err
	}
	return infoCPUSeconds(s)
}

// cpuWindow reads a target's server CPU when a run's measured window
// opens and when it closes. A failed read leaves the run without the
// figure (a note on errOut says why); the load goes on.
type cpuWindow struct {
	t          benchTarget
	start, end float64
	err        error
	done       chan struct{}

	// The load tool's own CPU over the same window (selfCPUSeconds):
	// with the servers on the same machine, it is the rest of what an
	// operation costs the machine, and it bounds ops/s as theirs does.
	toolStart, toolEnd float64
	toolOK             bool
}

// watchCPU starts reading at winStart and at winEnd; for a phase that
// ends by itself (load) call closeNow instead of waiting for winEnd.
func watchCPU(ctx context.Context, t benchTarget, winStart, winEnd time.Time, untilClosed bool) (*cpuWindow, func()) {
	w := &cpuWindow{t: t, done: make(chan struct{})}
	closeCh := make(chan struct{})
	go func() {
		defer close(w.done)
		if !sleepUntil(ctx, winStart) {
			w.err = ctx.Err()
			return
		}
		w.toolStart, w.toolOK = selfCPUSeconds()
		if w.start, w.err = t.ServerCPU(ctx); w.err != nil {
			return
		}
		if untilClosed {
			select {
			case <-closeCh:
			case <-ctx.Done():
				w.err = ctx.Err()
				return
			}
		} else if !sleepUntil(ctx, winEnd) {
			w.err = ctx.Err()
			return
		}
		w.end, w.err = t.ServerCPU(ctx)
		var ok bool
		w.toolEnd, ok = selfCPUSeconds()
		w.toolOK = w.toolOK && ok
	}()
	var once bool
	return w, func() {
		if !once {
			once = true
			close(closeCh)
		}
	}
}

func sleepUntil(ctx context.Context, at time.Time) bool {
	d := time.Until(at)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// result waits for the end reading: the CPU seconds spent in the window.
func (w *cpuWindow) result() (float64, error) {
	<-w.done
	if w.err != nil {
		return 0, w.err
	}
	return w.end - w.start, nil
}

// toolResult waits for the end reading: the load tool's CPU seconds in
// the window, and whether there is such a figure.
func (w *cpuWindow) toolResult() (float64, bool) {
	<-w.done
	if w.err != nil || !w.toolOK {
		return 0, false
	}
	return w.toolEnd - w.toolStart, true
}
