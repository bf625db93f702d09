package node

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sessionraft/sessionraft/transport/resp"
	"github.com/sessionraft/sessionraft/transport/wire"
)

// The connection commands: PING, ECHO, QUIT, RESET, HELLO, SELECT,
// READONLY, READWRITE, CLIENT and SESSION.CONSISTENCY. They read or change
// only the connection's state and answer inline, with Redis's replies and
// error texts (redis/src/networking.c, server.c).

// clientInfo is what CLIENT SETNAME/SETINFO set. Other connections read
// it (CLIENT LIST), so it is replaced whole, never changed in place.
type clientInfo struct {
	name, libName, libVer string
}

func (h *handler) ping(q request) {
	args, r := q.args, q.r
	if q.st.sub != nil && q.st.sub.count() > 0 && q.c.Proto() == 2 {
		// Redis's PING in RESP2 subscribe mode: a two-element array.
		r.WriteArrayLen(2)
		r.WriteBulkString("pong")
		if len(args) == 2 {
			r.WriteBulk(args[1])
		} else {
			r.WriteBulkString("")
		}
		return
	}
	if len(args) == 2 {
		r.WriteBulk(args[1])
		return
	}
	r.WriteSimple("PONG")
}

func (h *handler) echo(q request) { q.r.WriteBulk(q.args[1]) }

func (h *handler) quit(q request) {
	q.c.CloseAfterReply()
	q.r.WriteSimple("OK")
}

// reset is Redis's RESET: leaves pub/sub, turns tracking off, forgets the
// name, RESP2, default read consistency.
func (h *handler) reset(q request) {
	h.leaveAll(q.st)
	h.trackingClosed(q.st) // RESET turns tracking off, as in Redis
	q.st.info.Store(nil)
	q.st.opts = h.defaultReadOpts()
	q.c.SetProto(2)
	q.r.SetProto(2)
	q.r.WriteSimple("RESET")
}

func (h *handler) defaultReadOpts() readOpts {
	return readOpts{level: wire.Linearizable, maxStale: h.n.cfg.MaxStaleness}
}

// hello switches protocol versions like Redis 6+ (networking.c
// helloCommand): HELLO [protover [AUTH username password] [SETNAME name]].
// The reply is already in the new protocol.
//
// "server" is "sessionraft": no client we read (node-redis, ioredis,
// go-redis, rueidis, redis-py, lettuce, jedis) checks it; redis-py checks
// "proto", and clients that enable features by version read "version",
// which is the Redis version we follow (RedisVersion). "mode" is
// "standalone": a client must not expect CLUSTER SLOTS and MOVED
// redirects (any node serves any key).
func (h *handler) hello(q request) {
	c, args, r := q.c, q.args, q.r
	proto := c.Proto()
	if len(args) >= 2 {
		v, err := strconv.ParseInt(string(args[1]), 10, 64)
		if err != nil {
			writeErr(r, fmt.Errorf("%w: Protocol version is not an integer or out of range", ErrRedis))
			return
		}
		if v < 2 || v > 3 {
			writeErr(r, ErrNoProto)
			return
		}
		proto = int(v)
	}
	var setName []byte
	var user, pass string
	withAuth := false
	for i := 2; i < len(args); i++ {
		more := len(args) - i - 1
		switch {
		case flag(args, i, "AUTH") && more >= 2:
			user, pass, withAuth = string(args[i+1]), string(args[i+2]), true
			i += 2
		case flag(args, i, "SETNAME") && more >= 1:
			setName = args[i+1]
			i++
		default:
			writeErr(r, fmt.Errorf("%w: Syntax error in HELLO option '%s'", ErrRedis, redisArg(args[i])))
			return
		}
	}
	if withAuth {
		if err := h.authenticate(q.st, c.RemoteAddr(), user, pass); err != nil {
			writeErr(r, err)
			return
		}
	} else if q.st.auth.user == nil {
		writeErr(r, ErrHelloNoAuth)
		return
	}
	if setName != nil {
		if err := validName(setName); err != nil {
			writeErr(r, err)
			return
		}
		q.st.setName(string(setName))
	}
	c.SetProto(proto)
	r.SetProto(proto)
	r.WriteMapLen(8)
	r.WriteBulkString("server")
	r.WriteBulkString("sessionraft")
	r.WriteBulkString("version")
	r.WriteBulkString(RedisVersion)
	r.WriteBulkString("proto")
	r.WriteInt(int64(proto))
	r.WriteBulkString("id")
	r.WriteInt(int64(c.ID()))
	r.WriteBulkString("mode")
	r.WriteBulkString("standalone")
	r.WriteBulkString("role")
	r.WriteBulkString("master")
	r.WriteBulkString("modules")
	r.WriteArrayLen(0)
	r.WriteBulkString("sessionraft_version")
	r.WriteBulkString(Version)
}

