package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/sessionraft/sessionraft/client"
)

// parseBench parses args with the bench command's flags and normalizes
// them, without running anything.
func parseBench(t *testing.T, args ...string) (benchOptions, error) {
	t.Helper()
	o := defaultBenchOptions()
	fs := pflag.NewFlagSet("bench", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.addFlags(fs)
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	return o, o.normalize()
}

func TestBenchOptionsDefaults(t *testing.T) {
	o, err := parseBench(t)
	if err != nil {
		t.Fatal(err)
	}
	if o.concurrency != 64 || o.valueSize != 256 || o.pipeline != 1 || o.runs != 1 ||
		o.workloads[0] != wlCreate || o.consistency[0] != "linearizable" || len(o.addrs) != 3 {
		t.Errorf("defaults: %+v", o)
	}
}

func TestBenchOptionsParse(t *testing.T) {
	o, err := parseBench(t, "--workload", "create,GET,mixed", "--consistency", "linearizable,stale",
		"--concurrency", "8", "--pipeline", "4", "--duration", "3", "--warmup", "500ms",
		"--value-size", "1024", "--keys", "77", "--runs", "3", "--json", "--max-flush-delay", "20us",
		"--spread-stale-reads", "--linearizable-reads-to-leader", "--redis", "fsync=127.0.0.1:6390", "--redis", "127.0.0.1:6391", "--addr", "none")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(o.workloads, ",") != "create,get,mixed" || o.concurrency != 8 || o.pipeline != 4 ||
		o.duration != 3*time.Second || o.warmup != 500*time.Millisecond || o.valueSize != 1024 ||
		o.keys != 77 || o.runs != 3 || !o.jsonOut || o.addrs != nil || len(o.redis) != 2 ||
		o.flushDelay != 20*time.Microsecond || !o.spreadStale || !o.linLeader {
		t.Errorf("parsed: %+v", o)
	}
	// get expands per level for sessionraft, once for Redis; mixed uses
	// the first level.
	var got []string
	for _, p := range o.phases(false) {
		got = append(got, p.String())
	}
	if want := "create get/linearizable get/stale mixed/linearizable"; strings.Join(got, " ") != want {
		t.Errorf("sessionraft phases %q, want %q", got, want)
	}
	got = nil
	for _, p := range o.phases(true) {
		got = append(got, p.String())
	}
	if want := "create get mixed"; strings.Join(got, " ") != want {
		t.Errorf("redis phases %q, want %q", got, want)
	}
}

func TestBenchOptionsInvalid(t *testing.T) {
	for _, args := range [][]string{
		{"--workload", "delete"},
		{"--consistency", "eventual"},
		{"--concurrency", "0"},
		{"--pipeline", "0"},
		{"--duration", "0s"},
		{"--value-size", "-1"},
		{"--keys", "0"},
		{"--runs", "0"},
		{"--ttl", "10ms"},
		{"--max-flush-delay", "-1us"},
		{"--max-flush-delay", "5ms"},
		{"--redis", "nohostport"},
		{"--redis", "=127.0.0.1:1"},
		{"--addr", "none"},
	} {
		if _, err := parseBench(t, args...); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
	// load needs no duration.
	if _, err := parseBench(t, "--workload", "load", "--duration", "0s"); err != nil {
		t.Errorf("load without duration: %v", err)
	}
}

func TestParseRedisTarget(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:6379":       "redis:redis 127.0.0.1:6379",
		"fsync=localhost:6390": "redis:fsync localhost:6390",
	} {
		l, a, err := parseRedisTarget(in)
		if err != nil || l+" "+a != want {
			t.Errorf("%q: %q %q %v, want %q", in, l, a, err, want)
		}
	}
}

func TestErrKind(t *testing.T) {
	for err, want := range map[error]string{
		nil:                                     "",
		fmt.Errorf("x: %w", client.ErrNotFound): "notfound",
		fmt.Errorf("x: %w", client.ErrUnavailable):   "unavailable",
		fmt.Errorf("x: %w", client.ErrIndeterminate): "indeterminate",
		errors.New("boom"):                           "other",
	} {
		if got := errKind(err); got != want {
			t.Errorf("errKind(%v) = %q, want %q", err, got, want)
		}
	}
}

func TestBenchReportTable(t *testing.T) {
	r := &phaseResult{Target: "sessionraft", Workload: "get", Consistency: "stale"}
	for _, ops := range []float64{100, 300, 200} {
		rr := &runResult{OpsPerSec: ops, P50: ops / 100, Errors: map[string]uint64{"stale": 1}}
		r.Runs = append(r.Runs, rr)
	}
	r.summarize()
	if r.OpsPerSec != 200 || r.P50 != 2 || r.Errors != 3 {
		t.Fatalf("summary %+v", r)
	}
	var buf bytes.Buffer
	benchReport{Options: benchSummary{Runs: 3}, Results: []*phaseResult{r}}.writeTable(&buf)
	out := buf.String()
	for _, want := range []string{"get/stale", "200", "100 300 200", "stale=3"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	buf.Reset()
	if err := (benchReport{Results: []*phaseResult{r}}).writeJSON(&buf); err != nil || !strings.Contains(buf.String(), `"median_ops_per_sec": 200`) {
		t.Errorf("json: %v\n%s", err, buf.String())
	}
}

func TestInfoCPUSeconds(t *testing.T) {
	got, err := infoCPUSeconds("# CPU\r\nused_cpu_sys:1.250000\r\nused_cpu_user:2.500000\r\nused_cpu_sys_children:9\r\n")
	if err != nil || got != 3.75 {
		t.Fatalf("got %v, %v; want 3.75", got, err)
	}
	if _, err := infoCPUSeconds("# Server\r\nredis_version:7.2.0\r\n"); err == nil {
		t.Fatal("INFO without a CPU section gave a figure")
	}
}

// runBenchJSON runs the bench command with o, its report in JSON and no
// progress lines, for at most a minute, and returns the report; it fails
// t if o is invalid or the run fails.
func runBenchJSON(t *testing.T, o benchOptions) *bytes.Buffer {
	t.Helper()
	o.jsonOut, o.progress = true, false
	if err := o.normalize(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var res bytes.Buffer
	if err := runBench(ctx, o, &res, io.Discard); err != nil {
		t.Fatalf("bench: %v\n%s", err, res.String())
	}
	return &res
}
