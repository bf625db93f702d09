package acl

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/sessionraft/sessionraft/internal/glob"
)

// DefaultUser is the user a connection is when it has not authenticated,
// and the one `AUTH password` (without a user name) authenticates as.
const DefaultUser = "default"

// Catalog tells the package which commands exist and their categories
// (lower case, without '@'). Names are matched case-insensitively; a
// subcommand is named "parent|sub" (e.g. "acl|list").
type Catalog map[string][]string

// KnownCategories are the category names a rule may use, Redis's own plus
// none of ours: a rule naming another category is a syntax error, as in
// Redis.
var KnownCategories = []string{
	"keyspace", "read", "write", "set", "sortedset", "list", "hash", "string",
	"bitmap", "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow",
	"blocking", "dangerous", "connection", "transaction", "scripting",
}

// User is one user's resolved permissions. Immutable.
type User struct {
	name      string
	enabled   bool
	nopass    bool
	passwords [][sha256.Size]byte
	allKeys   bool
	keys      []keyPattern
	channels  []string // '&' patterns
	allChans  bool
	allowed   map[string]bool // command name (lower case) -> may run
	allCmds   bool            // also commands added to the catalog later
	cmdRules  []string        // command rules as given, for ACL LIST
}

type keyPattern struct {
	pattern     string
	read, write bool
}

// Name is the user's name.
func (u *User) Name() string { return u.name }

// Enabled reports whether the user may authenticate.
func (u *User) Enabled() bool { return u.enabled }

// CanRun reports whether the user may run the command (lower case; for a
// command with subcommands, the caller checks "parent|sub" too).
func (u *User) CanRun(cmd string) bool {
	if u.allowed[cmd] {
		return true
	}
	if _, denied := u.allowed[cmd]; denied {
		return false
	}
	return u.allCmds
}

// Unrestricted reports whether the user may run every command on every
// key, so a caller may skip the per-command checks.
func (u *User) Unrestricted() bool {
	if !u.allCmds || !u.allKeys {
		return false
	}
	for _, ok := range u.allowed {
		if !ok {
			return false
		}
	}
	return true
}

// AllKeys reports whether the user may read (write=false) or write every
// key: what a command needs that touches sessions it cannot name before it
// runs (all of a subject's, say).
func (u *User) AllKeys(write bool) bool {
	if u.allKeys {
		return true
	}
	for _, k := range u.keys {
		if k.pattern == "*" && ((write && k.write) || (!write && k.read)) {
			return true
		}
	}
	return false
}

// CanKey reports whether the user may read (write=false) or write the key.
func (u *User) CanKey(key string, write bool) bool {
	if u.allKeys {
		return true
	}
	for _, k := range u.keys {
		if (write && !k.write) || (!write && !k.read) {
			continue
		}
		if glob.Match(k.pattern, key) {
			return true
		}
	}
	return false
}

// CanChannel reports whether the user may publish or subscribe to channel.
func (u *User) CanChannel(channel string) bool {
	if u.allChans {
		return true
	}
	for _, p := range u.channels {
		if glob.Match(p, channel) {
			return true
		}
	}
	return false
}

// checkPassword compares in constant time against every stored digest.
func (u *User) checkPassword(pass string) bool {
	if u.nopass {
		return true
	}
	d := sha256.Sum256([]byte(pass))
	ok := 0
	for i := range u.passwords {
		ok |= subtle.ConstantTimeCompare(d[:], u.passwords[i][:])
	}
	return ok == 1
}

// Describe renders the user as an ACL file line (ACL LIST, ACL SAVE):
// passwords as digests only.
func (u *User) Describe() string {
	var b strings.Builder
	b.WriteString("user ")
	b.WriteString(u.name)
	if u.enabled {
		b.WriteString(" on")
	} else {
		b.WriteString(" off")
	}
	if u.nopass {
		b.WriteString(" nopass")
	}
	for _, p := range u.passwords {
		b.WriteString(" #")
		b.WriteString(hex.EncodeToString(p[:]))
	}
	if u.allKeys {
		b.WriteString(" ~*")
	} else {
		for _, k := range u.keys {
			switch {
			case k.read && k.write:
				b.WriteString(" ~")
			case k.read:
				b.WriteString(" %R~")
			default:
				b.WriteString(" %W~")
			}
			b.WriteString(k.pattern)
		}
	}
	if u.allChans {
		b.WriteString(" &*")
	} else {
		for _, c := range u.channels {
			b.WriteString(" &")
			b.WriteString(c)
		}
	}
	if len(u.cmdRules) == 0 {
		b.WriteString(" -@all")
	}
	for _, r := range u.cmdRules {
		b.WriteString(" ")
		b.WriteString(r)
	}
	return b.String()
}