// selectDB accepts database 0, the only one (Redis Cluster's rule).
func (h *handler) selectDB(q request) {
	n, err := strconv.ParseInt(string(q.args[1]), 10, 64)
	switch {
	case err != nil:
		writeErr(q.r, fmt.Errorf("%w: value is not an integer or out of range", ErrRedis))
	case n != 0:
		writeErr(q.r, fmt.Errorf("%w: DB index is out of range", ErrRedis))
	default:
		q.r.WriteSimple("OK")
	}
}

// readonly makes the connection's reads stale by default, as a Redis
// Cluster replica serves reads after READONLY; READWRITE restores the
// server's default (linearizable).
func (h *handler) readonly(q request) {
	q.st.opts.level = wire.Stale
	q.r.WriteSimple("OK")
}

func (h *handler) readwrite(q request) {
	q.st.opts.level = wire.Linearizable
	q.r.WriteSimple("OK")
}

// validName is Redis's check on client names and library names: no
// spaces, newlines or other characters outside '!'..'~'.
func validName(b []byte) error {
	for _, c := range b {
		if c < '!' || c > '~' {
			return fmt.Errorf("%w: Client names cannot contain spaces, newlines or special characters.", ErrRedis)
		}
	}
	return nil
}

func (st *connState) clientInfo() clientInfo {
	if p := st.info.Load(); p != nil {
		return *p
	}
	return clientInfo{}
}

func (st *connState) setName(name string) {
	ci := st.clientInfo()
	ci.name = name
	st.info.Store(&ci)
}

