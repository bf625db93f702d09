package node

import (
	"bufio"
	"context"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/transport/resp"
	"github.com/sessionraft/sessionraft/transport/wire"
)

// TestCommandTable checks every entry of the command table (production
// and test mode) for what the dispatcher, COMMAND and the ACL and metrics
// code rely on.
func TestCommandTable(t *testing.T) {
	// Redis's documentation groups, as COMMAND DOCS names them.
	groups := []string{"connection", "server", "pubsub", "session", "debug", "generic", "string", "hash", "set", "transactions"}
	seen := map[string]bool{}
	for _, s := range append(slices.Clone(commandTable), testCommandTable...) {
		t.Run(s.name, func(t *testing.T) {
			if seen[s.name] {
				t.Fatal("listed twice")
			}
			seen[s.name] = true
			if s.name == "" || s.name != strings.ToUpper(s.name) || strings.ContainsAny(s.name, " \t|") {
				t.Errorf("name %q: want one upper-case word", s.name)
			}
			if s.run == nil {
				t.Error("no handler")
			}
			// Arity: Redis's notation, counting the name.
			min := s.arity
			if min < 0 {
				min = -min
			}
			switch {
			case s.arity == 0:
				t.Error("arity 0: a command has at least its name")
			case s.maxArgs != 0 && s.arity > 0:
				t.Errorf("maxArgs %d with the fixed arity %d", s.maxArgs, s.arity)
			case s.maxArgs != 0 && s.maxArgs <= min:
				t.Errorf("maxArgs %d not above the minimum %d (use a fixed arity)", s.maxArgs, min)
			}
			if !s.argsOK(min) || s.argsOK(min-1) {
				t.Errorf("argsOK disagrees with arity %d", s.arity)
			}
			if s.maxArgs > 0 && (!s.argsOK(s.maxArgs) || s.argsOK(s.maxArgs+1)) {
				t.Errorf("argsOK disagrees with maxArgs %d", s.maxArgs)
			}

			// Flags: a command either reads or writes sessions, or
			// touches neither (local).
			f := s.flags
			if f&flagWrite != 0 && f&flagReadOnly != 0 {
				t.Error("both write and readonly")
			}
			if f&flagLocal != 0 && f&(flagWrite|flagReadOnly) != 0 {
				t.Error("local, yet reads or writes sessions")
			}
			if f&(flagWrite|flagReadOnly|flagLocal|flagAdmin) == 0 {
				t.Error("says neither what it touches (write, readonly, local) nor that it is admin")
			}

			// Categories: derived from the flags as Redis derives them,
			// exactly one of @fast and @slow.
			c := s.categories()
			if c == 0 {
				t.Error("no ACL categories")
			}
			if (c&catFast != 0) == (c&catSlow != 0) {
				t.Error("want exactly one of @fast and @slow")
			}
			if s.cats&(catFast|catSlow|catRead|catWrite|catAdmin) != 0 {
				t.Error("declares a category its flags imply; set the flag instead")
			}
			if f&(flagWrite|flagReadOnly) != 0 && c&(catKeyspace|catHash|catString|catSet|catTransaction) == 0 {
				t.Error("touches keys but has none of @keyspace, @hash, @string, @set, @transaction")
			}
			for _, cn := range catNames {
				if got, ok := catByName("@" + strings.ToUpper(cn.name)); !ok || got != cn.c {
					t.Errorf("catByName(%q) = %v, %v", cn.name, got, ok)
				}
			}

			// Keys: within the arity, and the movable ones found by a
			// function that the documentation names.
			k := s.keys
			movable := f&flagMovableKeys != 0
			if movable != (s.findKeys != nil) || movable != (k.keyword != "") {
				t.Errorf("movablekeys %v, findKeys set %v, keyword %q: want all or none", movable, s.findKeys != nil, k.keyword)
			}
			if k.first != 0 || movable {
				if k.flags == 0 {
					t.Error("keys without key flags (RO, RW, ...)")
				}
				if f&(flagWrite|flagReadOnly) == 0 {
					t.Error("has keys but neither reads nor writes sessions")
				}
			}
			if k.first != 0 {
				switch {
				case k.first < 1 || k.first >= min:
					t.Errorf("first key %d not among the %d arguments every call has", k.first, min)
				case k.step < 1:
					t.Errorf("key step %d", k.step)
				case k.last >= 0 && k.last < k.first:
					t.Errorf("last key %d before first %d", k.last, k.first)
				case k.last >= 0 && s.arity > 0 && k.last >= s.arity:
					t.Errorf("last key %d beyond the arity %d", k.last, s.arity)
				case k.last < -1:
					t.Errorf("last key %d: only -1 (the last argument) is meaningful here", k.last)
				}
			} else if k.last != 0 || k.step != 0 {
				t.Errorf("last %d, step %d without a first key", k.last, k.step)
			}
			if f&flagReadOnly != 0 && k.flags&(keyRW|keyOW|keyRM|keyUpdate|keyInsert|keyDelete) != 0 {
				t.Error("readonly command with writing key flags")
			}

			// Documentation.
			if !slices.Contains(groups, s.group) {
				t.Errorf("group %q not one of %v", s.group, groups)
			}
			if s.summary == "" || !strings.HasSuffix(s.summary, ".") {
				t.Errorf("summary %q: want one sentence", s.summary)
			}
			if !strings.HasPrefix(s.syntax, s.name) || strings.Contains(s.syntax, "\n") {
				t.Errorf("syntax %q: want one line starting with the name", s.syntax)
			}
			if s.since == "" {
				t.Error("no since")
			}
			if (s.group == "debug") != slices.Contains(testCommandTable, s) {
				t.Error("debug group and test-mode table disagree")
			}
		})
	}
}

