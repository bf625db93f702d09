package node

import (
	"context"
	"fmt"
	"strings"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/transport/resp"
	"github.com/sessionraft/sessionraft/transport/wire"
)

// handler serves the client port. Cheap commands that read or change only
// connection state answer synchronously in Dispatch (in request order);
// everything that touches raft runs asynchronously, so a pipeline of writes
// proceeds without waiting on each raft round.
type handler struct{ n *Node }

// connState is the per-connection state kept in resp.Conn.State.
type connState struct {
	opts readOpts // default read consistency and staleness bound
}

// command describes one RESP command: its arity bounds (counting the name)
// and either a synchronous or an asynchronous implementation. An
// asynchronous command may also have a fast path, tried in Dispatch: it
// answers (or defers, see resp.Reply.Defer) and returns true when it can do
// so without blocking, or returns false having written nothing.
type command struct {
	min, max int // max < 0: unbounded
	sync     func(h *handler, c *resp.Conn, st *connState, args [][]byte, r *resp.Reply)
	async    func(h *handler, ctx context.Context, st connState, args [][]byte, r *resp.Reply)
	now      func(h *handler, c *resp.Conn, st *connState, args [][]byte, r *resp.Reply) bool
}

var commands map[string]command

func init() {
	commands = map[string]command{
		"PING":                {min: 1, max: 2, sync: (*handler).ping},
		"HELLO":               {min: 1, max: -1, sync: (*handler).hello},
		"COMMAND":             {min: 1, max: -1, sync: (*handler).command},
		"CLIENT":              {min: 2, max: -1, sync: (*handler).client},
		"QUIT":                {min: 1, max: 1, sync: (*handler).quit},
		"INFO":                {min: 1, max: 2, sync: (*handler).info},
		"TOPOLOGY":            {min: 1, max: 1, sync: (*handler).topology},
		"SESSION.CONSISTENCY": {min: 2, max: 4, sync: (*handler).consistency},
		"SESSION.CREATE":      {min: 1, max: -1, async: (*handler).create},
		"SESSION.GET":         {min: 2, max: 7, async: (*handler).get, now: (*handler).getNow},
		"SESSION.SET":         {min: 3, max: -1, async: (*handler).set},
		"SESSION.UNSET":       {min: 3, max: -1, async: (*handler).unset},
		"SESSION.TOUCH":       {min: 2, max: -1, async: (*handler).touch},
		"SESSION.DESTROY":     {min: 2, max: -1, async: (*handler).destroy},
		"SESSION.ROTATE":      {min: 2, max: 6, async: (*handler).rotate},
		"SESSION.LIST":        {min: 2, max: 8, async: (*handler).list},
		"SESSION.REVOKE":      {min: 2, max: 6, async: (*handler).revoke},
	}
}

func (h *handler) Dispatch(c *resp.Conn, args [][]byte, r *resp.Reply) func(ctx context.Context) {
	// Clients send names in upper case; the map lookup of the bytes as
	// they are costs no string, ToUpper only for the rest.
	cmd, ok := commands[string(args[0])]
	if !ok {
		cmd, ok = h.lookupCommand(strings.ToUpper(string(args[0])))
	}
	if !ok {
		r.WriteError(wire.CodeUnknownCmd, fmt.Sprintf("unknown command '%.64s'", args[0]))
		return nil
	}
	if len(args) < cmd.min || (cmd.max >= 0 && len(args) > cmd.max) {
		r.WriteError(wire.CodeBadArg, fmt.Sprintf("wrong number of arguments for '%s'", strings.ToLower(string(args[0]))))
		return nil
	}
	st, _ := c.State.(*connState)
	if st == nil {
		st = &connState{opts: readOpts{level: wire.Linearizable, maxStale: h.n.cfg.MaxStaleness}}
		c.State = st
	}
	if cmd.sync != nil {
		cmd.sync(h, c, st, args, r)
		return nil
	}
	if cmd.now != nil && cmd.now(h, c, st, args, r) {
		return nil
	}
	snapshot := *st // connection defaults as of this request, in order
	return func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, h.n.cfg.RequestTimeout)
		defer cancel()
		cmd.async(h, ctx, snapshot, args, r)
	}
}

func writeErr(r *resp.Reply, err error) {
	r.WriteError(replyFor(err)) // errTable: the code and the text a client reads
}

