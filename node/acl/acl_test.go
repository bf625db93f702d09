package acl

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

var testCatalog = Catalog{
	"get":         {"read", "string", "fast"},
	"set":         {"write", "string", "slow"},
	"session.get": {"read", "fast"},
	"flushall":    {"write", "keyspace", "dangerous", "slow"},
	"acl|list":    {"admin", "slow", "dangerous"},
	"acl|whoami":  {"slow"},
	"ping":        {"fast", "connection"},
}

func mustNew(t *testing.T, file string, o Options) *Set {
	t.Helper()
	s, err := New(strings.NewReader(file), testCatalog, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDefaultUser(t *testing.T) {
	s := mustNew(t, "", Options{})
	if s.NeedsAuth() {
		t.Fatal("default user without requirepass needs no auth")
	}
	if _, err := s.AuthenticateDefault("x"); !errors.Is(err, ErrNoPassConfigured) {
		t.Fatalf("AUTH x without a password: %v", err)
	}
	u := s.Lookup(DefaultUser)
	for _, c := range []string{"get", "set", "flushall", "acl|list"} {
		if !u.CanRun(c) {
			t.Errorf("default may not run %s", c)
		}
	}
	if got := u.Describe(); got != "user default on nopass ~* &* +@all" {
		t.Errorf("Describe = %q", got)
	}
}

func TestRequirePass(t *testing.T) {
	s := mustNew(t, "", Options{RequirePass: "hunter2"})
	if !s.NeedsAuth() {
		t.Fatal("requirepass must need auth")
	}
	if _, err := s.AuthenticateDefault("wrong"); !errors.Is(err, ErrWrongPass) {
		t.Fatalf("wrong password: %v", err)
	}
	u, err := s.AuthenticateDefault("hunter2")
	if err != nil || u.Name() != DefaultUser {
		t.Fatalf("right password: %v", err)
	}
	if strings.Contains(u.Describe(), "hunter2") {
		t.Fatal("Describe shows the password")
	}
}

func TestRules(t *testing.T) {
	digest := sha256.Sum256([]byte("pw2"))
	file := `
# comment lines and blank lines are ignored

user reader on >pw1 ~* +@read
user writer on #` + hex.EncodeToString(digest[:]) + ` ~sess:* +@all -@dangerous
user off1 off >pw ~* +@all
user keyed on >k %R~ro:* %W~wo:* ~rw:* +@all
user picky on >p ~* -@all +get +acl|whoami
`
	s := mustNew(t, file, Options{})
	if _, err := s.Authenticate("reader", "pw1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate("reader", "nope"); !errors.Is(err, ErrWrongPass) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := s.Authenticate("ghost", "pw1"); !errors.Is(err, ErrWrongPass) {
		t.Fatalf("unknown user: %v", err)
	}
	if _, err := s.Authenticate("off1", "pw"); !errors.Is(err, ErrWrongPass) {
		t.Fatalf("disabled user: %v", err)
	}
	if _, err := s.Authenticate("writer", "pw2"); err != nil {
		t.Fatalf("digest password: %v", err)
	}

	type can struct {
		user, cmd string
		want      bool
	}
	for _, c := range []can{
		{"reader", "get", true}, {"reader", "session.get", true}, {"reader", "set", false},
		{"reader", "flushall", false}, {"reader", "ping", false},
		{"writer", "set", true}, {"writer", "flushall", false}, {"writer", "acl|list", false},
		{"writer", "ping", true},
		{"picky", "get", true}, {"picky", "set", false}, {"picky", "acl|whoami", true},
	} {
		if got := s.Lookup(c.user).CanRun(c.cmd); got != c.want {
			t.Errorf("%s CanRun(%s) = %v, want %v", c.user, c.cmd, got, c.want)
		}
	}

	w := s.Lookup("writer")
	if !w.CanKey("sess:abc", true) || w.CanKey("other", false) {
		t.Error("writer key patterns")
	}
	k := s.Lookup("keyed")
	for _, c := range []struct {
		key         string
		write, want bool
	}{
		{"ro:1", false, true}, {"ro:1", true, false},
		{"wo:1", true, true}, {"wo:1", false, false},
		{"rw:1", true, true}, {"rw:1", false, true},
		{"x", false, false},
	} {
		if got := k.CanKey(c.key, c.write); got != c.want {
			t.Errorf("keyed CanKey(%q, write=%v) = %v", c.key, c.write, got)
		}
	}
	if got := k.Describe(); got != "user keyed on #"+hexOf("k")+" %R~ro:* %W~wo:* ~rw:* +@all" {
		t.Errorf("Describe = %q", got)
	}
	// Order matters: a later rule wins.
	s2 := mustNew(t, "user u on nopass ~* -@all +@read -get", Options{})
	if u := s2.Lookup("u"); u.CanRun("get") || !u.CanRun("session.get") {
		t.Error("later -get must override +@read")
	}
}

func hexOf(pw string) string {
	d := sha256.Sum256([]byte(pw))
	return hex.EncodeToString(d[:])
}

func TestSyntaxErrors(t *testing.T) {
	for _, file := range []string{
		"usr alice on",
		"user",
		"user a on +@nosuchcategory",
		"user a on +nosuchcommand",
		"user a on #abc",
		"user a on %X~k",
		"user a on ~",
		"user a on whatever",
		"user a on\nuser a off",
	} {
		_, err := New(strings.NewReader(file), testCatalog, Options{})
		if !errors.Is(err, ErrSyntax) {
			t.Errorf("%q: err = %v, want ErrSyntax", file, err)
		}
	}
	// A bad rule carrying a password never shows it.
	_, err := New(strings.NewReader("user a on >secret %X~k"), testCatalog, Options{})
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("err = %v", err)
	}
}

func TestDescribeRoundTrip(t *testing.T) {
	s := mustNew(t, "user a on >pw ~k:* &ch:* -@all +@read -get\nuser b off nopass ~* +@all", Options{})
	var lines []string
	for _, u := range s.Users() {
		lines = append(lines, u.Describe())
	}
	s2 := mustNew(t, strings.Join(lines, "\n"), Options{})
	for _, u := range s.Users() {
		if got, want := s2.Lookup(u.Name()).Describe(), u.Describe(); got != want {
			t.Errorf("round trip: %q != %q", got, want)
		}
	}
	if _, err := s2.Authenticate("a", "pw"); err != nil {
		t.Fatal(err)
	}
}

func FuzzNew(f *testing.F) {
	f.Add("user a on >pw ~* +@all -@dangerous")
	f.Add("user b off #" + hexOf("x") + " %RW~a* &c +get -set")
	f.Fuzz(func(t *testing.T, file string) {
		s, err := New(strings.NewReader(file), testCatalog, Options{})
		if err != nil {
			return
		}
		// Whatever parses must describe itself in a form that parses to
		// the same description.
		var lines []string
		for _, u := range s.Users() {
			lines = append(lines, u.Describe())
		}
		s2, err := New(strings.NewReader(strings.Join(lines, "\n")), testCatalog, Options{})
		if err != nil {
			t.Fatalf("Describe output does not parse: %v\n%s", err, strings.Join(lines, "\n"))
		}
		for _, u := range s.Users() {
			if got, want := s2.Lookup(u.Name()).Describe(), u.Describe(); got != want {
				t.Fatalf("round trip: %q != %q", got, want)
			}
		}
	})
}

func TestUnrestrictedAndAllKeys(t *testing.T) {
	cat := Catalog{"get": {"read"}, "set": {"write"}, "acl": {"slow"}, "acl|list": {"admin"}, "acl|whoami": {"slow"}}
	s, err := New(strings.NewReader(`
user all on nopass ~* +@all
user minus on nopass ~* +@all -set
user keys on nopass ~a:* +@all
user r on nopass %R~* ~b:* +@all
user w on nopass %W~* +@all
`), cat, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"all": true, "minus": false, "keys": false, "r": false, "w": false} {
		if got := s.Lookup(name).Unrestricted(); got != want {
			t.Errorf("%s Unrestricted = %v", name, got)
		}
	}
	for _, c := range []struct {
		user        string
		write, want bool
	}{
		{"all", false, true}, {"all", true, true},
		{"keys", false, false}, {"keys", true, false},
		{"r", false, true}, {"r", true, false},
		{"w", false, false}, {"w", true, true},
	} {
		if got := s.Lookup(c.user).AllKeys(c.write); got != c.want {
			t.Errorf("%s AllKeys(write=%v) = %v", c.user, c.write, got)
		}
	}
}

// A command with subcommands stands for all of them, and a later rule on
// one subcommand refines it.
func TestSubcommandRules(t *testing.T) {
	cat := Catalog{"acl": {"slow"}, "acl|list": {"admin"}, "acl|whoami": {"slow"}, "get": {"read"}}
	s, err := New(strings.NewReader(`
user a on nopass -@all +acl
user b on nopass -@all +acl -acl|list
user c on nopass +@all -acl
user d on nopass -@all +acl|whoami
user e on nopass -@all +acl|list -acl
`), cat, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		user, cmd string
		want      bool
	}{
		{"a", "acl|list", true}, {"a", "acl|whoami", true}, {"a", "get", false},
		{"b", "acl|list", false}, {"b", "acl|whoami", true},
		{"c", "acl|list", false}, {"c", "acl|whoami", false}, {"c", "get", true},
		{"d", "acl|whoami", true}, {"d", "acl|list", false},
		{"e", "acl|list", false},
	} {
		if got := s.Lookup(c.user).CanRun(c.cmd); got != c.want {
			t.Errorf("%s CanRun(%s) = %v, want %v", c.user, c.cmd, got, c.want)
		}
	}
}
