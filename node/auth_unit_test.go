package node

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

// TestSubcommandTable checks the subcommands of the command table as
// TestCommandTable checks commands: what Dispatch, COMMAND and the ACL
// catalog rely on.
func TestSubcommandTable(t *testing.T) {
	n := 0
	for _, s := range commandTable {
		for _, sub := range s.subs {
			n++
			parent, name, ok := strings.Cut(sub.name, "|")
			switch {
			case !ok || parent != s.name || name == "" || sub.name != strings.ToUpper(sub.name):
				t.Errorf("%s: subcommand name %q, want %s|NAME in upper case", s.name, sub.name, s.name)
			case sub.run == nil:
				t.Errorf("%s: no handler", sub.name)
			case sub.subs != nil:
				t.Errorf("%s: subcommands nest one level only", sub.name)
			case sub.arity < 2 && sub.arity > -2:
				t.Errorf("%s: arity %d does not count the parent and the subcommand", sub.name, sub.arity)
			case sub.flags&(flagWrite|flagReadOnly|flagLocal|flagAdmin) == 0:
				t.Errorf("%s: says neither what it touches nor that it is admin", sub.name)
			case (sub.categories()&catFast != 0) == (sub.categories()&catSlow != 0):
				t.Errorf("%s: want exactly one of @fast and @slow", sub.name)
			}
		}
		if s.subs != nil && s.arity > -2 {
			t.Errorf("%s: has subcommands, so needs at least 2 arguments (arity -2)", s.name)
		}
	}
	if n == 0 {
		t.Fatal("no subcommands in the table (ACL has some)")
	}
	cat := aclCatalog(false)
	for _, name := range []string{"auth", "acl", "acl|list", "acl|whoami", "session.get"} {
		if _, ok := cat[name]; !ok {
			t.Errorf("catalog lacks %q", name)
		}
	}
	if _, ok := cat["debug.clock"]; ok {
		t.Error("catalog has a test-mode command outside test mode")
	}
	if _, ok := aclCatalog(true)["debug.clock"]; !ok {
		t.Error("catalog lacks a test-mode command in test mode")
	}
}

func TestKeyAccess(t *testing.T) {
	for _, c := range []struct {
		f           keyFlag
		read, write bool
	}{
		{keyRO | keyAccess, true, false},
		{keyRW | keyUpdate, false, true},
		{keyRW | keyAccess | keyDelete, true, true},
		{keyOW | keyInsert, false, true},
		{keyRM | keyDelete, false, true},
		{keyRO, true, false},
		{keyRW, false, true},
	} {
		if r, w := c.f.access(); r != c.read || w != c.write {
			t.Errorf("%b: read %v write %v, want %v %v", c.f, r, w, c.read, c.write)
		}
	}
}

func TestConfigClientSecurity(t *testing.T) {
	base := DefaultConfig()
	base.ID, base.DataDir, base.BootstrapExpect = "v1", "/tmp/x", 1
	for _, c := range []struct {
		name  string
		tweak func(*Config)
		want  string
	}{
		{"TLS without a certificate", func(c *Config) { c.ClientTLS = &tls.Config{} }, "ClientTLS has no certificate"},
		{"TLS 1.1", func(c *Config) {
			c.ClientTLS = &tls.Config{Certificates: []tls.Certificate{{}}, MinVersion: tls.VersionTLS11}
		}, "TLS 1.2 or later"},
		{"requirepass with a line break", func(c *Config) { c.RequirePass = "a\nb" }, "line break"},
	} {
		cfg := base
		c.tweak(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	cfg := base
	cfg.ClientTLS = &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return nil, nil }}
	cfg.RequirePass = "pw"
	if err := cfg.Validate(); err != nil {
		t.Errorf("valid client security: %v", err)
	}
}

func TestFailLogRateLimit(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	var l failLog
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}
	t0 := time.Unix(1000, 0)
	l.note(log, "alice", remote, t0)
	for i := range 5 {
		l.note(log, "mallory", remote, t0.Add(time.Duration(i)*100*time.Millisecond))
	}
	l.note(log, strings.Repeat("x", 200), remote, t0.Add(failLogEvery))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[0], "user=alice") || !strings.Contains(lines[0], "127.0.0.1:5000") {
		t.Errorf("first line %q", lines[0])
	}
	if !strings.Contains(lines[1], "failures_not_logged=5") || strings.Contains(lines[1], strings.Repeat("x", 65)) {
		t.Errorf("second line %q", lines[1])
	}
}
