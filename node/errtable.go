package node

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/node/acl"
	"github.com/sessionraft/sessionraft/transport/mux"
	"github.com/sessionraft/sessionraft/transport/wire"
)

// errTable is the one place that decides what a client reads when a
// request fails: each sentinel error (node's, fsm's, the transport's) has a
// stable wire code and a fixed text. Only a few entries add the detail of
// the error after the text, where it helps the caller act: the version a
// failed IFVERSION saw, which limit was exceeded and by how much, what was
// wrong with an argument, how old a refused stale read's state was.
// Internal causes (raft, network, context errors) never reach the reply:
// they are for the logs.
//
// Entries are matched with errors.Is, in this order (the first match wins),
// so an error that wraps two sentinels gets the more specific code.
var errTable = []errReply{
	// The Redis data commands: Redis's codes and exact texts.
	{fsm.ErrWrongType, codeWrongType, "Operation against a key holding the wrong kind of value", noDetail},
	{fsm.ErrNotInteger, wire.CodeInternal, "value is not an integer or out of range", noDetail},
	{fsm.ErrOverflow, wire.CodeInternal, "increment or decrement would overflow", noDetail},
	{ErrCrossSlot, codeCrossSlot, "Keys in request don't hash to the same slot", noDetail},
	{fsm.ErrNotFound, wire.CodeNotFound, "session not found", noDetail},
	{fsm.ErrExists, wire.CodeExists, "session id already taken", noDetail},
	{fsm.ErrConflict, wire.CodeConflict, "version mismatch", conflictDetail},
	{fsm.ErrTooLarge, wire.CodeTooLarge, "limit exceeded", ownDetail},
	{fsm.ErrInvalid, wire.CodeBadArg, "invalid argument", ownDetail},
	{ErrBadArg, wire.CodeBadArg, "invalid argument", ownDetail},
	{ErrIndeterminate, wire.CodeIndeterminate, "outcome unknown: the write may or may not have been applied", noDetail},
	{ErrNotLeader, wire.CodeNotLeader, "not the group leader", noDetail},
	{ErrStale, wire.CodeStale, "replica too stale", ownDetail},
	{ErrBusy, wire.CodeBusy, "server busy, retry later", noDetail},
	// Redis's own text, so tools that know Redis recognise it.
	{ErrOOM, wire.CodeOOM, "command not allowed when used memory > 'maxmemory'.", noDetail},
	{ErrDiskFull, wire.CodeDiskFull, "free disk space low, writes refused (nothing was applied; reads and deletes work)", ownDetail},
	{ErrUnavailable, wire.CodeUnavailable, "no leader or quorum, nothing was applied; retry later", noDetail},
	{ErrShutdown, wire.CodeUnavailable, "node shutting down, nothing was applied", noDetail},
	{ErrRemoved, wire.CodeUnavailable, "this node was removed from the cluster, nothing was applied; use another node", noDetail},
	{ErrMemberRefused, wire.CodeBadArg, "membership change refused", ownDetail},
	{fsm.ErrUnknownCmd, wire.CodeInternal, "command not supported by this server's version", noDetail},
	{fsm.ErrCorrupt, wire.CodeInternal, "internal error: corrupt data", noDetail},
	// Authentication and ACLs: Redis's codes and exact texts, which Redis
	// clients and tools recognise.
	{ErrNoAuth, wire.CodeNoAuth, "Authentication required.", noDetail},
	{ErrHelloNoAuth, wire.CodeNoAuth, "HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time", noDetail},
	{acl.ErrWrongPass, wire.CodeWrongPass, "invalid username-password pair or user is disabled.", noDetail},
	{acl.ErrNoPassConfigured, wire.CodeInternal, "AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?", noDetail},
	{ErrNoPerm, wire.CodeNoPerm, "", permText},
	// The transport's sentinels are translated into the node's before
	// they get here (translateCallErr); these entries only keep one that
	// slips through from reading as an internal error.
	{mux.ErrUnreachable, wire.CodeUnavailable, "no leader or quorum, nothing was applied; retry later", noDetail},
	{mux.ErrConnLost, wire.CodeIndeterminate, "outcome unknown: the write may or may not have been applied", noDetail},
	{mux.ErrClosed, wire.CodeUnavailable, "node shutting down, nothing was applied", noDetail},
	// Redis's own errors (redis/src/server.c processCommand, networking.c
	// helloCommand): the code and text Redis gives, for Redis clients. The
	// entries with no text take all of it from the error (redisText).
	{ErrUnknownCommand, wire.CodeInternal, "", redisText},
	{ErrArity, wire.CodeInternal, "", redisText},
	{ErrSyntax, wire.CodeInternal, "syntax error", noDetail},
	{ErrNoProto, wire.CodeNoProto, "sorry, this protocol version is not supported", noDetail},
	{ErrRedis, wire.CodeInternal, "", redisText},
}

