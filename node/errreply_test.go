package node

import (
	"bufio"
	"context"
	"errors"
	stdflag "flag"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/node/acl"
	"github.com/sessionraft/sessionraft/transport/mux"
	"github.com/sessionraft/sessionraft/transport/resp"
	"github.com/sessionraft/sessionraft/transport/wire"
)

var update = stdflag.Bool("update", false, "rewrite the testdata/*.golden files from the replies the tests get")

// A golden file holds one "left -> reply" pair a line; '#' starts a
// comment line. The reply is the exact error reply as sent, "-CODE text".
const goldenSep = " -> "

type goldenLine struct {
	comment string // the whole line, for comments and blank lines
	left    string
	reply   string
}

func readGolden(t *testing.T, path string) []goldenLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []goldenLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			out = append(out, goldenLine{comment: line})
			continue
		}
		left, reply, ok := strings.Cut(line, goldenSep)
		if !ok {
			t.Fatalf("%s: no %q in %q", path, goldenSep, line)
		}
		out = append(out, goldenLine{left: left, reply: reply})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func writeGolden(t *testing.T, path string, lines []goldenLine) {
	t.Helper()
	var b strings.Builder
	for _, l := range lines {
		if l.left == "" {
			b.WriteString(l.comment + "\n")
			continue
		}
		b.WriteString(l.left + goldenSep + l.reply + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkGolden compares got (left -> reply, in the file's order) with the
// golden file, or rewrites the file with -update.
func checkGolden(t *testing.T, path string, lines []goldenLine, got map[string]string) {
	t.Helper()
	for i := range lines {
		l := &lines[i]
		if l.left == "" {
			continue
		}
		g, ok := got[l.left]
		switch {
		case !ok:
			t.Errorf("%s: %s: no reply", path, l.left)
		case *update:
			l.reply = g
		case g != l.reply:
			t.Errorf("%s: %s\n got: %s\nwant: %s", path, l.left, g, l.reply)
		}
	}
	if *update {
		writeGolden(t, path, lines)
	}
}

// codesOf returns the codes of the replies in a golden file.
func codesOf(lines []goldenLine) map[string]bool {
	codes := map[string]bool{}
	for _, l := range lines {
		if l.left != "" {
			code, _, _ := strings.Cut(strings.TrimPrefix(l.reply, "-"), " ")
			codes[code] = true
		}
	}
	return codes
}

const (
	errRepliesGolden = "testdata/error_replies.golden"
	errTableGolden   = "testdata/error_table.golden"
)

// TestErrorRepliesGolden runs every request of testdata/error_replies.golden
// against a real three-node cluster, on the group's leader and on a
// follower (which forwards writes and linearizable reads to the leader, or
// answers from its replica), and checks both get the reply in the file.
//
// Requests: words separated by spaces; "" is an empty argument, {x*N} is N
// bytes of x; "a ; b ; c" sends a, b and c on one connection and the reply
// is the first error reply; RAW "..." sends the Go-quoted bytes on a fresh
// connection and reads one reply line. The cluster has one group, small limits (ids up to 32
// bytes, values up to 64, 4 fields), a session golden-live and the ended
// session golden-ended. In replies {version} stands for golden-live's
// version when the request ran and {age} for a duration.
func TestErrorRepliesGolden(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) {
		cfg.Groups = 1
		cfg.Limits.MaxIDLen = 32
		cfg.Limits.MaxValueBytes = 64
		cfg.Limits.MaxFields = 4
		// No clock ticks during the test: the STALE requests skew a
		// node's clock, and a tick stamped by a skewed leader would move
		// the group's log clock along.
		cfg.MaxStaleness = time.Hour
	})
	clients := []*resp.Client{c.client(0), c.client(1), c.client(2)}
	// roles returns the group's leader and a follower now: leadership may
	// move on a slow machine, so each request asks again.
	roles := func() (leader, follower int) {
		leader = -1
		waitFor(t, 30*time.Second, "a leader of group 0", func() error {
			for i := range 3 {
				if c.node(i).groups[0].isLeader() {
					leader = i
					return nil
				}
			}
			return errors.New("no leader")
		})
		return leader, (leader + 1) % 3
	}
	leader, _ := roles()
	lc := &clientT{t: t, c: clients[leader]}
	lc.ok("SESSION.CREATE", "ID", "golden-live", "SUBJECT", "golden", "TTL", "24h", "FIELDS", "cart", "1")
	lc.ok("SESSION.CREATE", "ID", "golden-ended", "TTL", "24h")
	lc.ok("SESSION.DESTROY", "golden-ended")

	lines := readGolden(t, errRepliesGolden)
	got := map[string]string{}
	for _, l := range lines {
		if l.left == "" {
			continue
		}
		leader, follower := roles()
		var replies [2]string
		for k, i := range []int{leader, follower} {
			replies[k] = runGoldenRequest(t, clients[i], c.cfgs[i].ClientAddr, l.left)
		}
		if replies[0] != replies[1] {
			t.Errorf("%s: the leader replies\n  %s\nbut a follower\n  %s", l.left, replies[0], replies[1])
		}
		got[l.left] = replies[0]
	}
	checkGolden(t, errRepliesGolden, lines, got)
}

// runGoldenRequest runs one golden request on node i and returns its
// error reply with the volatile parts replaced by placeholders.
func runGoldenRequest(t *testing.T, cl *resp.Client, addr string, req string) string {
	t.Helper()
	var reply string
	if raw, ok := strings.CutPrefix(req, "RAW "); ok {
		b, err := strconv.Unquote(raw)
		if err != nil {
			t.Fatalf("%s: %v", req, err)
		}
		reply = rawReply(t, addr, b)
	} else {
		for _, cmd := range strings.Split(req, " ; ") {
			v := do(t, cl, goldenArgs(t, cmd)...)
			if v.Err() != nil && !strings.HasPrefix(reply, "-") {
				reply = "-" + v.Str
			} else if reply == "" {
				reply = "(not an error) " + v.String()
			}
		}
	}
	// The version, read after the request (a failed request does not
	// change it).
	v := do(t, cl, "SESSION.GET", "golden-live", "CONSISTENCY", "linearizable", "NOTOUCH")
	if v.Err() != nil {
		t.Fatalf("golden-live: %v", v.Err())
	}
	version := asMap(t, v)["version"].Int
	reply = strings.ReplaceAll(reply, fmt.Sprintf("version %d", version), "version {version}")
	return ageRE.ReplaceAllString(reply, "is {age} old")
}

var ageRE = regexp.MustCompile(`is [0-9][0-9.hmsµn]* old`)

// goldenArgs splits a request into arguments (see TestErrorRepliesGolden).
func goldenArgs(t *testing.T, cmd string) []string {
	t.Helper()
	var args []string
	for _, w := range strings.Fields(cmd) {
		if w == `""` {
			w = ""
		} else if inner, ok := strings.CutPrefix(w, "{"); ok && strings.HasSuffix(inner, "}") {
			s, n, ok := strings.Cut(strings.TrimSuffix(inner, "}"), "*")
			count, err := strconv.Atoi(n)
			if !ok || err != nil {
				t.Fatalf("bad repeat %q", w)
			}
			w = strings.Repeat(s, count)
		}
		args = append(args, w)
	}
	return args
}

// rawReply sends b on a fresh connection to addr and returns the first
// reply line.
func rawReply(t *testing.T, addr string, b string) string {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write([]byte(b)); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(nc).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the reply to %q: %v", b, err)
	}
	return strings.TrimSuffix(line, "\r\n")
}

// TestErrorTableGolden pins the reply errTable gives each sentinel, as the
// code that fails wraps it, including errors no cluster test can cause on
// demand (a lost leader, a lost connection, a panic on the leader).
func TestErrorTableGolden(t *testing.T) {
	lost := fmt.Errorf("read: %w", mux.ErrConnLost)
	remote := func(code, msg string) error { return &mux.RemoteError{Code: code, Msg: msg} }
	longID := strings.Repeat("k", 22)
	cases := []struct {
		name string
		err  error
	}{
		{"fsm.ErrNotFound from Apply", fmt.Errorf("%w: id %q", fsm.ErrNotFound, longID)},
		{"fsm.ErrExists from Apply", fmt.Errorf("%w: id %q", fsm.ErrExists, longID)},
		{"fsm.ErrExists of a used id", fmt.Errorf("%w: id %q was used before and may not be reused yet", fsm.ErrExists, longID)},
		{"fsm.ErrConflict from Apply", fmt.Errorf("%w: id %q is at version 6, not 5", fsm.ErrConflict, longID)},
		{"fsm.ErrConflict in another format", fmt.Errorf("%w: version 6", fsm.ErrConflict)},
		{"fsm.ErrTooLarge from Apply", fmt.Errorf("%w: record size 70000 exceeds 65536", fsm.ErrTooLarge)},
		{"fsm.ErrTooLarge naming a long field", fmt.Errorf("%w: field name %q length 300 exceeds 256", fsm.ErrTooLarge, strings.Repeat("n", 300))},
		{"fsm.ErrTooLarge decoded from a forwarded Result", decodedResultErr(t, fmt.Errorf("%w: field %q value size 70000 exceeds 65536", fsm.ErrTooLarge, "cart"))},
		{"fsm.ErrConflict decoded from a forwarded Result", decodedResultErr(t, fmt.Errorf("%w: id %q is at version 6, not 5", fsm.ErrConflict, longID))},
		{"fsm.ErrInvalid from Apply", fmt.Errorf("%w: empty id", fsm.ErrInvalid)},
		{"fsm.ErrUnknownCmd", fmt.Errorf("%w: command type 99", fsm.ErrUnknownCmd)},
		{"fsm.ErrCorrupt", fmt.Errorf("entry 7: %w: truncated", fsm.ErrCorrupt)},
		{"ErrBadArg", fmt.Errorf("%w: IFVERSION must be a non-negative integer, got %q", ErrBadArg, "x")},
		{"ErrBadArg quoting a session id", fmt.Errorf("%w: syntax error near '%.32s'", ErrBadArg, longID)},
		{"ErrBadArg in a fan-out", fmt.Errorf("group 3: %w", fmt.Errorf("%w: subject must not be empty", ErrBadArg))},
		{"ErrStale", fmt.Errorf("%w: group 2 state is %v old (bound %v)", ErrStale, 3200*time.Millisecond, 2*time.Second)},
		{"ErrNotLeader from raft", translateApplyErr(raft.ErrNotLeader)},
		{"ErrIndeterminate from raft", translateApplyErr(raft.ErrLeadershipLost)},
		{"ErrIndeterminate on a timeout", fmt.Errorf("%w: %v while waiting for commit", ErrIndeterminate, context.DeadlineExceeded)},
		{"ErrUnavailable after the retries", fmt.Errorf("%w: %v (last: %v)", ErrUnavailable, context.DeadlineExceeded, fmt.Errorf("%w: group 0 has no leader", ErrUnavailable))},
		{"ErrShutdown", ErrShutdown},
		{"ErrBusy", ErrBusy},
		{"ErrOOM", fmt.Errorf("%w: 1.2 GiB used of 1 GiB", ErrOOM)},
		{"forwarded, leader's OOM", translateCallErr(remote(wire.CodeOOM, "command not allowed when used memory > 'maxmemory'."), true)},
		{"ErrRemoved", ErrRemoved},
		{"ErrMemberRefused", fmt.Errorf("%w: n4 is not alive in gossip; start it with --join and no --bootstrap-expect first", ErrMemberRefused)},
		{"ErrDiskFull", fmt.Errorf("%w: node %s is below --min-free-disk", ErrDiskFull, "n2")},
		{"too many backups", errTooManyBackups},
		{"mux.ErrUnreachable", fmt.Errorf("dial: %w", mux.ErrUnreachable)},
		{"mux.ErrConnLost", lost},
		{"mux.ErrClosed", mux.ErrClosed},
		{"no sentinel", errors.New("disk on fire")},
		{"ErrUnknownCommand", fmt.Errorf("%w: unknown command '%s', with args beginning with: %s", ErrUnknownCommand, redisArg([]byte("foo")), redisArgs([][]byte{[]byte("a"), []byte(longID)}))},
		{"ErrArity", fmt.Errorf("%w: wrong number of arguments for 'get' command", ErrArity)},
		{"ErrSyntax", ErrSyntax},
		{"ErrNoProto", ErrNoProto},
		{"ErrRedis", fmt.Errorf("%w: DB index is out of range", ErrRedis)},
		{"ErrRedis with an apostrophe", fmt.Errorf("%w: Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context", ErrRedis)},
		{"forwarded write, leader unreachable", translateCallErr(fmt.Errorf("dial: %w", mux.ErrUnreachable), true)},
		{"forwarded write, connection lost", translateCallErr(lost, true)},
		{"forwarded read, connection lost", translateCallErr(lost, false)},
		{"forwarded, leader's CONFLICT", translateCallErr(remote(wire.CodeConflict, "version mismatch: session is at version 6"), true)},
		{"forwarded, leader's STALE", translateCallErr(remote(wire.CodeStale, "replica too stale: group 2 state is 3.2s old (bound 2s)"), false)},
		{"forwarded, leader's mux BUSY", translateCallErr(remote(mux.CodeBusy, "too many concurrent rpc handlers"), false)},
		{"forwarded, leader's mux TOOLARGE", translateCallErr(remote(mux.CodeTooLarge, "request frame of 9000000 bytes exceeds MaxRPCBytes 8388608"), true)},
		{"forwarded, leader still starting", translateCallErr(remote(mux.CodeNoHandler, "no rpc handler installed"), false)},
		{"forwarded write, leader panicked", translateCallErr(remote(mux.CodePanic, "runtime error: index out of range"), true)},
		{"forwarded read, leader panicked", translateCallErr(remote(mux.CodePanic, "runtime error: index out of range"), false)},
		{"forwarded read, leader's ERR", translateCallErr(remote(wire.CodeInternal, internalText), false)},
		{"forwarded, an older leader's text", translateCallErr(remote(wire.CodeNotFound, "fsm: not found: session not found"), false)},
		{"ErrNoAuth", ErrNoAuth},
		{"ErrHelloNoAuth", ErrHelloNoAuth},
		{"acl.ErrWrongPass from Authenticate", acl.ErrWrongPass},
		{"acl.ErrNoPassConfigured", acl.ErrNoPassConfigured},
		{"ErrNoPerm for a command", &permError{user: "reader", cmd: "session.set"}},
		{"ErrNoPerm for a subcommand", &permError{user: "app", cmd: "acl|list"}},
		{"ErrNoPerm for a key", &permError{user: "reader"}},
		{"fsm.ErrWrongType from Apply", fmt.Errorf("%w: key %q holds a hash", fsm.ErrWrongType, longID)},
		{"fsm.ErrNotInteger from Apply", fmt.Errorf("%w: key %q", fsm.ErrNotInteger, longID)},
		{"fsm.ErrOverflow from Apply", fmt.Errorf("%w: key %q", fsm.ErrOverflow, longID)},
		{"ErrRedis from redisErr", redisErr("invalid expire time in '%s' command", "pexpireat")},
		{"ErrRedis syntax", errSyntax},
		{"ErrCrossSlot", ErrCrossSlot},
	}
	got := map[string]string{}
	var lines []goldenLine
	if *update {
		lines = []goldenLine{
			{comment: "# errTable's reply to each sentinel error as the failing code wraps it."},
			{comment: "# Regenerate: go test ./node/ -run TestErrorTableGolden -update"},
		}
		for _, c := range cases {
			lines = append(lines, goldenLine{left: c.name})
		}
	} else {
		lines = readGolden(t, errTableGolden)
	}
	for _, c := range cases {
		code, text := replyFor(c.err)
		got[c.name] = "-" + code + " " + text
		if strings.Contains(text, longID) || strings.Contains(text, strings.Repeat("n", 16)) {
			t.Errorf("%s: the reply %q quotes a value in full", c.name, text)
		}
		for _, pfx := range []string{"fsm:", "node:", "mux:", "raft:", "remote"} {
			if strings.Contains(text, pfx) {
				t.Errorf("%s: the reply %q names an internal package (%s)", c.name, text, pfx)
			}
		}
	}
	checkGolden(t, errTableGolden, lines, got)
	// Every entry of the table is pinned.
	for _, e := range errTable {
		found := false
		for _, c := range cases {
			if code, text := replyFor(c.err); code == e.code && strings.HasPrefix(text, e.text) && errors.Is(c.err, e.sentinel) {
				found = true
			}
		}
		if !found {
			t.Errorf("no case gets errTable's reply for %v", e.sentinel)
		}
	}
}

// decodedResultErr returns err as a follower sees it in the Result of a
// forwarded write: encoded by the leader, decoded here.
func decodedResultErr(t *testing.T, err error) error {
	t.Helper()
	res, derr := fsm.DecodeResult(fsm.AppendResult(nil, &fsm.Result{Err: err}))
	if derr != nil {
		t.Fatal(derr)
	}
	return res.Err
}

// TestGoldenCoversEveryCode: between them the golden files show a reply
// of every stable wire code.
func TestGoldenCoversEveryCode(t *testing.T) {
	codes := codesOf(readGolden(t, errRepliesGolden))
	for c := range codesOf(readGolden(t, errTableGolden)) {
		codes[c] = true
	}
	for _, c := range wire.Codes {
		if !codes[c] {
			t.Errorf("no golden reply with code %s", c)
		}
	}
}

// A reply forwarded from another node is sent on as it is, and still
// matches its sentinel for the retry rules.
func TestReplyErrorRoundTrip(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("%w: id %q is at version 6, not 5", fsm.ErrConflict, "s1"),
		fmt.Errorf("%w: group 2 state is 3.2s old (bound 2s)", ErrStale),
		fmt.Errorf("%w: group 0 has no leader", ErrUnavailable),
		errSessionNotFound,
	} {
		sent := asReply(err).(*replyError)
		back := translateCallErr(&mux.RemoteError{Code: sent.Code(), Msg: sent.Error()}, false)
		wc, wt := replyFor(err)
		if gc, gt := replyFor(back); gc != wc || gt != wt {
			t.Errorf("%v: forwarded reply %s %q, want %s %q", err, gc, gt, wc, wt)
		}
		for _, s := range []error{fsm.ErrConflict, ErrStale, ErrUnavailable, fsm.ErrNotFound} {
			if errors.Is(err, s) != errors.Is(back, s) {
				t.Errorf("%v: forwarded, errors.Is(%v) = %v", err, s, errors.Is(back, s))
			}
		}
	}
}

func TestClipQuoted(t *testing.T) {
	for in, want := range map[string]string{
		`no quotes`:                     `no quotes`,
		`short "abc" and 'xyz'`:         `short "abc" and 'xyz'`,
		`long "abcdefghijk" value`:      `long "abcdefgh"... value`,
		`long 'abcdefghijk' word`:       `long 'abcdefgh...' word`,
		`escaped "a\"bcdefghij" end`:    `escaped "a\"bcdefg"... end`,
		`unterminated "abcdefghijk`:     `unterminated "abcdefghijk`,
		`utf8 "ééééé" cut`:              `utf8 "éééé"... cut`,
		`apostrophe's only`:             `apostrophe's only`,
		`two "abcdefghij" "klmnopqrst"`: `two "abcdefgh"... "klmnopqr"...`,
	} {
		if got := clipQuoted(in); got != want {
			t.Errorf("clipQuoted(%q) = %q, want %q", in, got, want)
		}
	}
}