// TestKeyPositions: COMMAND GETKEYS's source, and what ACL key checks
// will read.
func TestKeyPositions(t *testing.T) {
	cases := []struct {
		cmd  string
		want []int
	}{
		{"SESSION.GET a", []int{1}},
		{"SESSION.GET a CONSISTENCY stale", []int{1}},
		{"SESSION.DESTROY a b c", []int{1, 2, 3}},
		{"SESSION.TOUCH a", []int{1}},
		{"SESSION.SET a f v", []int{1}},
		{"SESSION.LIST alice", nil},
		{"SESSION.CREATE TTL 1h", nil},
		{"SESSION.CREATE TTL 1h ID x FIELDS ID y", []int{4}},
		{"SESSION.CREATE ID x ID y", []int{2, 4}},
		{"SESSION.CREATE FIELDS ID y", nil},
		{"PING", nil},
	}
	for _, c := range cases {
		words := strings.Fields(c.cmd)
		args := make([][]byte, len(words))
		for i, w := range words {
			args[i] = []byte(w)
		}
		if got := commands[words[0]].keyPositions(args); !slices.Equal(got, c.want) {
			t.Errorf("%s: keys at %v, want %v", c.cmd, got, c.want)
		}
	}
}

// rawConn is a client connection read byte for byte, to pin replies
// exactly.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// expect sends a command and checks that the reply is exactly want.
func (c *rawConn) expect(want string, args ...string) {
	c.t.Helper()
	var req []byte
	req = append(req, '*')
	req = append(req, []byte(itoa(len(args)))...)
	req = append(req, "\r\n"...)
	for _, a := range args {
		req = append(req, '$')
		req = append(req, []byte(itoa(len(a)))...)
		req = append(req, "\r\n"...)
		req = append(req, a...)
		req = append(req, "\r\n"...)
	}
	if err := c.nc.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.nc.Write(req); err != nil {
		c.t.Fatal(err)
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c.br, got); err != nil {
		c.t.Fatalf("%v: read %q: %v", args, got, err)
	}
	if string(got) != want {
		c.t.Fatalf("%v:\n got %q\nwant %q", args, got, want)
	}
	if n := c.br.Buffered(); n != 0 {
		extra, _ := c.br.Peek(n)
		c.t.Fatalf("%v: %q after the reply", args, extra)
	}
}

func itoa(n int) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
		if n == 0 {
			return string(b)
		}
	}
}

