package node

import (
	"context"
	"strings"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/transport/resp"
)

// The RESP command table: every command the client port serves is one
// cmdSpec below, and everything that is true of a command as a whole
// (its arity, what it may touch, its ACL categories, where its keys are, its
// documentation) lives there and nowhere else. The dispatcher
// (handler.Dispatch) checks arity from it and calls its run function;
// COMMAND, COMMAND INFO/DOCS/LIST/COUNT are generated from it; ACL checks
// and per-command metrics are meant to read it too, in Dispatch.
//
// Adding a command is one entry here plus its handler, in the file named for
// its family (cmd_connection.go, cmd_server.go, cmd_session.go, ...). For
// example, an ECHO would be
//
//	{name: "ECHO", arity: 2, flags: flagFast | flagLocal, cats: catConnection,
//		group: "connection", syntax: "ECHO message", summary: "Returns message.",
//		run: inline((*handler).echo)}
//
// with func (h *handler) echo(q request) { q.r.WriteBulk(q.args[1]) } in
// cmd_connection.go. TestCommandTable checks every entry for consistency.

// cmdSpec describes one RESP command.
type cmdSpec struct {
	name string // upper case, as clients send it; COMMAND reports it in lower case

	// arity is Redis's: N means exactly N arguments counting the name, -N
	// at least N. maxArgs, when positive, is a tighter upper bound than
	// Redis's notation can say; the dispatcher refuses more arguments.
	arity   int
	maxArgs int

	flags cmdFlag
	// cats are the ACL categories beyond those the flags imply (see
	// categories); @keyspace, @hash, @connection, @dangerous, ...
	cats aclCat

	// keys says which arguments are session ids (Redis's "keys"), as
	// COMMAND INFO's first/last/step describe them; the zero value means
	// none at fixed positions.
	keys keySpec
	// findKeys, for a command with flagMovableKeys, returns the indexes
	// of the arguments that are session ids; keys.keyword documents it.
	findKeys func(args [][]byte) []int

	// subs, when set, are the command's subcommands (named "PARENT|SUB",
	// arity counting the parent): Dispatch runs the one args[1] names,
	// and ACL rules name each ("acl|list"). run then answers an unknown
	// subcommand.
	subs []*cmdSpec

	group   string // documentation group: connection, server, session, debug
	since   string // the sessionraft version that added the command
	syntax  string // one line: "SESSION.GET id [CONSISTENCY level] ..."
	summary string // one sentence

	// run carries the command out. A read of one key has read instead,
	// and run is then readKey's (readnow.go): the reply function that
	// read names is the command's handler, alone or queued in a
	// transaction (txn_read.go).
	run  cmdFunc
	read *keyRead
}

// cmdFunc runs one command. It is called by Dispatch on the connection's
// reader goroutine, in request order, and either answers there (writes
// q.r, or defers it with q.r.Defer) and returns nil, or returns the rest of
// the work, which the dispatcher runs on a goroutine of its own with a
// context bounded by RequestTimeout. Commands that may touch raft must do
// anything that can wait in the returned function: the reader goroutine
// serves every later request of the connection.
type cmdFunc func(h *handler, q request) func(ctx context.Context)

// request is one command as the dispatcher hands it to a cmdFunc.
type request struct {
	c    *resp.Conn
	args [][]byte // args[0] is the command name as sent
	r    *resp.Reply
	// st is the connection's state. Only the inline part of a cmdFunc may
	// read or change it: by the time a returned function runs, later
	// requests of the connection may have changed it, so whatever the
	// function needs of it (the read defaults, say) is taken inline.
	st *connState
}

// inline adapts a command that always answers on the reader goroutine.
func inline(fn func(h *handler, q request)) cmdFunc {
	return func(h *handler, q request) func(context.Context) {
		fn(h, q)
		return nil
	}
}

// async adapts a command that does all its work on a goroutine: one that
// touches raft, whose arguments need nothing of the connection's state.
func async(fn func(h *handler, ctx context.Context, args [][]byte, r *resp.Reply)) cmdFunc {
	return func(h *handler, q request) func(context.Context) {
		return func(ctx context.Context) { fn(h, ctx, q.args, q.r) }
	}
}

// cmdFlag is a set of command properties. Those with a Redis name are
// reported by COMMAND INFO under it.
type cmdFlag uint16

const (
	// flagWrite: changes sessions, through raft ("write"; implies @write).
	flagWrite cmdFlag = 1 << iota
	// flagReadOnly: reads sessions and changes none ("readonly"; @read).
	flagReadOnly
	// flagAdmin: an operator's command, not an application's ("admin";
	// @admin and @dangerous).
	flagAdmin
	// flagFast: cheap, and answers without a raft round trip when it can,
	// possibly inline on the reader goroutine ("fast"; @fast, and @slow
	// when absent).
	flagFast
	// flagLocal: answers from this connection's or this node's own state,
	// never touching raft, so it works whatever the groups' state (Redis
	// says "loading" and "stale": allowed while loading and on a stale
	// replica).
	flagLocal
	// flagNoAuth: needs no authentication, once there is any ("no_auth").
	flagNoAuth
	// flagMovableKeys: takes session ids at positions keys cannot
	// describe, such as after an option name ("movablekeys").
	flagMovableKeys
)