// writeRecord writes a session as a map (RESP3) or flat key/value array
// (RESP2). Times are Unix milliseconds; 0 means "none".
func writeRecord(r *resp.Reply, rec *fsm.Record) {
	r.WriteMapLen(9)
	r.WriteBulkString("id")
	r.WriteBulkString(rec.ID)
	r.WriteBulkString("subject")
	r.WriteBulkString(rec.Subject)
	r.WriteBulkString("version")
	r.WriteInt(int64(rec.Version))
	r.WriteBulkString("created_ms")
	r.WriteInt(rec.Created / 1e6)
	r.WriteBulkString("last_access_ms")
	r.WriteInt(rec.LastAccess / 1e6)
	r.WriteBulkString("idle_ms")
	r.WriteInt(rec.IdleTimeout / 1e6)
	r.WriteBulkString("absolute_deadline_ms")
	r.WriteInt(rec.AbsDeadline / 1e6)
	r.WriteBulkString("expires_at_ms")
	r.WriteInt(rec.Deadline() / 1e6)
	r.WriteBulkString("fields")
	r.WriteMapLen(rec.NumFields())
	for name, value := range rec.Fields() { // in name order
		r.WriteBulkString(name)
		r.WriteBulk(value)
	}
}

func (h *handler) ping(c *resp.Conn, _ *connState, args [][]byte, r *resp.Reply) {
	if len(args) == 2 {
		r.WriteBulk(args[1])
		return
	}
	r.WriteSimple("PONG")
}

func (h *handler) quit(c *resp.Conn, _ *connState, _ [][]byte, r *resp.Reply) {
	c.CloseAfterReply()
	r.WriteSimple("OK")
}

// hello switches protocol versions like Redis 6+. Authentication is not
// configured on this server, so AUTH is refused rather than ignored.
func (h *handler) hello(c *resp.Conn, _ *connState, args [][]byte, r *resp.Reply) {
	proto := c.Proto()
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
		case flag(args, i, "AUTH"):
			r.WriteError(wire.CodeBadArg, "authentication is not configured on this server")
			return
		default:
			r.WriteError(wire.CodeBadArg, fmt.Sprintf("syntax error in HELLO near '%.32s'", args[i]))
			return
		}
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

// command answers enough of COMMAND for redis-cli's start-up probes.
func (h *handler) command(_ *resp.Conn, _ *connState, args [][]byte, r *resp.Reply) {
	if len(args) >= 2 && strings.EqualFold(string(args[1]), "COUNT") {
		r.WriteInt(int64(len(commands)))
		return
	}
	if len(args) >= 2 && strings.EqualFold(string(args[1]), "DOCS") {
		r.WriteMapLen(0)
		return
	}
	r.WriteArrayLen(0)
}

// client accepts the CLIENT subcommands client libraries send on connect.
func (h *handler) client(c *resp.Conn, _ *connState, args [][]byte, r *resp.Reply) {
	switch strings.ToUpper(string(args[1])) {
	case "SETNAME", "SETINFO", "NO-EVICT", "NO-TOUCH":
		r.WriteSimple("OK")
	case "ID":
		r.WriteInt(int64(c.ID()))
	default:
		r.WriteError(wire.CodeUnknownCmd, fmt.Sprintf("unknown CLIENT subcommand '%.32s'", args[1]))
	}
}

