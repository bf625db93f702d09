package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1234": 1234, "1k": 1000, "1kb": 1024, "512mb": 512 << 20,
		"2GB": 2 << 30, "3g": 3_000_000_000, " 7 mb ": 7 << 20, "10b": 10,
		"512MiB": 512 << 20, "1GiB": 1 << 30, "4KiB": 4 << 10, "1tib": 1 << 40,
	} {
		if got, err := parseByteSize(in); err != nil || got != want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "mb", "1tb", "1.5gb", "9223372036854775807gb"} {
		if _, err := parseByteSize(bad); err == nil {
			t.Errorf("parseByteSize(%q) accepted", bad)
		}
	}
}

// The resource-limit flags reach the node's configuration, from the
// command line and from the environment.
func TestResourceLimitFlags(t *testing.T) {
	cfg, err := parseServer(t, []string{"--id", "n1", "--data-dir", "/d", "--bootstrap-expect", "1",
		"--max-clients", "50", "--client-idle-timeout", "90s", "--max-inflight-per-conn", "64",
		"--max-memory", "1gb"}, map[string]string{"SESSIONRAFT_MAX_RUNNING": "512"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RESP.MaxConns != 50 || cfg.RESP.IdleTimeout != 90*time.Second || cfg.RESP.MaxInflight != 64 ||
		cfg.RESP.MaxRunning != 512 || cfg.MaxMemory != 1<<30 {
		t.Fatalf("got MaxConns %d IdleTimeout %v MaxInflight %d MaxRunning %d MaxMemory %d",
			cfg.RESP.MaxConns, cfg.RESP.IdleTimeout, cfg.RESP.MaxInflight, cfg.RESP.MaxRunning, cfg.MaxMemory)
	}
	cfg, err = parseServer(t, []string{"--id", "n1", "--data-dir", "/d", "--bootstrap-expect", "1"}, nil)
	if err != nil || cfg.RESP.IdleTimeout != 5*time.Minute || cfg.MaxMemory != 0 {
		t.Fatalf("defaults: idle %v, max memory %d, %v", cfg.RESP.IdleTimeout, cfg.MaxMemory, err)
	}
	if _, err := parseServer(t, []string{"--id", "n1", "--data-dir", "/d", "--bootstrap-expect", "1", "--max-clients", "-1"}, nil); err == nil || !strings.Contains(err.Error(), "MaxConns") {
		t.Fatalf("negative --max-clients: %v", err)
	}
}