// Set is an immutable collection of users.
type Set struct {
	users map[string]*User
}

// Lookup returns the named user, or nil.
func (s *Set) Lookup(name string) *User { return s.users[name] }

// Users lists every user, sorted by name.
func (s *Set) Users() []*User {
	out := make([]*User, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// Authenticate checks a user name and password. It returns ErrWrongPass
// for an unknown user, a wrong password or a disabled user alike.
func (s *Set) Authenticate(name, pass string) (*User, error) {
	u := s.users[name]
	if u == nil || !u.enabled || !u.checkPassword(pass) {
		return nil, ErrWrongPass
	}
	return u, nil
}

// AuthenticateDefault is `AUTH password`: the default user, and Redis's
// answer when that user needs no password.
func (s *Set) AuthenticateDefault(pass string) (*User, error) {
	if u := s.users[DefaultUser]; u != nil && u.enabled && u.nopass {
		return nil, ErrNoPassConfigured
	}
	return s.Authenticate(DefaultUser, pass)
}

// NeedsAuth reports whether a new connection must authenticate before
// running commands: the default user is off or has a password.
func (s *Set) NeedsAuth() bool {
	u := s.users[DefaultUser]
	return u == nil || !u.enabled || !u.nopass
}

// Options are the server settings that shape the default user.
type Options struct {
	// RequirePass, when set, gives the default user this password (and
	// takes away nopass), as Redis's requirepass does.
	RequirePass string
}

// New builds a Set from an ACL file's contents (nil or empty: only the
// default user). The default user, unless the file defines it, is
// `on nopass ~* &* +@all`, with RequirePass as its password if set.
func New(r io.Reader, cat Catalog, o Options) (*Set, error) {
	s := &Set{users: make(map[string]*User)}
	if r != nil {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 4096), 1<<20)
		line := 0
		for sc.Scan() {
			line++
			text := strings.TrimSpace(sc.Text())
			if text == "" || strings.HasPrefix(text, "#") {
				continue
			}
			words := strings.Fields(text)
			if words[0] != "user" || len(words) < 2 {
				return nil, fmt.Errorf("%w: line %d: expected 'user <name> <rules...>'", ErrSyntax, line)
			}
			name := words[1]
			if _, dup := s.users[name]; dup {
				return nil, fmt.Errorf("%w: line %d: user %q defined twice", ErrSyntax, line, name)
			}
			u, err := newUser(name, words[2:], cat)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
			s.users[name] = u
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrSyntax, err)
		}
	}
	if _, ok := s.users[DefaultUser]; !ok {
		u, err := newUser(DefaultUser, []string{"on", "nopass", "~*", "&*", "+@all"}, cat)
		if err != nil {
			return nil, err
		}
		s.users[DefaultUser] = u
	}
	if o.RequirePass != "" {
		d := *s.users[DefaultUser]
		d.nopass = false
		d.passwords = [][sha256.Size]byte{sha256.Sum256([]byte(o.RequirePass))}
		s.users[DefaultUser] = &d
	}
	return s, nil
}

// Load reads an ACL file from disk (see New).
func Load(path string, cat Catalog, o Options) (*Set, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return New(f, cat, o)
}

// newUser applies rules left to right to a user that starts off, with no
// passwords, keys, channels or commands (Redis's `reset` state).
func newUser(name string, rules []string, cat Catalog) (*User, error) {
	if name == "" || strings.ContainsAny(name, " \t\r\n") {
		return nil, fmt.Errorf("%w: bad user name", ErrSyntax)
	}
	u := &User{name: name, allowed: make(map[string]bool)}
	for _, r := range rules {
		if err := u.apply(r, cat); err != nil {
			return nil, fmt.Errorf("%w: user %q, rule %q: %v", ErrSyntax, name, clip(r), err)
		}
	}
	return u, nil
}

// clip keeps rules that carry a password out of errors and logs.
func clip(rule string) string {
	if strings.HasPrefix(rule, ">") || strings.HasPrefix(rule, "<") {
		return rule[:1] + "..."
	}
	return rule
}