func (h *handler) consistency(_ *resp.Conn, st *connState, args [][]byte, r *resp.Reply) {
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

func (h *handler) create(ctx context.Context, _ connState, args [][]byte, r *resp.Reply) {
	var req createReq
	i := 1
	for ; i < len(args); i += 2 {
		switch {
		case opt(args, i, "SUBJECT"):
			req.subject = string(args[i+1])
		case opt(args, i, "TTL"):
			d, err := parseDuration(args[i+1])
			if err != nil {
				writeErr(r, err)
				return
			}
			req.ttl = int64(d)
		case opt(args, i, "IDLE"):
			d, err := parseDuration(args[i+1])
			if err != nil {
				writeErr(r, err)
				return
			}
			req.idle = int64(d)
		case opt(args, i, "REQID"):
			req.reqID = string(args[i+1])
		case opt(args, i, "ID"):
			req.id = string(args[i+1])
		case flag(args, i, "FIELDS"):
			fields, err := parsePairs(args[i+1:])
			if err != nil {
				writeErr(r, err)
				return
			}
			req.fields = fields
			i = len(args)
		default:
			writeErr(r, fmt.Errorf("%w: syntax error near '%.32s' (SESSION.CREATE [SUBJECT s] [TTL d] [IDLE d] [ID id] [REQID r] [FIELDS f v ...])", ErrBadArg, args[i]))
			return
		}
	}
	rec, err := h.n.create(ctx, req)
	if err != nil {
		writeErr(r, err)
		return
	}
	writeRecord(r, rec)
}

func parsePairs(args [][]byte) (map[string][]byte, error) {
	if len(args) == 0 || len(args)%2 != 0 {
		return nil, fmt.Errorf("%w: fields must be field value pairs", ErrBadArg)
	}
	m := make(map[string][]byte, len(args)/2)
	for i := 0; i < len(args); i += 2 {
		m[string(args[i])] = args[i+1]
	}
	return m, nil
}

// parseReadOpts parses [CONSISTENCY l] [MAXSTALE d] and, when allowNoTouch,
// [NOTOUCH], starting from the connection's defaults.
func parseReadOpts(args [][]byte, def readOpts, allowNoTouch bool) (readOpts, bool, error) {
	o, touch := def, true
	for i := 0; i < len(args); i++ {
		switch {
		case opt(args, i, "CONSISTENCY"):
			l, err := parseLevel(args[i+1])
			if err != nil {
				return o, touch, err
			}
			o.level = l
			i++
		case opt(args, i, "MAXSTALE"):
			d, err := parseDuration(args[i+1])
			if err != nil {
				return o, touch, err
			}
			o.maxStale = d
			i++
		case allowNoTouch && flag(args, i, "NOTOUCH"):
			touch = false
		default:
			return o, touch, fmt.Errorf("%w: syntax error near '%.32s'", ErrBadArg, args[i])
		}
	}
	return o, touch, nil
}

func (h *handler) get(ctx context.Context, st connState, args [][]byte, r *resp.Reply) {
	o, touch, err := parseReadOpts(args[2:], st.opts, true)
	if err != nil {
		writeErr(r, err)
		return
	}
	h.readGet(ctx, r, string(args[1]), o, touch)
}

// readGet runs a read through the general path (localOrForward) and writes
// the reply.
func (h *handler) readGet(ctx context.Context, r *resp.Reply, id string, o readOpts, touch bool) {
	rec, err := h.n.get(ctx, id, o)
	if err != nil {
		writeErr(r, err)
		return
	}
	if touch {
		h.n.touch.add(h.n.ring.Group(id), rec, h.n.now())
	}
	writeRecord(r, rec)
}

// writeOptions are the leading options of SET, UNSET and ROTATE.
type writeOptions struct {
	ifVersion uint64
	reqID     string
	ttl       int64 // SET/UNSET only: new absolute TTL from now
}

// parseWriteOpts parses leading [IFVERSION n] [REQID r] [TTL d] (TTL only
// when allowTTL) and returns the index of the first remaining argument.
func parseWriteOpts(args [][]byte, i int, allowTTL bool) (o writeOptions, next int, err error) {
	for {
		switch {
		case opt(args, i, "IFVERSION"):
			if o.ifVersion, err = parseUint(args[i+1], "IFVERSION"); err != nil {
				return o, i, err
			}
			if o.ifVersion == 0 {
				return o, i, fmt.Errorf("%w: IFVERSION must be positive", ErrBadArg)
			}
			i += 2
		case opt(args, i, "REQID"):
			o.reqID = string(args[i+1])
			i += 2
		case allowTTL && opt(args, i, "TTL"):
			d, err := parseDuration(args[i+1])
			if err != nil {
				return o, i, err
			}
			o.ttl = int64(d)
			i += 2
		case flag(args, i, "FIELDS"):
			// An explicit end of options, so a field may be named like one.
			return o, i + 1, nil
		default:
			return o, i, nil
		}
	}
}

func (h *handler) set(ctx context.Context, _ connState, args [][]byte, r *resp.Reply) {
	o, i, err := parseWriteOpts(args, 2, true)
	if err != nil {
		writeErr(r, err)
		return
	}
	var fields map[string][]byte
	if i < len(args) || o.ttl == 0 { // SET id TTL d alone just moves the deadline
		if fields, err = parsePairs(args[i:]); err != nil {
			writeErr(r, err)
			return
		}
	}
	v, err := h.n.setFields(ctx, &fsm.Set{ID: string(args[1]), IfVersion: o.ifVersion, Fields: fields, AbsTTL: o.ttl}, o.reqID)
	if err != nil {
		writeErr(r, err)
		return
	}
	r.WriteInt(int64(v))
}

func (h *handler) unset(ctx context.Context, _ connState, args [][]byte, r *resp.Reply) {
	o, i, err := parseWriteOpts(args, 2, true)
	if err != nil {
		writeErr(r, err)
		return
	}
	if i >= len(args) {
		writeErr(r, fmt.Errorf("%w: no fields to unset", ErrBadArg))
		return
	}
	names := make([]string, 0, len(args)-i)
	for _, a := range args[i:] {
		names = append(names, string(a))
	}
	v, err := h.n.setFields(ctx, &fsm.Set{ID: string(args[1]), IfVersion: o.ifVersion, Unset: names, AbsTTL: o.ttl}, o.reqID)
	if err != nil {
		writeErr(r, err)
		return
	}
	r.WriteInt(int64(v))
}

// maxIDsPerCommand bounds DESTROY and TOUCH: one request becomes one raft
// entry per group, which must stay small enough not to stall the group.
const maxIDsPerCommand = 10000

func idArgs(args [][]byte) ([]string, error) {
	if len(args) > maxIDsPerCommand {
		return nil, fmt.Errorf("%w: %d ids in one command (limit %d)", fsm.ErrTooLarge, len(args), maxIDsPerCommand)
	}
	ids := make([]string, len(args))
	for i, a := range args {
		ids[i] = string(a)
	}
	return ids, nil
}

func (h *handler) touch(ctx context.Context, _ connState, args [][]byte, r *resp.Reply) {
	ids, err := idArgs(args[1:])
	if err != nil {
		writeErr(r, err)
		return
	}
	c, err := h.n.touchNow(ctx, ids)
	if err != nil {
		writeErr(r, err)
		return
	}
	r.WriteInt(int64(c))
}

func (h *handler) destroy(ctx context.Context, _ connState, args [][]byte, r *resp.Reply) {
	ids, err := idArgs(args[1:])
	if err != nil {
		writeErr(r, err)
		return
	}
	c, err := h.n.destroy(ctx, ids)
	if err != nil {
		writeErr(r, err)
		return
	}
	r.WriteInt(int64(c))
}

func (h *handler) rotate(ctx context.Context, _ connState, args [][]byte, r *resp.Reply) {
	o, i, err := parseWriteOpts(args, 2, false)
	if err == nil && i != len(args) {
		err = fmt.Errorf("%w: syntax: SESSION.ROTATE id [IFVERSION n] [REQID r]", ErrBadArg)
	}
	if err != nil {
		writeErr(r, err)
		return
	}
	id, err := h.n.rotate(ctx, string(args[1]), o.ifVersion, o.reqID)
	if err != nil {
		writeErr(r, err)
		return
	}
	r.WriteBulkString(id)
}

// takeGroup removes a "GROUP g" option from args and returns the groups to
// act on: just g, or every group. The Go client uses it to fan LIST and
// REVOKE out to each group's leader itself, saving the forwarding hop.
func (h *handler) takeGroup(args [][]byte) ([][]byte, []int, error) {
	// Options start after the subject (args[1]) and are all name/value
	// pairs, so step by two: a subject or value may itself read "GROUP".
	for i := 2; i+1 < len(args); i += 2 {
		if !opt(args, i, "GROUP") {
			continue
		}
		g, err := parseUint(args[i+1], "GROUP")
		if err != nil {
			return nil, nil, err
		}
		if g >= uint64(len(h.n.groups)) {
			return nil, nil, fmt.Errorf("%w: no group %d (the cluster has %d)", ErrBadArg, g, len(h.n.groups))
		}
		rest := append(append([][]byte{}, args[:i]...), args[i+2:]...)
		return rest, []int{int(g)}, nil
	}
	return args, h.n.allGroups(), nil
}

func (h *handler) list(ctx context.Context, st connState, args [][]byte, r *resp.Reply) {
	args, gids, err := h.takeGroup(args)
	if err != nil {
		writeErr(r, err)
		return
	}
	o, _, err := parseReadOpts(args[2:], st.opts, false)
	if err != nil {
		writeErr(r, err)
		return
	}
	recs, err := h.n.list(ctx, string(args[1]), gids, o)
	if err != nil {
		writeErr(r, err)
		return
	}
	r.WriteArrayLen(len(recs))
	for _, rec := range recs {
		writeRecord(r, rec)
	}
}

func (h *handler) revoke(ctx context.Context, _ connState, args [][]byte, r *resp.Reply) {
	args, gids, err := h.takeGroup(args)
	if err != nil {
		writeErr(r, err)
		return
	}
	var except string
	if len(args) > 2 {
		if !opt(args, 2, "EXCEPT") || len(args) != 4 {
			writeErr(r, fmt.Errorf("%w: syntax: SESSION.REVOKE subject [EXCEPT id] [GROUP g]", ErrBadArg))
			return
		}
		except = string(args[3])
	}
	if len(args[1]) == 0 {
		writeErr(r, fmt.Errorf("%w: subject must not be empty", ErrBadArg))
		return
	}
	c, err := h.n.revoke(ctx, string(args[1]), except, gids)
	if err != nil {
		writeErr(r, err)
		return
	}
	r.WriteInt(int64(c))
}
