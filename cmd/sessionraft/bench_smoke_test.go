//go:build unix

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestBenchSmoke runs the bench command, briefly, against a real cluster of
// three server processes started by "sessionraft dev". It checks that every
// workload runs, completes requests without errors and reports sane
// figures; it asserts nothing about speed.
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-process cluster")
	}
	dev := startDev(t, 30*time.Second, "--data-dir", filepath.Join(t.TempDir(), "data"), "--log-level", "warn", "--wait", "30s")

	o := defaultBenchOptions()
	o.addrs = dev.addrs
	o.workloads = []string{wlCreate, wlGet, wlSet, wlTouch, wlMixed, wlLoad}
	o.consistency = []string{"linearizable", "leader", "stale"}
	o.concurrency, o.duration, o.warmup, o.keys = 8, 700*time.Millisecond, 100*time.Millisecond, 200
	res := runBenchJSON(t, o)
	var rep struct {
		Results []struct {
			Workload    string  `json:"workload"`
			Consistency string  `json:"consistency"`
			OpsPerSec   float64 `json:"median_ops_per_sec"`
			P99         float64 `json:"median_p99_ms"`
			Errors      uint64  `json:"errors"`
			CPUPerOp    float64 `json:"median_server_cpu_us_per_op"`
			ToolCPU     float64 `json:"median_tool_cpu_us_per_op"`
			Runs        []struct {
				Ops uint64 `json:"ops"`
			} `json:"runs"`
		} `json:"results"`
	}
	if err := json.Unmarshal(res.Bytes(), &rep); err != nil {
		t.Fatalf("json: %v\n%s", err, res.String())
	}
	if len(rep.Results) != 8 { // create, get x3, set, touch, mixed, load
		t.Fatalf("%d results, want 8:\n%s", len(rep.Results), res.String())
	}
	for _, r := range rep.Results {
		name := r.Workload + "/" + r.Consistency
		if len(r.Runs) != 1 || r.Runs[0].Ops == 0 || r.OpsPerSec <= 0 || r.P99 <= 0 {
			t.Errorf("%s: no requests measured: %+v", name, r)
		}
		if r.Errors != 0 {
			t.Errorf("%s: %d errors", name, r.Errors)
		}
		// Servers spend CPU on every request: a window with requests and
		// no CPU means INFO's CPU section was not read.
		if r.CPUPerOp <= 0 {
			t.Errorf("%s: no server CPU per operation: %+v", name, r)
		}
		// Nor can the tool send requests for nothing (getrusage, on
		// every platform this test runs on).
		if r.ToolCPU <= 0 {
			t.Errorf("%s: no load-tool CPU per operation: %+v", name, r)
		}
		if r.Workload == wlLoad && r.Runs[0].Ops != uint64(o.keys) {
			t.Errorf("load created %d sessions, want %d", r.Runs[0].Ops, o.keys)
		}
	}
	if os.Getenv("BENCH_SMOKE_PRINT") != "" {
		t.Log(res.String())
	}
}