func (u *User) apply(r string, cat Catalog) error {
	lr := strings.ToLower(r)
	switch lr {
	case "on":
		u.enabled = true
		return nil
	case "off":
		u.enabled = false
		return nil
	case "nopass":
		u.nopass = true
		u.passwords = nil
		return nil
	case "resetpass":
		u.nopass = false
		u.passwords = nil
		return nil
	case "allkeys":
		u.allKeys, u.keys = true, nil
		return nil
	case "resetkeys":
		u.allKeys, u.keys = false, nil
		return nil
	case "allchannels":
		u.allChans, u.channels = true, nil
		return nil
	case "resetchannels":
		u.allChans, u.channels = false, nil
		return nil
	case "allcommands":
		return u.apply("+@all", cat)
	case "nocommands":
		return u.apply("-@all", cat)
	case "reset":
		*u = User{name: u.name, allowed: make(map[string]bool)}
		return nil
	case "sanitize-payload", "skip-sanitize-payload":
		return nil // about RESTORE payloads, which this server has not
	}
	switch {
	case strings.HasPrefix(r, ">"):
		u.addPassword(sha256.Sum256([]byte(r[1:])))
		return nil
	case strings.HasPrefix(r, "<"):
		u.removePassword(sha256.Sum256([]byte(r[1:])))
		return nil
	case strings.HasPrefix(r, "#"), strings.HasPrefix(r, "!"):
		d, err := parseDigest(r[1:])
		if err != nil {
			return err
		}
		if r[0] == '#' {
			u.addPassword(d)
		} else {
			u.removePassword(d)
		}
		return nil
	case strings.HasPrefix(r, "~"):
		return u.addKey(r[1:], true, true)
	case strings.HasPrefix(lr, "%"):
		perm, _, ok := strings.Cut(lr[1:], "~")
		if !ok || perm == "" || strings.Trim(perm, "rw") != "" {
			return fmt.Errorf("key permission must be %%R~, %%W~ or %%RW~")
		}
		return u.addKey(r[len(perm)+2:], strings.Contains(perm, "r"), strings.Contains(perm, "w"))
	case strings.HasPrefix(r, "&"):
		if r == "&*" {
			u.allChans, u.channels = true, nil
		} else if !u.allChans {
			u.channels = append(u.channels, r[1:])
		}
		return nil
	case strings.HasPrefix(r, "+"), strings.HasPrefix(r, "-"):
		return u.commandRule(lr, cat)
	}
	return fmt.Errorf("unknown rule")
}

func parseDigest(s string) ([sha256.Size]byte, error) {
	var d [sha256.Size]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != sha256.Size {
		return d, fmt.Errorf("a password digest is 64 hex digits of SHA-256")
	}
	copy(d[:], b)
	return d, nil
}

func (u *User) addPassword(d [sha256.Size]byte) {
	u.nopass = false
	for _, p := range u.passwords {
		if p == d {
			return
		}
	}
	u.passwords = append(u.passwords, d)
}

func (u *User) removePassword(d [sha256.Size]byte) {
	for i, p := range u.passwords {
		if p == d {
			u.passwords = append(u.passwords[:i:i], u.passwords[i+1:]...)
			return
		}
	}
}

func (u *User) addKey(pattern string, read, write bool) error {
	if pattern == "" {
		return fmt.Errorf("empty key pattern")
	}
	if pattern == "*" && read && write {
		u.allKeys, u.keys = true, nil
		return nil
	}
	if !u.allKeys {
		u.keys = append(u.keys, keyPattern{pattern: pattern, read: read, write: write})
	}
	return nil
}

// commandRule applies +cmd, -cmd, +@cat or -@cat against the catalog, so a
// later rule overrides an earlier one for the commands both name.
func (u *User) commandRule(r string, cat Catalog) error {
	allow := r[0] == '+'
	target := r[1:]
	if target == "" {
		return fmt.Errorf("empty command rule")
	}
	if cat0, ok := strings.CutPrefix(target, "@"); ok {
		if cat0 == "all" {
			u.allCmds = allow
			clear(u.allowed)
			u.cmdRules = u.cmdRules[:0]
			if allow {
				u.cmdRules = append(u.cmdRules, "+@all")
			}
			return nil
		}
		if !knownCategory(cat0) {
			return fmt.Errorf("unknown command category %q", cat0)
		}
		for name, cats := range cat {
			for _, c := range cats {
				if c == cat0 {
					u.allowed[name] = allow
					break
				}
			}
		}
		u.cmdRules = append(u.cmdRules, r)
		return nil
	}
	if _, ok := cat[target]; !ok {
		return fmt.Errorf("unknown command %q", target)
	}
	u.allowed[target] = allow
	// A command with subcommands stands for all of them, as in Redis:
	// "+acl" allows every ACL subcommand, "-acl" denies them all.
	if !strings.Contains(target, "|") {
		for name := range cat {
			if strings.HasPrefix(name, target+"|") {
				u.allowed[name] = allow
			}
		}
	}
	u.cmdRules = append(u.cmdRules, r)
	return nil
}

func knownCategory(c string) bool {
	for _, k := range KnownCategories {
		if k == c {
			return true
		}
	}
	return false
}

// Categories lists the categories a rule may name, with "all".
func Categories() []string {
	return append([]string{"all"}, KnownCategories...)
}
