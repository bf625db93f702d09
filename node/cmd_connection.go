package node

import (
	"fmt"
	"strings"

	"github.com/sessionraft/sessionraft/transport/wire"
)

// The connection commands: PING, QUIT, HELLO, CLIENT and
// SESSION.CONSISTENCY. They read or change only the connection's state and
// answer inline.

func (h *handler) ping(q request) {
	args, r := q.args, q.r
	if len(args) == 2 {
		r.WriteBulk(args[1])
		return
	}
	r.WriteSimple("PONG")
}

func (h *handler) quit(q request) {
	q.c.CloseAfterReply()
	q.r.WriteSimple("OK")
}

// hello switches protocol versions like Redis 6+, and authenticates with
// AUTH username password. On a connection that has not authenticated,
// HELLO without AUTH is refused (-NOAUTH), as in Redis.
func (h *handler) hello(q request) {
	c, args, r := q.c, q.args, q.r
	proto := c.Proto()
	var user, pass string
	withAuth := false
	for i := 1; i < len(args); i++ {
		switch {
		case i == 1 && !flag(args, i, "AUTH") && !flag(args, i, "SETNAME"):
			switch string(args[1]) {
			case "2":
				proto = 2
			case "3":
				proto = 3
			default:
				r.WriteError(wire.CodeBadArg, "NOPROTO unsupported protocol version")
				return
			}
		case opt(args, i, "SETNAME"):
			i++
		case flag(args, i, "AUTH") && i+2 < len(args):
			user, pass, withAuth = string(args[i+1]), string(args[i+2]), true
			i += 2
		default:
			r.WriteError(wire.CodeBadArg, fmt.Sprintf("syntax error in HELLO near '%.32s'", args[i]))
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
	// The HELLO reply itself is already in the new protocol, as in Redis.
	c.SetProto(proto)
	r.SetProto(proto)
	r.WriteMapLen(7)
	r.WriteBulkString("server")
	r.WriteBulkString("sessionraft")
	r.WriteBulkString("version")
	r.WriteBulkString(Version)
	r.WriteBulkString("proto")
	r.WriteInt(int64(proto))
	r.WriteBulkString("id")
	r.WriteInt(int64(c.ID()))
	r.WriteBulkString("mode")
	r.WriteBulkString("cluster")
	r.WriteBulkString("role")
	r.WriteBulkString("master")
	r.WriteBulkString("modules")
	r.WriteArrayLen(0)
}

// client accepts the CLIENT subcommands client libraries send on connect.
func (h *handler) client(q request) {
	c, args, r := q.c, q.args, q.r
	switch strings.ToUpper(string(args[1])) {
	case "SETNAME", "SETINFO", "NO-EVICT", "NO-TOUCH":
		r.WriteSimple("OK")
	case "ID":
		r.WriteInt(int64(c.ID()))
	default:
		r.WriteError(wire.CodeUnknownCmd, fmt.Sprintf("unknown CLIENT subcommand '%.32s'", args[1]))
	}
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