// client serves the CLIENT subcommands clients send.
func (h *handler) client(q request) {
	c, st, args, r := q.c, q.st, q.args, q.r
	sub := strings.ToUpper(string(args[1]))
	arity := func(ok bool) bool {
		if !ok {
			writeErr(r, fmt.Errorf("%w: wrong number of arguments for 'client|%s' command", ErrArity, strings.ToLower(sub)))
		}
		return ok
	}
	switch sub {
	case "ID":
		if arity(len(args) == 2) {
			r.WriteInt(int64(c.ID()))
		}
	case "SETNAME":
		if !arity(len(args) == 3) {
			return
		}
		if err := validName(args[2]); err != nil {
			writeErr(r, err)
			return
		}
		st.setName(string(args[2]))
		r.WriteSimple("OK")
	case "GETNAME":
		if !arity(len(args) == 2) {
			return
		}
		if name := st.clientInfo().name; name != "" {
			r.WriteBulkString(name)
		} else {
			r.WriteNull()
		}
	case "SETINFO":
		if !arity(len(args) == 4) {
			return
		}
		ci := st.clientInfo()
		attr := strings.ToLower(string(args[2]))
		switch attr {
		case "lib-name", "lib-ver":
		default:
			writeErr(r, fmt.Errorf("%w: Unrecognized option '%s'", ErrRedis, redisArg(args[2])))
			return
		}
		for _, b := range args[3] {
			if b < '!' || b > '~' {
				writeErr(r, fmt.Errorf("%w: %s cannot contain spaces, newlines or special characters.", ErrRedis, attr))
				return
			}
		}
		if attr == "lib-name" {
			ci.libName = string(args[3])
		} else {
			ci.libVer = string(args[3])
		}
		st.info.Store(&ci)
		r.WriteSimple("OK")
	case "NO-EVICT", "NO-TOUCH":
		// Nothing is evicted, and reads do not count as touches of a
		// Redis key's LRU: both settings are accepted as no-ops.
		if !arity(len(args) == 3) {
			return
		}
		if !flag(args, 2, "ON") && !flag(args, 2, "OFF") {
			writeErr(r, ErrSyntax)
			return
		}
		r.WriteSimple("OK")
	case "TRACKING": // client-side caching: cmd_tracking.go
		if arity(len(args) >= 3) {
			h.clientTracking(q)
		}
	case "CACHING":
		if arity(len(args) == 3) {
			h.clientCaching(q)
		}
	case "GETREDIR":
		if arity(len(args) == 2) {
			h.clientGetredir(q)
		}
	case "TRACKINGINFO":
		if arity(len(args) == 2) {
			h.clientTrackingInfo(q)
		}
	case "INFO":
		if arity(len(args) == 2) {
			r.WriteVerbatim("txt", h.clientLine(c.ID(), st, c.RemoteAddr().String(), c.LocalAddr().String(), c.Proto()))
		}
	case "LIST":
		if len(args) != 2 {
			writeErr(r, ErrSyntax) // TYPE and ID filters: not supported
			return
		}
		// Connections that have sent a request, by id as Redis lists them.
		type entry struct {
			c  *resp.Conn
			st *connState
		}
		var all []entry
		h.clients.Range(func(k, v any) bool {
			all = append(all, entry{k.(*resp.Conn), v.(*connState)})
			return true
		})
		slices.SortFunc(all, func(a, b entry) int { return cmp.Compare(a.c.ID(), b.c.ID()) })
		var b strings.Builder
		for _, e := range all {
			b.WriteString(h.clientLine(e.c.ID(), e.st, e.c.RemoteAddr().String(), e.c.LocalAddr().String(), e.c.Proto()))
		}
		r.WriteVerbatim("txt", b.String())
	default:
		writeErr(r, fmt.Errorf("%w: unknown subcommand '%s'. Try CLIENT HELP.", ErrRedis, redisArg(args[1])))
	}
}

// clientLine is one line of CLIENT LIST / CLIENT INFO, with Redis's field
// names for what this server knows of a connection. It reads only st's
// fields that other connections may read (info, created, subCount).
func (h *handler) clientLine(id uint64, st *connState, addr, laddr string, proto int) string {
	ci := st.clientInfo()
	flags := "N"
	subs, psubs := st.subs.Load(), st.psubs.Load()
	if subs+psubs > 0 {
		flags = "P"
	}
	return fmt.Sprintf("id=%d addr=%s laddr=%s name=%s age=%d flags=%s db=0 sub=%d psub=%d ssub=0 multi=-1 user=default resp=%d lib-name=%s lib-ver=%s\n",
		id, addr, laddr, ci.name, int64(time.Since(st.created).Seconds()), flags, subs, psubs, proto, ci.libName, ci.libVer)
}

// connClosed forgets a closed connection and its subscriptions.
func (h *handler) connClosed(c *resp.Conn, st *connState) {
	h.clients.Delete(c)
	if st.sub != nil {
		h.n.ps.drop(st.sub)
	}
	h.trackingClosed(st)
}

func (h *handler) consistency(q request) {
	st, args, r := q.st, q.args, q.r
	level, err := parseLevel(args[1])
	if err != nil {
		writeErr(r, err)
		return
	}
	o := readOpts{level: level, maxStale: st.opts.maxStale}
	if len(args) > 2 {
		if !opt(args, 2, "MAXSTALE") || len(args) != 4 {
			writeErr(r, fmt.Errorf("%w: syntax: SESSION.CONSISTENCY level [MAXSTALE dur]", ErrBadArg))
			return
		}
		d, err := parseDuration(args[3])
		if err != nil {
			writeErr(r, err)
			return
		}
		o.maxStale = d
	}
	st.opts = o
	r.WriteSimple("OK")
}