// flagNames lists the flags in COMMAND INFO's order; a flag may stand for
// several Redis flags.
var flagNames = []struct {
	f     cmdFlag
	names []string
}{
	{flagWrite, []string{"write"}},
	{flagReadOnly, []string{"readonly"}},
	{flagAdmin, []string{"admin"}},
	{flagLocal, []string{"loading", "stale"}},
	{flagFast, []string{"fast"}},
	{flagNoAuth, []string{"no_auth"}},
	{flagMovableKeys, []string{"movablekeys"}},
}

// aclCat is a set of ACL categories, named as Redis names them.
type aclCat uint32

const (
	catKeyspace aclCat = 1 << iota
	catRead
	catWrite
	catHash
	catAdmin
	catFast
	catSlow
	catDangerous
	catConnection
	catPubSub
	catString
	catSet
	catTransaction
)

var catNames = []struct {
	c    aclCat
	name string
}{
	{catKeyspace, "keyspace"},
	{catRead, "read"},
	{catWrite, "write"},
	{catHash, "hash"},
	{catAdmin, "admin"},
	{catFast, "fast"},
	{catSlow, "slow"},
	{catDangerous, "dangerous"},
	{catConnection, "connection"},
	{catPubSub, "pubsub"},
	{catString, "string"},
	{catSet, "set"},
	{catTransaction, "transaction"},
}

// categories is the command's full set of ACL categories: its own plus
// those its flags imply, as Redis derives them (write -> @write, readonly
// -> @read, admin -> @admin @dangerous, fast -> @fast, otherwise @slow).
func (s *cmdSpec) categories() aclCat {
	c := s.cats
	if s.flags&flagWrite != 0 {
		c |= catWrite
	}
	if s.flags&flagReadOnly != 0 {
		c |= catRead
	}
	if s.flags&flagAdmin != 0 {
		c |= catAdmin | catDangerous
	}
	if s.flags&flagFast != 0 {
		c |= catFast
	} else {
		c |= catSlow
	}
	return c
}

// catByName finds a category by its Redis name, with or without the "@".
func catByName(name string) (aclCat, bool) {
	name = strings.TrimPrefix(strings.ToLower(name), "@")
	for _, cn := range catNames {
		if cn.name == name {
			return cn.c, true
		}
	}
	return 0, false
}

// keySpec locates the session ids among a command's arguments as Redis's
// legacy key range does: the first at index first (the name is 0), the last
// at last (negative: counted from the end, -1 the last argument), every
// step-th in between. first == 0: no keys at fixed positions. keyword
// instead says the key follows that option word (a movable key, found by
// the command's findKeys).
type keySpec struct {
	first, last, step int
	keyword           string
	flags             keyFlag
}

// keyFlag is what a command does with its keys (Redis's key-spec flags).
type keyFlag uint8

const (
	keyRO     keyFlag = 1 << iota // reads the session
	keyRW                         // reads and changes it
	keyOW                         // writes it without reading it
	keyRM                         // removes it
	keyAccess                     // reads its contents
	keyUpdate                     // changes its contents
	keyInsert                     // adds it
	keyDelete                     // deletes it
)

var keyFlagNames = []struct {
	f    keyFlag
	name string
}{
	{keyRO, "RO"}, {keyRW, "RW"}, {keyOW, "OW"}, {keyRM, "RM"},
	{keyAccess, "access"}, {keyUpdate, "update"}, {keyInsert, "insert"}, {keyDelete, "delete"},
}

// keyPositions returns the indexes of the arguments that are session ids
// (for COMMAND GETKEYS, and for ACL key patterns to come). args must
// satisfy the arity.
func (s *cmdSpec) keyPositions(args [][]byte) []int {
	if s.findKeys != nil {
		return s.findKeys(args)
	}
	k, nargs := s.keys, len(args)
	if k.first == 0 || k.first >= nargs {
		return nil
	}
	last := k.last
	if last < 0 {
		last += nargs
	}
	var out []int
	for i := k.first; i <= last && i < nargs; i += k.step {
		out = append(out, i)
	}
	return out
}

// argsOK applies the arity to n arguments (counting the name).
func (s *cmdSpec) argsOK(n int) bool {
	switch {
	case s.arity >= 0:
		return n == s.arity
	case n < -s.arity:
		return false
	default:
		return s.maxArgs <= 0 || n <= s.maxArgs
	}
}

// commandTable is every production command, in COMMAND's order; the
// test-mode hooks are in testCommandTable (testmode.go). commands and
// testCommands index them by name. They are filled in init: COMMAND's
// handler reads them, which a package-level initializer could not allow.
var (
	commandTable, testCommandTable []*cmdSpec
	commands, testCommands         map[string]*cmdSpec
)

