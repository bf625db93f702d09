//go:build unix

package main

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/internal/testcluster"
)

// TestBenchWithRedis runs the bench command, briefly, against a real
// three-process cluster and a real redis-server (AOF, appendfsync always)
// in one run, as docs/benchmarks.md's tables are made: every target
// reports server CPU per operation read from its INFO, beside ops/s. It
// asserts nothing about speed.
func TestBenchWithRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-process cluster and redis-server")
	}
	redis := testcluster.StartRedis(t, "--appendonly", "yes", "--appendfsync", "always")
	dev := startDev(t, 30*time.Second, "--data-dir", filepath.Join(t.TempDir(), "data"), "--log-level", "warn", "--wait", "30s")

	o := defaultBenchOptions()
	o.addrs, o.redis = dev.addrs, []string{"fsync=" + redis}
	o.workloads, o.consistency = []string{wlCreate, wlGet}, []string{"linearizable"}
	o.concurrency, o.duration, o.warmup, o.keys = 8, 700*time.Millisecond, 100*time.Millisecond, 200
	res := runBenchJSON(t, o)
	var rep struct {
		Results []struct {
			Target    string  `json:"target"`
			Workload  string  `json:"workload"`
			OpsPerSec float64 `json:"median_ops_per_sec"`
			Errors    uint64  `json:"errors"`
			CPUPerOp  float64 `json:"median_server_cpu_us_per_op"`
		} `json:"results"`
	}
	if err := json.Unmarshal(res.Bytes(), &rep); err != nil {
		t.Fatalf("json: %v\n%s", err, res.String())
	}
	seen := map[string]bool{}
	for _, r := range rep.Results {
		name := r.Target + " " + r.Workload
		seen[name] = true
		if r.OpsPerSec <= 0 || r.Errors != 0 {
			t.Errorf("%s: %.0f ops/s, %d errors", name, r.OpsPerSec, r.Errors)
		}
		if r.CPUPerOp <= 0 {
			t.Errorf("%s: no server CPU per operation (INFO's CPU section not read)", name)
		}
	}
	for _, want := range []string{"sessionraft create", "sessionraft get", "redis:fsync create", "redis:fsync get"} {
		if !seen[want] {
			t.Errorf("no result for %s in %v\n%s", want, seen, res.String())
		}
	}
}