// Redis's codes for the data commands' errors. They are not stable wire
// codes of sessionraft's own protocol (wire.Codes): Redis clients switch on
// them, the Go client sees them as ERR.
const (
	codeWrongType = "WRONGTYPE"
	codeCrossSlot = "CROSSSLOT"
)

// internalText is the reply to an error that wraps no sentinel.
const internalText = "internal error"

// maxReplyText bounds an error reply's text.
const maxReplyText = 512

// errReply is one entry of errTable.
type errReply struct {
	sentinel error
	code     string
	text     string
	detail   func(err error, sentinel error) string // "" for none
}

// replyFor returns the wire code and text a client reads for err. An error
// received from another node (a *replyError) keeps the reply the node that
// ran the request chose, so a request reads the same wherever it was sent.
func replyFor(err error) (code, text string) {
	if re, ok := errors.AsType[*replyError](err); ok {
		return re.code, re.text
	}
	for i := range errTable {
		e := &errTable[i]
		if !errors.Is(err, e.sentinel) {
			continue
		}
		text = e.text
		if d := e.detail(err, e.sentinel); d != "" && text == "" {
			text = d // the detail is the whole text
		} else if d != "" {
			text += ": " + d
		}
		return e.code, clipText(text)
	}
	return wire.CodeInternal, internalText
}

// codeOf maps any error to its stable wire code.
func codeOf(err error) string {
	code, _ := replyFor(err)
	return code
}

// replyError is an error whose reply is already decided: a wire code and
// the exact text. The forwarding RPC carries one each way: the node that
// ran a request sends it (mux sends Code and Error), and the node that
// forwarded it rebuilds it (remoteToErr), so its reply is the same. It
// unwraps to the error it describes, so errors.Is keeps working.
type replyError struct {
	code string
	text string
	err  error
}

func (e *replyError) Error() string { return e.text }
func (e *replyError) Code() string  { return e.code }
func (e *replyError) Unwrap() error { return e.err }

// asReply decides err's reply, for sending it over the forwarding RPC.
func asReply(err error) error {
	if err == nil {
		return nil
	}
	code, text := replyFor(err)
	return &replyError{code: code, text: text, err: err}
}

// isTableText reports whether text is a reply errTable makes for code:
// one of its texts, alone or followed by a detail.
func isTableText(code, text string) bool {
	for i := range errTable {
		e := &errTable[i]
		if e.code == code && (text == e.text || strings.HasPrefix(text, e.text+": ")) {
			return true
		}
	}
	return false
}

// permText is the whole text of a NOPERM reply, as Redis words it: which
// command the user may not run, or that a key is out of its reach (never
// which key: it may be a session id).
func permText(err, _ error) string {
	pe, ok := errors.AsType[*permError](err)
	switch {
	case !ok:
		return "No permissions to access a key"
	case pe.cmd != "":
		return "User " + cutUTF8(pe.user, 64) + " has no permissions to run the '" + pe.cmd + "' command"
	default:
		return "No permissions to access a key"
	}
}

