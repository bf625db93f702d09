package main

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/node"
)

func TestEnvName(t *testing.T) {
	for flag, want := range map[string]string{
		"data-dir":         "SESSIONRAFT_DATA_DIR",
		"id":               "SESSIONRAFT_ID",
		"max-staleness":    "SESSIONRAFT_MAX_STALENESS",
		"advertise-client": "SESSIONRAFT_ADVERTISE_CLIENT",
	} {
		if got := envName(flag); got != want {
			t.Errorf("envName(%q) = %q, want %q", flag, got, want)
		}
	}
}

// parseServer parses args and a fake environment the way "server" does and
// returns the resulting node configuration.
func parseServer(t *testing.T, args []string, env map[string]string) (node.Config, error) {
	t.Helper()
	cmd, o := newServerCommand()
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatalf("ParseFlags(%q): %v", args, err)
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	if err := applyEnv(cmd.Flags(), lookup); err != nil {
		return node.Config{}, err
	}
	return o.config(io.Discard)
}

func TestFlagEnvPrecedence(t *testing.T) {
	env := map[string]string{
		"SESSIONRAFT_ID":               "from-env",
		"SESSIONRAFT_DATA_DIR":         "/env/data",
		"SESSIONRAFT_MAX_STALENESS":    "5", // integer seconds
		"SESSIONRAFT_REQUEST_TIMEOUT":  "7s",
		"SESSIONRAFT_JOIN":             "a:1, b:2",
		"SESSIONRAFT_BOOTSTRAP_EXPECT": "3",
		"SESSIONRAFT_LOG_FORMAT":       "json",
		"SESSIONRAFT_MAX_FIELDS":       "77",
		"SESSIONRAFT_NO_SYNC":          "true",
		"SESSIONRAFT_TEST_MODE":        "1",
	}
	args := []string{
		"--id", "from-flag",
		"--max-staleness", "1500ms",
		"--join", "c:3", "--join", "d:4,e:5",
		"--max-fields", "99",
	}
	cfg, err := parseServer(t, args, env)
	if err != nil {
		t.Fatal(err)
	}
	def := node.DefaultConfig()
	checks := []struct {
		name      string
		got, want any
	}{
		{"ID (flag wins)", cfg.ID, "from-flag"},
		{"DataDir (env)", cfg.DataDir, "/env/data"},
		{"MaxStaleness (flag wins)", cfg.MaxStaleness, 1500 * time.Millisecond},
		{"RequestTimeout (env)", cfg.RequestTimeout, 7 * time.Second},
		{"Join (flag wins, repeatable and comma list)", strings.Join(cfg.Join, " "), "c:3 d:4 e:5"},
		{"BootstrapExpect (env)", cfg.BootstrapExpect, 3},
		{"MaxFields (flag wins)", i64(cfg.Limits.MaxFields), int64(99)},
		{"MaxValueBytes (default)", i64(cfg.Limits.MaxValueBytes), i64(def.Limits.MaxValueBytes)},
		{"NoSync (env)", cfg.NoSync, true},
		{"TestMode (env)", cfg.TestMode, true},
		{"SweepInterval (default)", cfg.SweepInterval, def.SweepInterval},
		{"ClientAddr (default)", cfg.ClientAddr, def.ClientAddr},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if cfg.Logger == nil {
		t.Error("Logger not set")
	}

	// Env alone, with the comma list trimmed.
	cfg, err = parseServer(t, nil, env)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ID != "from-env" || cfg.MaxStaleness != 5*time.Second || !slices.Equal(cfg.Join, []string{"a:1", "b:2"}) {
		t.Errorf("env only: ID %q MaxStaleness %v Join %q", cfg.ID, cfg.MaxStaleness, cfg.Join)
	}
}

func TestEnvErrors(t *testing.T) {
	base := map[string]string{"SESSIONRAFT_ID": "n1", "SESSIONRAFT_DATA_DIR": "/d", "SESSIONRAFT_BOOTSTRAP_EXPECT": "3"}
	for k, v := range map[string]string{
		"SESSIONRAFT_MAX_STALENESS":    "soon",
		"SESSIONRAFT_BOOTSTRAP_EXPECT": "three",
		"SESSIONRAFT_REQUEST_TIMEOUT":  "-1s",
	} {
		env := map[string]string{k: v}
		for bk, bv := range base {
			if _, ok := env[bk]; !ok {
				env[bk] = bv
			}
		}
		_, err := parseServer(t, nil, env)
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%q: error %v does not name the variable", k, v, err)
		}
	}
	for _, args := range [][]string{
		{"--log-format", "xml"},
		{"--log-level", "loud"},
		{"--max-value-bytes", "-1"},
	} {
		if _, err := parseServer(t, args, base); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
	// Missing required settings are reported by node's validation.
	if _, err := parseServer(t, nil, nil); err == nil {
		t.Error("no id and data dir: no error")
	}
}

func TestHelpNamesEnv(t *testing.T) {
	cmd, _ := newServerCommand()
	usage := cmd.Flags().FlagUsages()
	for _, want := range []string{"$SESSIONRAFT_DATA_DIR", "$SESSIONRAFT_JOIN", "$SESSIONRAFT_MAX_ID_LEN"} {
		if !strings.Contains(usage, want) {
			t.Errorf("help does not mention %s", want)
		}
	}
	if strings.Contains(usage, "test-mode") {
		t.Error("--test-mode should be hidden")
	}
	if !strings.Contains(cmd.Long, "Precedence") {
		t.Error("help does not document precedence")
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"2": 2 * time.Second, "0": 0, "1500ms": 1500 * time.Millisecond, "30m": 30 * time.Minute, " 3 ": 3 * time.Second,
	} {
		got, err := parseDuration(in)
		if err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "-1", "-2s", "1.5", "99999999999999999"} {
		if _, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q): no error", in)
		}
	}
}
