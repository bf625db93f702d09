package compat

import (
	"context"
	"net"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRedisBenchmark runs redis-benchmark, unchanged, against one node of
// the cluster: it must finish every test with exit status 0 (it exits on
// the first error reply) and print no error. It measures nothing: the
// figures are in docs/benchmarks.md.
func TestRedisBenchmark(t *testing.T) {
	needCluster(t)
	bin, err := exec.LookPath("redis-benchmark")
	if err != nil {
		t.Skip("redis-benchmark not installed (apt-get install redis-tools): skipped")
	}
	host, port, err := net.SplitHostPort(shared.Nodes[0].Client)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Small -n: CI time, not speed. No -r: with it, HSET fills one hash
	// with up to -r fields, past the server's --max-fields (256), and
	// gets TOOLARGE (README, "Redis commands").
	out, err := exec.CommandContext(ctx, bin, "-h", host, "-p", port, "-q",
		"-t", "set,get,incr,hset", "-n", "2000", "-c", "10").CombinedOutput()
	// -q still draws progress with carriage returns: keep the last state
	// of each line.
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		parts := strings.Split(l, "\r")
		if s := strings.TrimSpace(parts[len(parts)-1]); s != "" {
			lines = append(lines, s)
		}
	}
	text := strings.Join(lines, "\n")
	if err != nil {
		t.Fatalf("redis-benchmark: %v\n%s", err, text)
	}
	if strings.Contains(strings.ToLower(text), "error") || strings.Contains(text, "WARN") {
		t.Fatalf("redis-benchmark reported a problem:\n%s", text)
	}
	for _, test := range []string{"SET", "GET", "INCR", "HSET"} {
		if !regexp.MustCompile(`(?m)^` + test + `: [0-9.]+ requests per second`).MatchString(text) {
			t.Errorf("no result for %s in:\n%s", test, text)
		}
	}
	t.Logf("redis-benchmark:\n%s", text)
}