// noDetail: the fixed text says all a caller can use.
func noDetail(error, error) string { return "" }

// ownDetail is what the code that failed wrote after the sentinel, as in
// fmt.Errorf("%w: duration %q out of range", ErrBadArg, b), with quoted
// values cut to a short prefix (they may be session ids or field data).
// Only an error made directly that way has one: once wrapped in another
// context its text mixes in internals.
func ownDetail(err, sentinel error) string {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if errors.Unwrap(e) != sentinel {
			continue
		}
		d, ok := strings.CutPrefix(e.Error(), sentinel.Error()+": ")
		if !ok {
			return ""
		}
		return clipQuoted(d)
	}
	return ""
}

// redisText is the whole text of one of Redis's errors, as the code that
// failed wrote it after the sentinel. Values in it are cut by that code
// (redisArg), not here: Redis's texts quote with apostrophes that
// clipQuoted would misread ("Can't execute 'get'").
func redisText(err, sentinel error) string {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if errors.Unwrap(e) != sentinel {
			continue
		}
		d, _ := strings.CutPrefix(e.Error(), sentinel.Error()+": ")
		return d
	}
	return ""
}

// redisArgMax is how much of a client's argument a Redis error text
// quotes: Redis quotes up to 128 bytes; we keep less, since an argument
// may be a session id (and clients only parse the code).
const redisArgMax = 32

// redisArg is an argument as a Redis error text quotes it.
func redisArg(b []byte) string {
	s := string(b)
	if len(s) > redisArgMax {
		s = cutUTF8(s, redisArgMax) + "..."
	}
	return s
}

// redisArgs quotes a command's first arguments as Redis's unknown-command
// error does: each as 'arg' followed by a space, until 128 bytes. They
// are likely keys (session ids), so each keeps only quotePrefix bytes.
func redisArgs(args [][]byte) string {
	var b strings.Builder
	for _, a := range args {
		if b.Len() >= 128 {
			break
		}
		s := string(a)
		if len(s) > quotePrefix {
			s = cutUTF8(s, quotePrefix) + "..."
		}
		b.WriteString("'" + s + "' ")
	}
	return b.String()
}

// conflictDetail reports the version the failed IFVERSION found, so the
// caller knows what to re-read (never the session id).
func conflictDetail(err, _ error) string {
	if v, ok := fsm.ConflictVersion(err); ok {
		return "session is at version " + strconv.FormatUint(v, 10)
	}
	return ""
}

// quotePrefix is how much of a quoted value a reply keeps: enough to
// recognise an option word, not enough to use a session id.
const quotePrefix = 8

// clipQuoted shortens every "double" (Go-quoted) and 'single' quoted value
// in s to quotePrefix bytes plus "...".
func clipQuoted(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		i := strings.IndexAny(s, `"'`)
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		s = s[i:]
		if s[0] == '"' {
			if q, err := strconv.QuotedPrefix(s); err == nil {
				s = s[len(q):]
				if v, _ := strconv.Unquote(q); len(v) > quotePrefix {
					q = strconv.Quote(cutUTF8(v, quotePrefix)) + "..."
				}
				b.WriteString(q)
				continue
			}
		} else if j := strings.IndexByte(s[1:], '\''); j >= 0 {
			v := s[1 : 1+j]
			if len(v) > quotePrefix {
				v = cutUTF8(v, quotePrefix) + "..."
			}
			b.WriteString("'" + v + "'")
			s = s[j+2:]
			continue
		}
		b.WriteByte(s[0])
		s = s[1:]
	}
	return b.String()
}

// cutUTF8 returns at most n bytes of s, not splitting a character.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// clipText bounds a reply's text.
func clipText(s string) string {
	if len(s) > maxReplyText {
		return cutUTF8(s, maxReplyText) + "..."
	}
	return s
}