func init() {
	commandTable = []*cmdSpec{
		// connection: cmd_connection.go
		{name: "PING", arity: -1, maxArgs: 2, flags: flagFast | flagLocal, cats: catConnection,
			group: "connection", syntax: "PING [message]", summary: "Answers PONG, or message.",
			run: inline((*handler).ping)},
		{name: "HELLO", arity: -1, flags: flagFast | flagLocal | flagNoAuth, cats: catConnection,
			group: "connection", syntax: "HELLO [protover [AUTH username password] [SETNAME name]]", summary: "Switches the connection's protocol (2 or 3) and describes the server.",
			run: inline((*handler).hello)},
		{name: "QUIT", arity: 1, flags: flagFast | flagLocal | flagNoAuth, cats: catConnection,
			group: "connection", syntax: "QUIT", summary: "Closes the connection after the reply.",
			run: inline((*handler).quit)},
		{name: "CLIENT", arity: -2, flags: flagLocal, cats: catConnection,
			group: "connection", syntax: "CLIENT ID | INFO | LIST | SETNAME name | GETNAME | SETINFO LIB-NAME|LIB-VER value | NO-EVICT on|off | NO-TOUCH on|off | TRACKING on|off [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP] | CACHING yes|no | GETREDIR | TRACKINGINFO", summary: "The connection's id, name and library; this node's connections; the settings clients send on connect; client-side caching (cmd_tracking.go).",
			run: inline((*handler).client)},
		{name: "SESSION.CONSISTENCY", arity: -2, maxArgs: 4, flags: flagFast | flagLocal, cats: catConnection,
			group: "connection", syntax: "SESSION.CONSISTENCY linearizable|leader|stale [MAXSTALE dur]", summary: "Sets the connection's default read consistency and staleness bound.",
			run: inline((*handler).consistency)},
		{name: "COMMAND", arity: -1, flags: flagLocal, cats: catConnection,
			group: "server", syntax: "COMMAND [COUNT | INFO [name ...] | DOCS [name ...] | LIST [FILTERBY ...] | GETKEYS cmd arg ... | HELP]", summary: "Describes the commands this server serves.",
			run: inline((*handler).command)},

		// server: cmd_server.go
		{name: "INFO", arity: -1, flags: flagLocal, cats: catDangerous,
			group: "server", syntax: "INFO [section [section ...]]", summary: "Node, client, memory, stats, CPU and per-group raft status, in Redis's INFO text format.",
			run: inline((*handler).info)},
		{name: "TOPOLOGY", arity: -1, maxArgs: 4, flags: flagLocal,
			group: "server", syntax: "TOPOLOGY [WAIT epoch timeout-ms]", summary: "This node's view of every group: leader, members and their client addresses, for routing; WAIT answers once the view's epoch is no longer epoch, or after timeout-ms (topowatch.go).",
			run: inline((*handler).topology)},

		// membership: cmd_member.go
		{name: "MEMBER", arity: -2, maxArgs: 4, flags: flagAdmin,
			group: "server", syntax: "MEMBER LIST | ADD id | REMOVE id | REPLACE old new", summary: "Lists, adds, removes or replaces the servers of every raft group (operators only).",
			run: (*handler).member},
		// gossip encryption: cmd_gossip.go
		{name: "GOSSIP.KEYS", arity: -2, maxArgs: 3, flags: flagAdmin | flagLocal,
			group: "server", syntax: "GOSSIP.KEYS LIST | INSTALL key | USE key | REMOVE key", summary: "Lists or changes this node's gossip encryption keys (rotation: install, use, remove on every node).",
			run: inline((*handler).gossipKeys)},
		// Redis connection, server and pub/sub commands: cmd_connection.go,
		// cmd_config.go, cmd_pubsub.go
		{name: "ECHO", arity: 2, flags: flagFast | flagLocal, cats: catConnection,
			group: "connection", since: "0.2.0", syntax: "ECHO message", summary: "Answers message.",
			run: inline((*handler).echo)},
		{name: "SELECT", arity: 2, flags: flagFast | flagLocal, cats: catConnection,
			group: "connection", since: "0.2.0", syntax: "SELECT index", summary: "Accepts database 0, the only one.",
			run: inline((*handler).selectDB)},
		{name: "RESET", arity: 1, flags: flagFast | flagLocal | flagNoAuth, cats: catConnection,
			group: "connection", since: "0.2.0", syntax: "RESET", summary: "Leaves pub/sub, forgets the client name, and returns to RESP2 and the default read consistency.",
			run: inline((*handler).reset)},
		{name: "READONLY", arity: 1, flags: flagFast | flagLocal, cats: catConnection,
			group: "connection", since: "0.2.0", syntax: "READONLY", summary: "Makes the connection's reads stale by default, as on a Redis Cluster replica.",
			run: inline((*handler).readonly)},
		{name: "READWRITE", arity: 1, flags: flagFast | flagLocal, cats: catConnection,
			group: "connection", since: "0.2.0", syntax: "READWRITE", summary: "Makes the connection's reads linearizable by default again.",
			run: inline((*handler).readwrite)},
		{name: "TIME", arity: 1, flags: flagFast | flagLocal,
			group: "server", since: "0.2.0", syntax: "TIME", summary: "This node's clock: Unix seconds and microseconds.",
			run: inline((*handler).timeCmd)},
		{name: "CONFIG", arity: -2, flags: flagAdmin | flagLocal,
			group: "server", since: "0.2.0", syntax: "CONFIG GET pattern [pattern ...] | CONFIG SET notify-keyspace-events flags", summary: "Reads server parameters in Redis's terms; sets this node's keyspace notifications.",
			run: inline((*handler).config)},
		{name: "SUBSCRIBE", arity: -2, flags: flagLocal, cats: catPubSub,
			group: "pubsub", since: "0.2.0", syntax: "SUBSCRIBE channel [channel ...]", summary: "Receives the messages published to the channels, on any node.",
			run: inline((*handler).subscribe)},
		{name: "PSUBSCRIBE", arity: -2, flags: flagLocal, cats: catPubSub,
			group: "pubsub", since: "0.2.0", syntax: "PSUBSCRIBE pattern [pattern ...]", summary: "Receives the messages published to channels matching the glob patterns.",
			run: inline((*handler).psubscribe)},
		{name: "UNSUBSCRIBE", arity: -1, flags: flagLocal, cats: catPubSub,
			group: "pubsub", since: "0.2.0", syntax: "UNSUBSCRIBE [channel ...]", summary: "Leaves the channels (all without arguments).",
			run: inline((*handler).unsubscribe)},
		{name: "PUNSUBSCRIBE", arity: -1, flags: flagLocal, cats: catPubSub,
			group: "pubsub", since: "0.2.0", syntax: "PUNSUBSCRIBE [pattern ...]", summary: "Leaves the patterns (all without arguments).",
			run: inline((*handler).punsubscribe)},
		{name: "PUBLISH", arity: 3, flags: flagFast | flagLocal, cats: catPubSub,
			group: "pubsub", since: "0.2.0", syntax: "PUBLISH channel message", summary: "Sends message to the channel's subscribers on every node; answers how many on this node received it.",
			run: inline((*handler).publish)},
		{name: "PUBSUB", arity: -2, flags: flagLocal, cats: catPubSub,
			group: "pubsub", since: "0.2.0", syntax: "PUBSUB CHANNELS [pattern] | NUMSUB [channel ...] | NUMPAT", summary: "This node's active channels and subscriber counts.",
			run: inline((*handler).pubsubCmd)},

		// sessions: cmd_session.go (SESSION.GET's fast path: readnow.go)
		{name: "SESSION.CREATE", arity: -1, flags: flagWrite | flagMovableKeys, cats: catKeyspace | catHash,
			keys: keySpec{keyword: "ID", flags: keyOW | keyInsert}, findKeys: createKeys,
			group: "session", syntax: "SESSION.CREATE [PACKED] [SUBJECT s] [TTL d] [IDLE d] [ID id] [REQID r] [FIELDS field value ...]", summary: "Creates a session and answers its record (PACKED, first if given: as one bulk string, transport/wire/packed.go).",
			run: writeCmd((*handler).create)},
		{name: "SESSION.GET", arity: -2, maxArgs: 8, flags: flagReadOnly | flagFast, cats: catHash,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRO | keyAccess},
			group: "session", syntax: "SESSION.GET id [CONSISTENCY linearizable|leader|stale] [MAXSTALE dur] [NOTOUCH] [PACKED]", summary: "Answers a session's record (PACKED: as one bulk string, transport/wire/packed.go), and marks it used unless NOTOUCH.",
			run: (*handler).get},
		{name: "SESSION.SET", arity: -3, flags: flagWrite, cats: catHash,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRW | keyUpdate},
			group: "session", syntax: "SESSION.SET id [IFVERSION n] [REQID r] [TTL d] [FIELDS] field value ...", summary: "Sets fields of a session and answers its new version.",
			run: writeCmd((*handler).set)},
		{name: "SESSION.UNSET", arity: -3, flags: flagWrite, cats: catHash,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRW | keyUpdate},
			group: "session", syntax: "SESSION.UNSET id [IFVERSION n] [REQID r] [TTL d] [FIELDS] field ...", summary: "Removes fields of a session and answers its new version.",
			run: writeCmd((*handler).unset)},
		{name: "SESSION.TOUCH", arity: -2, flags: flagWrite, cats: catKeyspace,
			keys:  keySpec{first: 1, last: -1, step: 1, flags: keyRW | keyUpdate},
			group: "session", syntax: "SESSION.TOUCH id [id ...]", summary: "Marks sessions used now, extending their idle deadline; answers how many exist.",
			run: async((*handler).touch)},
		{name: "SESSION.DESTROY", arity: -2, flags: flagWrite, cats: catKeyspace,
			keys:  keySpec{first: 1, last: -1, step: 1, flags: keyRM | keyDelete},
			group: "session", syntax: "SESSION.DESTROY id [id ...]", summary: "Ends sessions; answers how many existed.",
			run: async((*handler).destroy)},
		{name: "SESSION.ROTATE", arity: -2, maxArgs: 6, flags: flagWrite, cats: catKeyspace,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRW | keyAccess | keyDelete},
			group: "session", syntax: "SESSION.ROTATE id [IFVERSION n] [REQID r]", summary: "Moves a session to a new id and answers the id.",
			run: writeCmd((*handler).rotate)},
		{name: "SESSION.LIST", arity: -2, maxArgs: 12, flags: flagReadOnly, cats: catKeyspace,
			group: "session", syntax: "SESSION.LIST subject [LIMIT n] [CURSOR c] [CONSISTENCY level] [MAXSTALE dur] [GROUP g]", summary: "Answers the records of a subject's sessions, by id; with LIMIT or CURSOR one page: [next-cursor, records].",
			run: (*handler).list},
		{name: "SESSION.REVOKE", arity: -2, maxArgs: 6, flags: flagWrite, cats: catKeyspace,
			group: "session", syntax: "SESSION.REVOKE subject [EXCEPT id] [GROUP g]", summary: "Ends every session of a subject (but one); answers how many.",
			run: async((*handler).revoke)},

		// authentication and ACLs: cmd_acl.go (the checks: auth.go)
		{name: "AUTH", arity: -2, maxArgs: 3, flags: flagFast | flagLocal | flagNoAuth, cats: catConnection,
			group: "connection", syntax: "AUTH [username] password", summary: "Authenticates the connection as a user (default: the default user).",
			run: inline((*handler).auth)},
		{name: "ACL", arity: -2, flags: flagLocal,
			group: "server", syntax: "ACL WHOAMI | CAT [category] | USERS | LIST | LOAD | HELP", summary: "Shows the connection's user, the categories and, for admins, the users; reloads the ACL file.",
			run: inline((*handler).aclUnknown), subs: []*cmdSpec{
				{name: "ACL|WHOAMI", arity: 2, flags: flagLocal, group: "server", syntax: "ACL WHOAMI", summary: "Answers the connection's user name.",
					run: inline((*handler).aclWhoami)},
				{name: "ACL|CAT", arity: -2, maxArgs: 3, flags: flagLocal, group: "server", syntax: "ACL CAT [category]", summary: "Lists the ACL categories, or the commands of one.",
					run: inline((*handler).aclCat)},
				{name: "ACL|USERS", arity: 2, flags: flagLocal | flagAdmin, group: "server", syntax: "ACL USERS", summary: "Lists the user names.",
					run: inline((*handler).aclUsers)},
				{name: "ACL|LIST", arity: 2, flags: flagLocal | flagAdmin, group: "server", syntax: "ACL LIST", summary: "Lists the users as ACL file lines (passwords as SHA-256 digests).",
					run: inline((*handler).aclList)},
				{name: "ACL|LOAD", arity: 2, flags: flagLocal | flagAdmin, group: "server", syntax: "ACL LOAD", summary: "Reloads this node's ACL file: all of it, or nothing if it has an error.",
					run: inline((*handler).aclLoad)},
				{name: "ACL|HELP", arity: 2, flags: flagLocal, group: "server", syntax: "ACL HELP", summary: "Lists the ACL subcommands.",
					run: inline((*handler).aclHelp)},
			}},
		// backup: cmd_backup.go (backup.go holds the open snapshots)
		{name: "BACKUP.OPEN", arity: 2, flags: flagAdmin, since: "0.2.0",
			group: "server", syntax: "BACKUP.OPEN group", summary: "On the group's leader: a linearizable barrier, then a snapshot of the group to read with BACKUP.READ; answers its handle, index, term, size and SHA-256.",
			run: async((*handler).backupOpen)},
		{name: "BACKUP.READ", arity: 4, flags: flagAdmin | flagLocal, since: "0.2.0",
			group: "server", syntax: "BACKUP.READ handle offset count", summary: "Answers up to count bytes (at most 4 MiB) of an open backup from offset; empty at the end.",
			run: async((*handler).backupRead)},
		{name: "BACKUP.CLOSE", arity: 2, flags: flagAdmin | flagLocal | flagFast, since: "0.2.0",
			group: "server", syntax: "BACKUP.CLOSE handle", summary: "Drops an open backup; answers 1 if it was open.",
			run: inline((*handler).backupClose)},

		// Redis strings: cmd_string.go (shared helpers: cmd_keys.go)
		{name: "GET", arity: 2, flags: flagReadOnly | flagFast, cats: catString,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRO | keyAccess},
			group: "string", since: redisSince, syntax: "GET key", summary: "Answers a string's value (nil if none; WRONGTYPE for a session).",
			read: &keyRead{fsm.KindString, replyGet}},
		{name: "SET", arity: -3, flags: flagWrite, cats: catString,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRW | keyAccess | keyUpdate},
			group: "string", since: redisSince, syntax: "SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]", summary: "Sets a string, replacing any value.",
			run: writeCmd((*handler).setStr)},
		{name: "SETEX", arity: 4, flags: flagWrite, cats: catString,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyOW | keyUpdate},
			group: "string", since: redisSince, syntax: "SETEX key seconds value", summary: "Sets a string that expires in seconds.",
			run: writeCmd(setexCmd("EX"))},
		{name: "PSETEX", arity: 4, flags: flagWrite, cats: catString,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyOW | keyUpdate},
			group: "string", since: redisSince, syntax: "PSETEX key milliseconds value", summary: "Sets a string that expires in milliseconds.",
			run: writeCmd(setexCmd("PX"))},
		{name: "SETNX", arity: 3, flags: flagWrite | flagFast, cats: catString,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyOW | keyInsert},
			group: "string", since: redisSince, syntax: "SETNX key value", summary: "Sets a string unless the key exists; answers 1 or 0.",
			run: writeCmd((*handler).setnx)},
		{name: "GETDEL", arity: 2, flags: flagWrite | flagFast, cats: catString,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRW | keyAccess | keyDelete},
			group: "string", since: redisSince, syntax: "GETDEL key", summary: "Answers a string's value and removes the key.",
			run: async((*handler).getdel)},
		{name: "GETEX", arity: -2, maxArgs: 4, flags: flagWrite | flagFast, cats: catString,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRW | keyAccess | keyUpdate},
			group: "string", since: redisSince, syntax: "GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST]", summary: "Answers a string's value and changes its deadline.",
			run: async((*handler).getex)},
		{name: "MGET", arity: -2, flags: flagReadOnly | flagFast, cats: catString,
			keys:  keySpec{first: 1, last: -1, step: 1, flags: keyRO | keyAccess},
			group: "string", since: redisSince, syntax: "MGET key [key ...]", summary: "Answers the values of strings in any groups (nil for none or another kind).",
			run: readCmd((*handler).mget)},
		{name: "MSET", arity: -3, flags: flagWrite, cats: catString,
			keys:  keySpec{first: 1, last: -1, step: 2, flags: keyOW | keyUpdate},
			group: "string", since: redisSince, syntax: "MSET key value [key value ...]", summary: "Sets strings atomically; the keys must share a group (CROSSSLOT otherwise).",
			run: async((*handler).mset)},
		{name: "STRLEN", arity: 2, flags: flagReadOnly | flagFast, cats: catString,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRO},
			group: "string", since: redisSince, syntax: "STRLEN key", summary: "Answers a string's length.",
			read: &keyRead{fsm.KindString, replyStrlen}},
		{name: "APPEND", arity: 3, flags: flagWrite | flagFast, cats: catString,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRW | keyInsert},
			group: "string", since: redisSince, syntax: "APPEND key value", summary: "Appends to a string; answers the new length.",
			run: async((*handler).appendStr)},
		{name: "INCR", arity: 2, flags: flagWrite | flagFast, cats: catString,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRW | keyAccess | keyUpdate},
			group: "string", since: redisSince, syntax: "INCR key", summary: "Adds 1 to an integer string; answers the new value.",
			run: writeCmd(incrCmd(1))},
		{name: "INCRBY", arity: 3, flags: flagWrite | flagFast, cats: catString,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRW | keyAccess | keyUpdate},
			group: "string", since: redisSince, syntax: "INCRBY key increment", summary: "Adds to an integer string; answers the new value.",
			run: writeCmd(incrCmd(1))},
		{name: "DECR", arity: 2, flags: flagWrite | flagFast, cats: catString,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRW | keyAccess | keyUpdate},
			group: "string", since: redisSince, syntax: "DECR key", summary: "Subtracts 1 from an integer string; answers the new value.",
			run: writeCmd(incrCmd(-1))},
		{name: "DECRBY", arity: 3, flags: flagWrite | flagFast, cats: catString,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRW | keyAccess | keyUpdate},
			group: "string", since: redisSince, syntax: "DECRBY key decrement", summary: "Subtracts from an integer string; answers the new value.",
			run: writeCmd(incrCmd(-1))},

		// Redis keys: cmd_keys.go
		{name: "DEL", arity: -2, flags: flagWrite, cats: catKeyspace,
			keys:  keySpec{first: 1, last: -1, step: 1, flags: keyRM | keyDelete},
			group: "generic", since: redisSince, syntax: "DEL key [key ...]", summary: "Removes keys in any groups; answers how many existed.",
			run: async((*handler).del)},
		{name: "UNLINK", arity: -2, flags: flagWrite | flagFast, cats: catKeyspace,
			keys:  keySpec{first: 1, last: -1, step: 1, flags: keyRM | keyDelete},
			group: "generic", since: redisSince, syntax: "UNLINK key [key ...]", summary: "DEL (removal is always cheap here).",
			run: async((*handler).del)},
		{name: "EXISTS", arity: -2, flags: flagReadOnly | flagFast, cats: catKeyspace,
			keys:  keySpec{first: 1, last: -1, step: 1, flags: keyRO},
			group: "generic", since: redisSince, syntax: "EXISTS key [key ...]", summary: "Answers how many of the keys exist, a key named twice counted twice.",
			run: readCmd((*handler).exists)},
		{name: "TYPE", arity: 2, flags: flagReadOnly | flagFast, cats: catKeyspace,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRO},
			group: "generic", since: redisSince, syntax: "TYPE key", summary: "Answers string, hash (sessions too), set or none.",
			read: &keyRead{anyKind, replyType}},
		{name: "EXPIRE", arity: -3, flags: flagWrite | flagFast, cats: catKeyspace,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRW | keyUpdate},
			group: "generic", since: redisSince, syntax: "EXPIRE key seconds [NX|XX|GT|LT]", summary: "Sets a key's deadline in seconds from now.",
			run: writeCmd(expireCmd(1e9, false))},
		{name: "PEXPIRE", arity: -3, flags: flagWrite | flagFast, cats: catKeyspace,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRW | keyUpdate},
			group: "generic", since: redisSince, syntax: "PEXPIRE key milliseconds [NX|XX|GT|LT]", summary: "Sets a key's deadline in milliseconds from now.",
			run: writeCmd(expireCmd(1e6, false))},
		{name: "EXPIREAT", arity: -3, flags: flagWrite | flagFast, cats: catKeyspace,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRW | keyUpdate},
			group: "generic", since: redisSince, syntax: "EXPIREAT key unix-seconds [NX|XX|GT|LT]", summary: "Sets a key's deadline as a Unix time in seconds.",
			run: writeCmd(expireCmd(1e9, true))},
		{name: "PEXPIREAT", arity: -3, flags: flagWrite | flagFast, cats: catKeyspace,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRW | keyUpdate},
			group: "generic", since: redisSince, syntax: "PEXPIREAT key unix-milliseconds [NX|XX|GT|LT]", summary: "Sets a key's deadline as a Unix time in milliseconds.",
			run: writeCmd(expireCmd(1e6, true))},
		{name: "PERSIST", arity: 2, flags: flagWrite | flagFast, cats: catKeyspace,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRW | keyUpdate},
			group: "generic", since: redisSince, syntax: "PERSIST key", summary: "Removes a key's deadline.",
			run: writeCmd((*handler).persist)},
		{name: "TTL", arity: 2, flags: flagReadOnly | flagFast, cats: catKeyspace,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRO},
			group: "generic", since: redisSince, syntax: "TTL key", summary: "Answers a key's remaining life in seconds (-1: none, -2: no key).",
			read: &keyRead{anyKind, replyTTL(1e9, false)}},
		{name: "PTTL", arity: 2, flags: flagReadOnly | flagFast, cats: catKeyspace,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRO},
			group: "generic", since: redisSince, syntax: "PTTL key", summary: "Answers a key's remaining life in milliseconds (-1: none, -2: no key).",
			read: &keyRead{anyKind, replyTTL(1e6, false)}},
		{name: "EXPIRETIME", arity: 2, flags: flagReadOnly | flagFast, cats: catKeyspace,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRO},
			group: "generic", since: redisSince, syntax: "EXPIRETIME key", summary: "Answers a key's deadline as a Unix time in seconds (-1: none, -2: no key).",
			read: &keyRead{anyKind, replyTTL(1e9, true)}},
		{name: "PEXPIRETIME", arity: 2, flags: flagReadOnly | flagFast, cats: catKeyspace,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRO},
			group: "generic", since: redisSince, syntax: "PEXPIRETIME key", summary: "Answers a key's deadline as a Unix time in milliseconds (-1: none, -2: no key).",
			read: &keyRead{anyKind, replyTTL(1e6, true)}},

		// Redis hashes (sessions too): cmd_hash.go
		{name: "HSET", arity: -4, flags: flagWrite | flagFast, cats: catHash,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRW | keyUpdate | keyInsert},
			group: "hash", since: redisSince, syntax: "HSET key field value [field value ...]", summary: "Sets hash fields (a session's too); answers how many were added.",
			run: writeCmd(hsetCmd(false))},
		{name: "HMSET", arity: -4, flags: flagWrite | flagFast, cats: catHash,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRW | keyUpdate | keyInsert},
			group: "hash", since: redisSince, syntax: "HMSET key field value [field value ...]", summary: "Sets hash fields; answers OK.",
			run: writeCmd(hsetCmd(true))},
		{name: "HSETNX", arity: 4, flags: flagWrite | flagFast, cats: catHash,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRW | keyInsert},
			group: "hash", since: redisSince, syntax: "HSETNX key field value", summary: "Sets a hash field unless it exists; answers 1 or 0.",
			run: writeCmd((*handler).hsetnx)},
		{name: "HGET", arity: 3, flags: flagReadOnly | flagFast, cats: catHash,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRO | keyAccess},
			group: "hash", since: redisSince, syntax: "HGET key field", summary: "Answers a hash field's value (nil if none).",
			read: &keyRead{fsm.KindHash, replyHGet}},
		{name: "HMGET", arity: -3, flags: flagReadOnly | flagFast, cats: catHash,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRO | keyAccess},
			group: "hash", since: redisSince, syntax: "HMGET key field [field ...]", summary: "Answers hash fields' values (nil for each missing one).",
			read: &keyRead{fsm.KindHash, replyHMGet}},
		{name: "HGETALL", arity: 2, flags: flagReadOnly, cats: catHash,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRO | keyAccess},
			group: "hash", since: redisSince, syntax: "HGETALL key", summary: "Answers every field and value of a hash (a session's too).",
			read: &keyRead{fsm.KindHash, replyHashPart(hashAll)}},
		{name: "HKEYS", arity: 2, flags: flagReadOnly, cats: catHash,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRO},
			group: "hash", since: redisSince, syntax: "HKEYS key", summary: "Answers a hash's field names.",
			read: &keyRead{fsm.KindHash, replyHashPart(hashKeys)}},
		{name: "HVALS", arity: 2, flags: flagReadOnly, cats: catHash,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRO | keyAccess},
			group: "hash", since: redisSince, syntax: "HVALS key", summary: "Answers a hash's values.",
			read: &keyRead{fsm.KindHash, replyHashPart(hashVals)}},
		{name: "HDEL", arity: -3, flags: flagWrite | flagFast, cats: catHash,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRW | keyDelete},
			group: "hash", since: redisSince, syntax: "HDEL key field [field ...]", summary: "Removes hash fields (the key with its last); answers how many existed.",
			run: async((*handler).hdel)},
		{name: "HLEN", arity: 2, flags: flagReadOnly | flagFast, cats: catHash,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRO},
			group: "hash", since: redisSince, syntax: "HLEN key", summary: "Answers a hash's number of fields.",
			read: &keyRead{fsm.KindHash, replyHLen}},
		{name: "HEXISTS", arity: 3, flags: flagReadOnly | flagFast, cats: catHash,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRO},
			group: "hash", since: redisSince, syntax: "HEXISTS key field", summary: "Answers 1 if the hash has the field, else 0.",
			read: &keyRead{fsm.KindHash, replyHExists}},
		{name: "HSTRLEN", arity: 3, flags: flagReadOnly | flagFast, cats: catHash,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRO},
			group: "hash", since: redisSince, syntax: "HSTRLEN key field", summary: "Answers the length of a hash field's value.",
			read: &keyRead{fsm.KindHash, replyHStrlen}},
		{name: "HINCRBY", arity: 4, flags: flagWrite | flagFast, cats: catHash,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRW | keyAccess | keyUpdate},
			group: "hash", since: redisSince, syntax: "HINCRBY key field increment", summary: "Adds to an integer hash field; answers the new value.",
			run: async((*handler).hincrby)},

		// Redis sets: cmd_set.go
		{name: "SADD", arity: -3, flags: flagWrite | flagFast, cats: catSet,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRW | keyInsert},
			group: "set", since: redisSince, syntax: "SADD key member [member ...]", summary: "Adds set members; answers how many were new.",
			run: async((*handler).sadd)},
		{name: "SREM", arity: -3, flags: flagWrite | flagFast, cats: catSet,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRW | keyDelete},
			group: "set", since: redisSince, syntax: "SREM key member [member ...]", summary: "Removes set members (the key with its last); answers how many existed.",
			run: async((*handler).srem)},
		{name: "SMEMBERS", arity: 2, flags: flagReadOnly, cats: catSet,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRO | keyAccess},
			group: "set", since: redisSince, syntax: "SMEMBERS key", summary: "Answers a set's members, in byte order.",
			read: &keyRead{fsm.KindSet, replySMembers}},
		{name: "SISMEMBER", arity: 3, flags: flagReadOnly | flagFast, cats: catSet,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRO},
			group: "set", since: redisSince, syntax: "SISMEMBER key member", summary: "Answers 1 if the member is in the set, else 0.",
			read: &keyRead{fsm.KindSet, replySIsMember}},
		{name: "SCARD", arity: 2, flags: flagReadOnly | flagFast, cats: catSet,
			keys:  keySpec{first: 1, last: 1, step: 1, flags: keyRO},
			group: "set", since: redisSince, syntax: "SCARD key", summary: "Answers a set's number of members.",
			read: &keyRead{fsm.KindSet, replySCard}},

		// Redis keyspace: cmd_scan.go
		{name: "RENAME", arity: 3, flags: flagWrite, cats: catKeyspace,
			keys:  keySpec{first: 1, last: 2, step: 1, flags: keyRW | keyAccess | keyDelete},
			group: "generic", since: redisSince, syntax: "RENAME key newkey", summary: "Moves a key to a new name in its group (CROSSSLOT otherwise).",
			run: async(renameCmd(false))},
		{name: "RENAMENX", arity: 3, flags: flagWrite | flagFast, cats: catKeyspace,
			keys:  keySpec{first: 1, last: 2, step: 1, flags: keyRW | keyAccess | keyDelete},
			group: "generic", since: redisSince, syntax: "RENAMENX key newkey", summary: "RENAME unless newkey exists; answers 1 or 0.",
			run: async(renameCmd(true))},
		{name: "SCAN", arity: -2, maxArgs: 8, flags: flagReadOnly, cats: catKeyspace,
			group: "generic", since: redisSince, syntax: "SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]", summary: "Answers one page of keys and the next cursor; the cursor walks every group.",
			run: readCmd((*handler).scan)},
		{name: "KEYS", arity: 2, flags: flagReadOnly, cats: catKeyspace | catDangerous,
			group: "generic", since: redisSince, syntax: "KEYS pattern", summary: "Answers every key matching the pattern, in every group.",
			run: readCmd((*handler).keys)},
		{name: "DBSIZE", arity: 1, flags: flagReadOnly | flagFast, cats: catKeyspace,
			group: "server", since: redisSince, syntax: "DBSIZE", summary: "Answers the number of keys (sessions included) over every group.",
			run: readCmd((*handler).dbsize)},
		{name: "FLUSHDB", arity: -1, maxArgs: 2, flags: flagWrite | flagAdmin, cats: catKeyspace,
			group: "server", since: redisSince, syntax: "FLUSHDB [ASYNC|SYNC]", summary: "Removes every key and session of every group.",
			run: async((*handler).flush)},
		{name: "FLUSHALL", arity: -1, maxArgs: 2, flags: flagWrite | flagAdmin, cats: catKeyspace,
			group: "server", since: redisSince, syntax: "FLUSHALL [ASYNC|SYNC]", summary: "FLUSHDB (there is one database).",
			run: async((*handler).flush)},

		// Redis transactions: cmd_txn.go (queueing: Dispatch, handler.go)
		{name: "MULTI", arity: 1, flags: flagFast | flagLocal, cats: catTransaction,
			group: "transactions", since: redisSince, syntax: "MULTI", summary: "Starts queueing writes for EXEC.",
			run: inline((*handler).multi)},
		{name: "EXEC", arity: 1, flags: flagWrite, cats: catTransaction,
			group: "transactions", since: redisSince, syntax: "EXEC", summary: "Applies the queued writes atomically in one raft entry; their keys must share a group.",
			run: (*handler).exec},
		{name: "DISCARD", arity: 1, flags: flagFast | flagLocal, cats: catTransaction,
			group: "transactions", since: redisSince, syntax: "DISCARD", summary: "Drops the queued writes and the watched keys.",
			run: inline((*handler).discard)},
		{name: "WATCH", arity: -2, flags: flagReadOnly | flagFast, cats: catTransaction,
			keys:  keySpec{first: 1, last: -1, step: 1, flags: keyRO},
			group: "transactions", since: redisSince, syntax: "WATCH key [key ...]", summary: "Makes EXEC fail if a key changes before it.",
			run: (*handler).watch},
		{name: "UNWATCH", arity: 1, flags: flagFast | flagLocal, cats: catTransaction,
			group: "transactions", since: redisSince, syntax: "UNWATCH", summary: "Forgets the watched keys.",
			run: inline((*handler).unwatch)},
	}
	testCommandTable = debugCommands()
	commands = indexCommands(commandTable)
	testCommands = indexCommands(testCommandTable)
}

// commandSince is the version every command of commandTable first
// appeared in; a command added later sets its own since.
const commandSince = "0.1.0"

// redisSince is the version that added the Redis data commands (issue 14).
const redisSince = "0.2.0"

func indexCommands(table []*cmdSpec) map[string]*cmdSpec {
	m := make(map[string]*cmdSpec, len(table))
	for _, s := range table {
		if s.since == "" {
			s.since = commandSince
		}
		if _, dup := m[s.name]; dup {
			panic("node: command " + s.name + " is in the table twice")
		}
		if s.read != nil {
			if s.run != nil {
				panic("node: command " + s.name + " has both run and read")
			}
			s.run = readKey(*s.read)
		}
		m[s.name] = s
	}
	return m
}

// lowerName is the name as COMMAND reports it.
func (s *cmdSpec) lowerName() string { return strings.ToLower(s.name) }
