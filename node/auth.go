package node

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessionraft/sessionraft/node/acl"
	"github.com/sessionraft/sessionraft/transport/resp"
	"github.com/sessionraft/sessionraft/transport/wire"
)

// Client authentication and ACLs, the Redis way (node/acl holds the model).
//
// The node's users are one immutable acl.Set behind an atomic pointer:
// built at start from Config.ACLFile and Config.RequirePass, swapped whole
// by ACL LOAD or ReloadACL (SIGHUP). A connection remembers the name it
// authenticated as and the Set it resolved that name in; at its first
// command after a swap it looks the name up again, so new rights apply at
// once and a user removed or turned off loses access (the connection is
// then as a new one: it must authenticate again, unless the default user
// needs no password).
//
// Every request passes Dispatch, which calls authorize after the arity
// check, in Redis's order: an unknown command or a wrong arity is answered
// first; then a connection that has not authenticated may run only the
// commands flagged no_auth (AUTH, HELLO, QUIT; -NOAUTH otherwise); then the
// user must be allowed the command (its ACL name, "acl|list" for a
// subcommand; no_auth commands need no permission) and its keys
// (-NOPERM).
//
// Keys are session ids, located by the command table's key specs. A key
// the command reads (key flag access, or RO) needs read permission (~ or
// %R~), one it changes (update, insert, delete) write permission (~ or
// %W~). SESSION.LIST and SESSION.REVOKE name a subject, not ids: they touch
// sessions whose ids nobody knows before they run, so they need the
// permission on every key (~*, allkeys, or %R~* for SESSION.LIST and %W~*
// for SESSION.REVOKE); a subject is not matched against key patterns,
// because any client may create a session under any subject. The general
// rule: a command that reads or writes sessions but has no key spec needs
// its permission on every key. SESSION.CREATE without ID makes a fresh id
// and touches no existing session, so it needs no key permission.
//
// Forwarded requests are not checked again: the node that received a
// request authorised it, and the forwarding RPC runs between cluster
// members over the internal port.

// nodeAuth is a node's users and its failed-AUTH log.
type nodeAuth struct {
	users  atomic.Pointer[acl.Set]
	reload sync.Mutex // serialises ReloadACL
	failed failLog
}

// connAuth is who a connection is. The zero value has resolved nothing.
type connAuth struct {
	set      *acl.Set  // the Set user was resolved in
	user     *acl.User // nil: not authenticated
	name     string    // the user authenticated by AUTH/HELLO; "" if none
	free     bool      // user is unrestricted: skip the per-command checks
	explicit bool      // authenticated by AUTH or HELLO, not as the open default user
}

// ReloadACL reads the ACL file (Config.ACLFile; none: only the default
// user) and, if it is valid, makes it the node's users; otherwise the
// previous users stay and the error says what was wrong. ACL LOAD calls it,
// and the server on SIGHUP.
func (n *Node) ReloadACL() error {
	n.auth.reload.Lock()
	defer n.auth.reload.Unlock()
	cat := aclCatalog(n.cfg.TestMode)
	opts := acl.Options{RequirePass: n.cfg.RequirePass}
	var (
		set *acl.Set
		err error
	)
	if n.cfg.ACLFile == "" {
		set, err = acl.New(nil, cat, opts)
	} else {
		set, err = acl.Load(n.cfg.ACLFile, cat, opts)
	}
	if err != nil {
		return fmt.Errorf("ACL file %s: %s", n.cfg.ACLFile, aclErrText(err))
	}
	first := n.auth.users.Swap(set) == nil
	if !first {
		n.log.Info("ACL reloaded", "file", n.cfg.ACLFile, "users", len(set.Users()))
	}
	return nil
}

// aclErrText is an acl error without the package's prefix.
func aclErrText(err error) string {
	return strings.ReplaceAll(err.Error(), acl.ErrSyntax.Error(), "syntax error")
}

// aclCatalog is the command table as node/acl needs it: every command's
// ACL name (lower case; "parent|sub" for a subcommand) and categories.
func aclCatalog(testMode bool) acl.Catalog {
	table := commandTable
	if testMode {
		table = append(table[:len(table):len(table)], testCommandTable...)
	}
	cat := acl.Catalog{}
	var add func(s *cmdSpec)
	add = func(s *cmdSpec) {
		cat[s.lowerName()] = s.categoryNames()
		for _, sub := range s.subs {
			add(sub)
		}
	}
	for _, s := range table {
		add(s)
	}
	return cat
}

// categoryNames lists the command's ACL categories, without '@'.
func (s *cmdSpec) categoryNames() []string {
	var out []string
	c := s.categories()
	for _, cn := range catNames {
		if c&cn.c != 0 {
			out = append(out, cn.name)
		}
	}
	return out
}

// subcommand finds the subcommand args[1] names. For an unknown one it
// runs the parent's run, which answers it; for a wrong arity it answers;
// then it reports false.
func (s *cmdSpec) subcommand(h *handler, args [][]byte, r *resp.Reply) (*cmdSpec, bool) {
	for _, sub := range s.subs {
		if _, name, _ := strings.Cut(sub.name, "|"); strings.EqualFold(name, string(args[1])) {
			if !sub.argsOK(len(args)) {
				r.WriteError(wire.CodeBadArg, fmt.Sprintf("wrong number of arguments for '%s'", sub.lowerName()))
				return nil, false
			}
			return sub, true
		}
	}
	s.run(h, request{args: args, r: r})
	return nil, false
}