// TestCommandInfoGolden pins COMMAND INFO's reply, byte for byte, in RESP2
// and RESP3, for a command with a key range and one with a movable key.
func TestCommandInfoGolden(t *testing.T) {
	c := startCluster(t, 1, nil)
	get2 := "*1\r\n*10\r\n$11\r\nsession.get\r\n:-2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n" +
		"*3\r\n+@read\r\n+@hash\r\n+@fast\r\n*0\r\n" +
		"*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RO\r\n+access\r\n" +
		"$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n" +
		"$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n" +
		"*0\r\n"
	get3 := "*1\r\n*10\r\n$11\r\nsession.get\r\n:-2\r\n~2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n" +
		"~3\r\n+@read\r\n+@hash\r\n+@fast\r\n~0\r\n" +
		"~1\r\n%3\r\n$5\r\nflags\r\n~2\r\n+RO\r\n+access\r\n" +
		"$12\r\nbegin_search\r\n%2\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n%1\r\n$5\r\nindex\r\n:1\r\n" +
		"$9\r\nfind_keys\r\n%2\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n%3\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n" +
		"~0\r\n"
	destroy2 := "*2\r\n*10\r\n$15\r\nsession.destroy\r\n:-2\r\n*1\r\n+write\r\n:1\r\n:-1\r\n:1\r\n" +
		"*3\r\n+@keyspace\r\n+@write\r\n+@slow\r\n*0\r\n" +
		"*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RM\r\n+delete\r\n" +
		"$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n" +
		"$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:-1\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n" +
		"*0\r\n" +
		"$-1\r\n" // the unknown name: a null, as Redis answers
	create2 := "*1\r\n*10\r\n$14\r\nsession.create\r\n:-1\r\n*2\r\n+write\r\n+movablekeys\r\n:0\r\n:0\r\n:0\r\n" +
		"*4\r\n+@keyspace\r\n+@write\r\n+@hash\r\n+@slow\r\n*0\r\n" +
		"*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+OW\r\n+insert\r\n" +
		"$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$7\r\nkeyword\r\n$4\r\nspec\r\n*4\r\n$7\r\nkeyword\r\n$2\r\nID\r\n$9\r\nstartfrom\r\n:1\r\n" +
		"$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n" +
		"*0\r\n"
	ping2 := "*1\r\n*10\r\n$4\r\nping\r\n:-1\r\n*3\r\n+loading\r\n+stale\r\n+fast\r\n:0\r\n:0\r\n:0\r\n" +
		"*2\r\n+@fast\r\n+@connection\r\n*0\r\n*0\r\n*0\r\n"
	docs2 := "*2\r\n$4\r\nping\r\n*8\r\n$7\r\nsummary\r\n$25\r\nAnswers PONG, or message.\r\n" +
		"$5\r\nsince\r\n$5\r\n0.1.0\r\n$5\r\ngroup\r\n$10\r\nconnection\r\n$6\r\nsyntax\r\n$14\r\nPING [message]\r\n"
	docs3 := "%1\r\n$4\r\nping\r\n%4\r\n$7\r\nsummary\r\n$25\r\nAnswers PONG, or message.\r\n" +
		"$5\r\nsince\r\n$5\r\n0.1.0\r\n$5\r\ngroup\r\n$10\r\nconnection\r\n$6\r\nsyntax\r\n$14\r\nPING [message]\r\n"

	rc := dialRaw(t, c.cfgs[0].ClientAddr)
	rc.expect(get2, "COMMAND", "INFO", "SESSION.GET")
	rc.expect(get2, "command", "info", "session.get")
	rc.expect(destroy2, "COMMAND", "INFO", "session.destroy", "NOSUCH")
	rc.expect(create2, "COMMAND", "INFO", "SESSION.CREATE")
	rc.expect(ping2, "COMMAND", "INFO", "PING")
	rc.expect(docs2, "COMMAND", "DOCS", "PING", "NOSUCH")
	rc.expect("*2\r\n$11\r\nsession.get\r\n$15\r\nsession.destroy\r\n", "COMMAND", "LIST", "FILTERBY", "PATTERN", "session.[gd]e*")
	rc.expect("*2\r\n$1\r\na\r\n$1\r\nb\r\n", "COMMAND", "GETKEYS", "SESSION.TOUCH", "a", "b")

	rc3 := dialRaw(t, c.cfgs[0].ClientAddr)
	cl3 := resp.NewClient(rc3.nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cl3.Do(ctx, "HELLO", "3"); err != nil {
		t.Fatal(err)
	}
	rc3.expect(get3, "COMMAND", "INFO", "SESSION.GET")
	rc3.expect(docs3, "COMMAND", "DOCS", "PING")
	rc3.expect("*0\r\n", "COMMAND", "LIST", "FILTERBY", "MODULE", "any")
}

// TestCommandFromTable: COMMAND's replies describe exactly the table,
// with the test hooks only in test mode, and bad subcommands get errors.
func TestCommandFromTable(t *testing.T) {
	for _, testMode := range []bool{false, true} {
		name := "production"
		want := commandTable
		if testMode {
			name = "test-mode"
			want = append(slices.Clone(commandTable), testCommandTable...)
		}
		t.Run(name, func(t *testing.T) {
			c := startCluster(t, 1, func(cfg *Config) { cfg.TestMode = testMode })
			cl := &clientT{t: t, c: c.client(0)}
			if v := cl.ok("COMMAND", "COUNT"); v.Int != int64(len(want)) {
				t.Fatalf("COMMAND COUNT = %d, want %d", v.Int, len(want))
			}
			var names []string
			for _, s := range want {
				names = append(names, strings.ToLower(s.name))
			}
			if got := strs(cl.ok("COMMAND", "LIST")); !slices.Equal(got, names) {
				t.Fatalf("COMMAND LIST = %v, want %v", got, names)
			}
			all := cl.ok("COMMAND")
			if len(all.Elems) != len(want) {
				t.Fatalf("COMMAND has %d entries, want %d", len(all.Elems), len(want))
			}
			for i, s := range want {
				e := all.Elems[i].Elems
				if len(e) != 10 || e[0].Str != names[i] || e[1].Int != int64(s.arity) ||
					e[3].Int != int64(s.keys.first) || e[4].Int != int64(s.keys.last) || e[5].Int != int64(s.keys.step) {
					t.Errorf("COMMAND entry %d = %v, want %s", i, all.Elems[i], s.name)
				}
				cats := strs(all.Elems[i].Elems[6])
				for _, cn := range catNames {
					if slices.Contains(cats, "@"+cn.name) != (s.categories()&cn.c != 0) {
						t.Errorf("%s: categories %v, table says %b", s.name, cats, s.categories())
					}
				}
			}
			docs := asMap(t, cl.ok("COMMAND", "DOCS"))
			if len(docs) != len(want) {
				t.Fatalf("COMMAND DOCS has %d commands, want %d", len(docs), len(want))
			}
			for _, s := range want {
				d := asMap(t, docs[strings.ToLower(s.name)])
				if d["summary"].Str != s.summary || d["syntax"].Str != s.syntax || d["group"].Str != s.group {
					t.Errorf("COMMAND DOCS %s = %v", s.name, d)
				}
			}
			if got := strs(cl.ok("COMMAND", "LIST", "FILTERBY", "ACLCAT", "write")); !slices.Contains(got, "session.set") || slices.Contains(got, "session.get") {
				t.Errorf("ACLCAT write = %v", got)
			}
			if got := strs(cl.ok("COMMAND", "LIST", "FILTERBY", "ACLCAT", "nosuch")); len(got) != 0 {
				t.Errorf("ACLCAT nosuch = %v", got)
			}
			hasDebug := slices.Contains(strs(cl.ok("COMMAND", "LIST", "FILTERBY", "ACLCAT", "@admin")), "debug.hash")
			if hasDebug != testMode {
				t.Errorf("debug.hash listed under @admin: %v, test mode %v", hasDebug, testMode)
			}
			if got := strs(cl.ok("COMMAND", "GETKEYS", "SESSION.CREATE", "TTL", "1h", "ID", "x", "FIELDS", "ID", "y")); !slices.Equal(got, []string{"x"}) {
				t.Errorf("GETKEYS create = %v", got)
			}
			if len(cl.ok("COMMAND", "HELP").Elems) == 0 {
				t.Error("COMMAND HELP is empty")
			}
			for _, bad := range []struct {
				code string
				args []string
			}{
				{wire.CodeInternal, []string{"COMMAND", "NOSUCH"}},
				{wire.CodeInternal, []string{"COMMAND", "COUNT", "x"}},
				{wire.CodeBadArg, []string{"COMMAND", "LIST", "FILTERBY", "COLOUR", "x"}},
				{wire.CodeBadArg, []string{"COMMAND", "LIST", "x"}},
				{wire.CodeInternal, []string{"COMMAND", "GETKEYS"}},
				{wire.CodeBadArg, []string{"COMMAND", "GETKEYS", "NOSUCH", "x"}},
				{wire.CodeBadArg, []string{"COMMAND", "GETKEYS", "PING"}},
				{wire.CodeBadArg, []string{"COMMAND", "GETKEYS", "SESSION.GET"}},
			} {
				if code := errCode(cl.do(bad.args...)); code != bad.code {
					t.Errorf("%v: code %q, want %q", bad.args, code, bad.code)
				}
			}
		})
	}
}

// strs is the strings of an array or set reply.
func strs(v resp.Value) []string {
	var out []string
	for _, e := range v.Elems {
		out = append(out, e.Str)
	}
	return out
}
