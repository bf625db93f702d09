package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/internal/testcluster"
	"github.com/sessionraft/sessionraft/transport/resp"
)

// The ACL file of the authentication tests: an admin, a read-only user, a
// user confined to keys app:*, a disabled user.
const testACLFile = `
user admin on >adminpw ~* +@all
user reader on >readpw ~* +@read
user app on >apppw ~app:* +@all -@admin
user gone off >gonepw ~* +@all
`

// startSecured starts a one-node cluster with requirepass and aclFile
// (written to a temporary file, whose path it returns).
func startSecured(t *testing.T, aclFile string) (*testCluster, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users.acl")
	if err := os.WriteFile(path, []byte(aclFile), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startClusterAs(t, 1, func(cfg *Config) {
		cfg.RequirePass = "defaultpw"
		cfg.ACLFile = path
	}, testcluster.ClientOptions{Password: "defaultpw"})
	return c, path
}

// reply renders a reply as redis-cli's raw form: "-CODE text" for an
// error, the string otherwise.
func reply(v resp.Value) string {
	if v.Kind == resp.Error {
		return "-" + v.Str
	}
	return v.Str
}

func wantReply(t *testing.T, c *clientT, want string, args ...string) {
	t.Helper()
	if got := reply(c.do(args...)); got != want {
		t.Errorf("%q: got %q, want %q", args, got, want)
	}
}

func TestAuthRequired(t *testing.T) {
	tc, _ := startSecured(t, testACLFile)
	c := &clientT{t, tc.client(0)}

	const noauth = "-NOAUTH Authentication required."
	const wrongpass = "-WRONGPASS invalid username-password pair or user is disabled."
	// Before AUTH: every command but AUTH, HELLO with AUTH and QUIT.
	for _, args := range [][]string{
		{"PING"}, {"SESSION.GET", "s1"}, {"SESSION.CREATE", "TTL", "60"}, {"TOPOLOGY"},
		{"ACL", "WHOAMI"}, {"COMMAND", "COUNT"}, {"CLIENT", "SETNAME", "x"}, {"INFO"},
	} {
		wantReply(t, c, noauth, args...)
	}
	// What Redis answers before the auth check: unknown commands, arity.
	wantReply(t, c, "-ERR unknown command 'NOSUCH', with args beginning with: ", "NOSUCH")
	wantReply(t, c, "-ERR wrong number of arguments for 'session.get' command", "SESSION.GET")
	wantReply(t, c, "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time", "HELLO", "3")

	// Wrong credentials, all alike.
	wantReply(t, c, wrongpass, "AUTH", "nope")
	wantReply(t, c, wrongpass, "AUTH", "admin", "nope")
	wantReply(t, c, wrongpass, "AUTH", "ghost", "adminpw")
	wantReply(t, c, wrongpass, "AUTH", "gone", "gonepw")
	wantReply(t, c, wrongpass, "HELLO", "3", "AUTH", "admin", "nope")
	wantReply(t, c, noauth, "PING")

	// requirepass is the default user's password.
	wantReply(t, c, "OK", "AUTH", "defaultpw")
	wantReply(t, c, "default", "ACL", "WHOAMI")
	wantReply(t, c, "PONG", "PING")
	// A failed AUTH keeps the user the connection had.
	wantReply(t, c, wrongpass, "AUTH", "admin", "nope")
	wantReply(t, c, "default", "ACL", "WHOAMI")

	// QUIT needs no authentication.
	q := &clientT{t, tc.client(0)}
	wantReply(t, q, "OK", "QUIT")
}

func TestAuthHello(t *testing.T) {
	tc, _ := startSecured(t, testACLFile)
	c := &clientT{t, tc.client(0)}
	v := c.ok("HELLO", "3", "AUTH", "app", "apppw", "SETNAME", "myapp")
	if v.Kind != resp.Map {
		t.Fatalf("HELLO 3 reply is a %v, want a map", v.Kind)
	}
	m := asMap(t, v)
	if m["proto"].Int != 3 || m["server"].Str != "sessionraft" {
		t.Errorf("HELLO reply %v", v)
	}
	wantReply(t, c, "app", "ACL", "WHOAMI")
	// Once authenticated, HELLO needs no AUTH.
	if v := c.ok("HELLO", "2"); v.Kind != resp.Array {
		t.Errorf("HELLO 2 reply is a %v", v.Kind)
	}
	// The default user by name, as rueidis sends it for a password alone.
	c2 := &clientT{t, tc.client(0)}
	c2.ok("HELLO", "3", "AUTH", "default", "defaultpw")
	wantReply(t, c2, "default", "ACL", "WHOAMI")
}

func TestACLPermissions(t *testing.T) {
	tc, _ := startSecured(t, testACLFile)
	admin := &clientT{t, tc.client(0)}
	admin.ok("AUTH", "admin", "adminpw")
	id := reply(asMap(t, admin.ok("SESSION.CREATE", "TTL", "60", "ID", "app:1", "FIELDS", "a", "1"))["id"])
	if id != "app:1" {
		t.Fatalf("created %q", id)
	}
	admin.ok("SESSION.CREATE", "TTL", "60", "ID", "other:1", "SUBJECT", "alice")

	// A read-only user reads, and may not write.
	reader := &clientT{t, tc.client(0)}
	reader.ok("AUTH", "reader", "readpw")
	reader.ok("SESSION.GET", "app:1", "NOTOUCH")
	reader.ok("SESSION.LIST", "alice")
	wantReply(t, reader, "-NOPERM User reader has no permissions to run the 'session.set' command", "SESSION.SET", "app:1", "a", "2")
	wantReply(t, reader, "-NOPERM User reader has no permissions to run the 'session.create' command", "SESSION.CREATE", "TTL", "60")
	wantReply(t, reader, "-NOPERM User reader has no permissions to run the 'ping' command", "PING")
	wantReply(t, reader, "-NOPERM User reader has no permissions to run the 'acl|whoami' command", "ACL", "WHOAMI")

	// Key patterns: app may touch app:* only, and not every key.
	app := &clientT{t, tc.client(0)}
	app.ok("AUTH", "app", "apppw")
	const nokey = "-NOPERM No permissions to access a key"
	app.ok("SESSION.GET", "app:1")
	app.ok("SESSION.SET", "app:1", "a", "2")
	app.ok("SESSION.CREATE", "TTL", "60", "ID", "app:2")
	app.ok("SESSION.CREATE", "TTL", "60") // a fresh id touches no one's session
	wantReply(t, app, nokey, "SESSION.GET", "other:1")
	wantReply(t, app, nokey, "SESSION.SET", "other:1", "a", "2")
	wantReply(t, app, nokey, "SESSION.CREATE", "TTL", "60", "ID", "other:2")
	wantReply(t, app, nokey, "SESSION.TOUCH", "app:1", "other:1")
	wantReply(t, app, nokey, "SESSION.DESTROY", "other:1")
	wantReply(t, app, nokey, "SESSION.LIST", "alice")
	wantReply(t, app, nokey, "SESSION.REVOKE", "alice")
	wantReply(t, app, "-NOPERM User app has no permissions to run the 'acl|list' command", "ACL", "LIST")
	wantReply(t, app, "-NOPERM User app has no permissions to run the 'acl|load' command", "ACL", "LOAD")
	wantReply(t, app, "app", "ACL", "WHOAMI")

	// Admin commands.
	v := admin.ok("ACL", "USERS")
	var users []string
	for _, e := range v.Elems {
		users = append(users, e.Str)
	}
	if want := []string{"admin", "app", "default", "gone", "reader"}; !slices.Equal(users, want) {
		t.Errorf("ACL USERS = %v, want %v", users, want)
	}
	list := admin.ok("ACL", "LIST")
	var lines []string
	for _, e := range list.Elems {
		lines = append(lines, e.Str)
		if strings.Contains(e.Str, "pw") {
			t.Errorf("ACL LIST shows a password: %q", e.Str)
		}
	}
	if want := "user reader on #" + sha256Hex("readpw") + " ~* +@read"; !slices.Contains(lines, want) {
		t.Errorf("ACL LIST = %q, want a line %q", lines, want)
	}
	cats := admin.ok("ACL", "CAT")
	if len(cats.Elems) == 0 || !slices.ContainsFunc(cats.Elems, func(e resp.Value) bool { return e.Str == "dangerous" }) {
		t.Errorf("ACL CAT = %v", cats)
	}
	adminCmds := admin.ok("ACL", "CAT", "admin")
	if !slices.ContainsFunc(adminCmds.Elems, func(e resp.Value) bool { return e.Str == "acl|load" }) ||
		slices.ContainsFunc(adminCmds.Elems, func(e resp.Value) bool { return e.Str == "acl|whoami" }) {
		t.Errorf("ACL CAT admin = %v", adminCmds)
	}
	wantReply(t, admin, "-BADARG invalid argument: unknown category 'nosuch'", "ACL", "CAT", "nosuch")
	wantReply(t, admin, "-UNKNOWNCMD unknown subcommand 'NOSUCH'. Try ACL HELP.", "ACL", "NOSUCH")
	wantReply(t, admin, "-BADARG wrong number of arguments for 'acl|whoami'", "ACL", "WHOAMI", "extra")
}

func TestACLLoadLive(t *testing.T) {
	tc, path := startSecured(t, testACLFile)
	admin := &clientT{t, tc.client(0)}
	admin.ok("AUTH", "admin", "adminpw")
	admin.ok("SESSION.CREATE", "TTL", "60", "ID", "other:1")
	app := &clientT{t, tc.client(0)}
	app.ok("AUTH", "app", "apppw")
	reader := &clientT{t, tc.client(0)}
	reader.ok("AUTH", "reader", "readpw")
	wantReply(t, app, "-NOPERM No permissions to access a key", "SESSION.GET", "other:1")

	// A file with an error changes nothing.
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(testACLFile + "user broken on +@nosuch\n")
	if v := admin.do("ACL", "LOAD"); errCode(v) != "ERR" || !strings.Contains(v.Str, "line 6") || strings.Contains(v.Str, "acl: syntax") {
		t.Errorf("ACL LOAD of a bad file: %q", v.Str)
	}
	wantReply(t, app, "-NOPERM No permissions to access a key", "SESSION.GET", "other:1")
	reader.ok("SESSION.GET", "other:1", "NOTOUCH")

	// The new rules apply to live connections at their next command: app
	// gets every key; reader is removed; gone is back.
	write(`
user admin on >adminpw ~* +@all
user app on >newpw ~* +@all -@admin
user gone on >gonepw ~* +@read
`)
	admin.ok("ACL", "LOAD")
	app.ok("SESSION.GET", "other:1", "NOTOUCH") // authenticated by name: the new password is for new logins
	wantReply(t, reader, "-NOAUTH Authentication required.", "SESSION.GET", "other:1")
	wantReply(t, reader, "-WRONGPASS invalid username-password pair or user is disabled.", "AUTH", "reader", "readpw")
	gone := &clientT{t, tc.client(0)}
	gone.ok("AUTH", "gone", "gonepw")
	gone.ok("SESSION.GET", "other:1", "NOTOUCH")

	// Turning a user off takes its access away at once too.
	write(`
user admin on >adminpw ~* +@all
user app off >newpw ~* +@all
`)
	if err := tc.node(0).ReloadACL(); err != nil { // what SIGHUP does
		t.Fatal(err)
	}
	wantReply(t, app, "-NOAUTH Authentication required.", "SESSION.GET", "other:1")
	wantReply(t, gone, "-NOAUTH Authentication required.", "PING")
	admin.ok("PING")
}

// TestAuthOpen: without requirepass or an ACL file nothing changes for
// clients, and AUTH says there is no password.
func TestAuthOpen(t *testing.T) {
	tc := startCluster(t, 1, nil)
	c := &clientT{t, tc.client(0)}
	c.ok("PING")
	wantReply(t, c, "default", "ACL", "WHOAMI")
	wantReply(t, c, "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?", "AUTH", "x")
	c.ok("HELLO", "3")
}

// TestAuthStartErrors: a bad ACL file stops Start before any port opens.
func TestAuthStartErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.acl")
	if err := os.WriteFile(path, []byte("user x on >secretpw +@nosuch\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, "a1", dir)
	cfg.BootstrapExpect = 1
	cfg.ACLFile = path
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := Start(ctx, cfg)
	if err == nil {
		n.Close()
		t.Fatal("Start accepted a bad ACL file")
	}
	if !strings.Contains(err.Error(), "line 1") || strings.Contains(err.Error(), "secretpw") {
		t.Errorf("error %q", err)
	}
	cfg.ACLFile = filepath.Join(dir, "missing.acl")
	if n, err := Start(ctx, cfg); err == nil {
		n.Close()
		t.Fatal("Start accepted a missing ACL file")
	}
}

func sha256Hex(s string) string {
	d := sha256.Sum256([]byte(s))
	return hex.EncodeToString(d[:])
}