// resolve brings st up to date with the node's current users.
func (h *handler) resolve(a *connAuth) {
	cur := h.n.auth.users.Load()
	if a.set == cur {
		return
	}
	a.set, a.user, a.free = cur, nil, false
	if a.explicit {
		if u := cur.Lookup(a.name); u != nil && u.Enabled() {
			a.user = u
		} else {
			a.explicit, a.name = false, ""
		}
	}
	if !a.explicit && !cur.NeedsAuth() {
		a.user = cur.Lookup(acl.DefaultUser)
	}
	a.free = a.user != nil && a.user.Unrestricted()
}

// authorize decides whether the connection may run cmd with args: nil, or
// ErrNoAuth or a *permError.
func (h *handler) authorize(st *connState, cmd *cmdSpec, args [][]byte) error {
	a := &st.auth
	h.resolve(a)
	if a.free || cmd.flags&flagNoAuth != 0 {
		return nil
	}
	u := a.user
	if u == nil {
		return ErrNoAuth
	}
	if !u.CanRun(cmd.aclName()) {
		return &permError{user: u.Name(), cmd: cmd.aclName()}
	}
	if cmd.flags&(flagReadOnly|flagWrite) == 0 {
		return nil
	}
	if cmd.keys.first == 0 && cmd.findKeys == nil {
		if !u.AllKeys(cmd.flags&flagWrite != 0) {
			return &permError{user: u.Name()}
		}
		return nil
	}
	read, write := cmd.keys.flags.access()
	for _, i := range cmd.keyPositions(args) {
		k := string(args[i])
		if (read && !u.CanKey(k, false)) || (write && !u.CanKey(k, true)) {
			return &permError{user: u.Name()}
		}
	}
	return nil
}

// aclName is the command's name in ACL rules and NOPERM replies.
func (s *cmdSpec) aclName() string { return s.lowerName() }

// access says which permissions keys with these flags need, as Redis
// decides it: reading their contents needs read, changing, adding or
// removing them needs write; without those flags, RO needs read and the
// rest write.
func (f keyFlag) access() (read, write bool) {
	read = f&keyAccess != 0
	write = f&(keyUpdate|keyInsert|keyDelete) != 0
	if !read && !write {
		read = f&keyRO != 0
		write = !read
	}
	return read, write
}

// authenticate checks credentials for AUTH and HELLO AUTH and, on success,
// makes the connection that user. user "" is `AUTH password` (the
// default user). Failures are logged without the password.
func (h *handler) authenticate(st *connState, remote net.Addr, user, pass string) error {
	a := &st.auth
	h.resolve(a)
	var (
		u   *acl.User
		err error
	)
	if user == "" {
		u, err = a.set.AuthenticateDefault(pass)
	} else {
		u, err = a.set.Authenticate(user, pass)
	}
	if err != nil {
		if errors.Is(err, acl.ErrWrongPass) {
			h.n.auth.failed.note(h.n.log, orDefault(user, acl.DefaultUser), remote, time.Now())
		}
		return err
	}
	a.user, a.name, a.explicit = u, u.Name(), true
	a.free = u.Unrestricted()
	return nil
}

// permError is a NOPERM: the user may not run cmd, or (cmd "") touch a key.
type permError struct {
	user, cmd string
}

func (e *permError) Error() string {
	if e.cmd != "" {
		return fmt.Sprintf("user %s may not run %s", e.user, e.cmd)
	}
	return fmt.Sprintf("user %s may not access a key", e.user)
}

func (e *permError) Unwrap() error { return ErrNoPerm }

// failLog logs failed authentications at most once per failLogEvery,
// counting those it left out, so a password-guessing client cannot flood
// the log. It logs the user name (cut short) and the client address, never
// the password.
type failLog struct {
	mu      sync.Mutex
	last    time.Time
	skipped int
}

const failLogEvery = time.Second

func (l *failLog) note(log *slog.Logger, user string, remote net.Addr, now time.Time) {
	l.mu.Lock()
	if !l.last.IsZero() && now.Sub(l.last) < failLogEvery {
		l.skipped++
		l.mu.Unlock()
		return
	}
	skipped := l.skipped
	l.last, l.skipped = now, 0
	l.mu.Unlock()
	log.Warn("client authentication failed", "user", cutUTF8(user, 64), "remote", remote, "failures_not_logged", skipped)
}

// validateClientSecurity checks the client port's TLS and ACL settings.
func (c *Config) validateClientSecurity(v *validator) {
	if t := c.ClientTLS; t != nil {
		v.check(len(t.Certificates) > 0 || t.GetCertificate != nil || t.GetConfigForClient != nil,
			"ClientTLS has no certificate (Certificates, GetCertificate or GetConfigForClient)")
		v.check(t.MinVersion == 0 || t.MinVersion >= tls.VersionTLS12, "ClientTLS.MinVersion must be TLS 1.2 or later")
	}
	v.check(!strings.ContainsAny(c.RequirePass, "\r\n"), "RequirePass must not contain a line break")
}
