package node

import (
	"context"
	"fmt"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/transport/resp"
)

// The SESSION.* commands. CREATE, SET, UNSET and ROTATE parse on the reader
// goroutine and take the write fast path (writenow.go); SESSION.GET tries
// its fast path (getnow.go) first; the rest run on a goroutine (async).

// create parses SESSION.CREATE on the reader goroutine; its write takes
// the fast path (writenow.go).
func (h *handler) create(args [][]byte, r *resp.Reply) (writeStep, bool) {
	var req createReq
	i, answer := createOptions(args), h.answerCreate
	if i == 2 {
		answer = h.answerCreatePacked
	}
	for ; i < len(args); i += 2 {
		switch {
		case opt(args, i, "SUBJECT"):
			req.subject = string(args[i+1])
		case opt(args, i, "TTL"):
			d, err := parseDuration(args[i+1])
			if err != nil {
				writeErr(r, err)
				return writeStep{}, false
			}
			req.ttl = int64(d)
		case opt(args, i, "IDLE"):
			d, err := parseDuration(args[i+1])
			if err != nil {
				writeErr(r, err)
				return writeStep{}, false
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
				return writeStep{}, false
			}
			req.fields = fields
			i = len(args)
		default:
			writeErr(r, fmt.Errorf("%w: syntax error near '%.32s' (SESSION.CREATE [PACKED] [SUBJECT s] [TTL d] [IDLE d] [ID id] [REQID r] [FIELDS f v ...])", ErrBadArg, args[i]))
			return writeStep{}, false
		}
	}
	gid, cmd, err := h.n.createCmd(req)
	if err != nil {
		writeErr(r, err)
		return writeStep{}, false
	}
	return writeStep{gid: gid, cmd: cmd, answer: answer, blocks: createReplayed}, true
}

func (h *handler) answerCreate(ctx context.Context, r *resp.Reply, res fsm.Result, err error) {
	rec, err := h.n.createResult(ctx, res, err)
	if err != nil {
		writeErr(r, err)
		return
	}
	writeRecord(r, rec)
}

// answerCreatePacked is answerCreate for SESSION.CREATE PACKED: the record
// as one bulk string (writePackedRecord).
func (h *handler) answerCreatePacked(ctx context.Context, r *resp.Reply, res fsm.Result, err error) {
	rec, err := h.n.createResult(ctx, res, err)
	if err != nil {
		writeErr(r, err)
		return
	}
	writePackedRecord(r, rec)
}

// createOptions is the index of SESSION.CREATE's first name/value option:
// 2 after a leading PACKED (first or not at all, since the rest are
// pairs), else 1. create and createKeys both start there, so the ACL check
// reads the id the command uses.
func createOptions(args [][]byte) int {
	if flag(args, 1, "PACKED") {
		return 2
	}
	return 1
}

// createKeys finds SESSION.CREATE's session id: the value of its ID
// option, read with create's own grammar (a leading PACKED, then options
// that are name/value pairs up to FIELDS), so a field named ID is not
// taken for one. Every ID option counts, though create keeps only the
// last.
func createKeys(args [][]byte) []int {
	var keys []int
	for i := createOptions(args); i < len(args) && !flag(args, i, "FIELDS"); i += 2 {
		if opt(args, i, "ID") {
			keys = append(keys, i+1)
		}
	}
	return keys
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

// getFlags are SESSION.GET's own options.
type getFlags struct {
	noTouch bool // NOTOUCH: the read does not mark the session used
	packed  bool // PACKED: the record as one bulk string (wire.AppendPacked)
}

// parseReadOpts parses [CONSISTENCY l] [MAXSTALE d] and, when forGet,
// SESSION.GET's [NOTOUCH] and [PACKED], starting from the connection's
// defaults.
func parseReadOpts(args [][]byte, def readOpts, forGet bool) (readOpts, getFlags, error) {
	o, gf := def, getFlags{}
	for i := 0; i < len(args); i++ {
		switch {
		case opt(args, i, "CONSISTENCY"):
			l, err := parseLevel(args[i+1])
			if err != nil {
				return o, gf, err
			}
			o.level = l
			i++
		case opt(args, i, "MAXSTALE"):
			d, err := parseDuration(args[i+1])
			if err != nil {
				return o, gf, err
			}
			o.maxStale = d
			i++
		case forGet && flag(args, i, "NOTOUCH"):
			gf.noTouch = true
		case forGet && flag(args, i, "PACKED"):
			gf.packed = true
		default:
			return o, gf, fmt.Errorf("%w: syntax error near '%.32s'", ErrBadArg, args[i])
		}
	}
	return o, gf, nil
}

// get answers SESSION.GET on the one-key read path (readnow.go). The
// options are parsed here, against the connection's defaults as of this
// request.
func (h *handler) get(q request) func(context.Context) {
	o, gf, err := parseReadOpts(q.args[2:], q.st.opts, true)
	if err != nil {
		writeErr(q.r, err)
		return nil
	}
	q.st.obs.level = o.level
	kr := sessionRead
	if gf.packed {
		kr = packedSessionRead
	}
	return h.readOneKey(q, oneRead{keyRead: kr, key: string(q.args[1]), args: q.args, o: o, touch: !gf.noTouch})
}

// sessionRead is SESSION.GET's answer: the record, of any kind;
// packedSessionRead is the same in the packed form (PACKED).
var (
	sessionRead       = keyRead{kind: anyKind, reply: replySession}
	packedSessionRead = keyRead{kind: anyKind, reply: replySessionPacked}
)

func replySession(r *resp.Reply, _ [][]byte, rec *fsm.Record, _ int64) {
	if rec == nil {
		writeErr(r, errSessionNotFound)
		return
	}
	writeRecord(r, rec)
}

func replySessionPacked(r *resp.Reply, _ [][]byte, rec *fsm.Record, _ int64) {
	if rec == nil {
		writeErr(r, errSessionNotFound)
		return
	}
	writePackedRecord(r, rec)
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

func (h *handler) set(args [][]byte, r *resp.Reply) (writeStep, bool) {
	o, i, err := parseWriteOpts(args, 2, true)
	if err != nil {
		writeErr(r, err)
		return writeStep{}, false
	}
	var fields map[string][]byte
	if i < len(args) || o.ttl == 0 { // SET id TTL d alone just moves the deadline
		if fields, err = parsePairs(args[i:]); err != nil {
			writeErr(r, err)
			return writeStep{}, false
		}
	}
	gid, cmd := h.n.setCmd(&fsm.Set{ID: string(args[1]), IfVersion: o.ifVersion, Fields: fields, AbsTTL: o.ttl}, o.reqID)
	return writeStep{gid: gid, cmd: cmd, answer: answerSet}, true
}

func (h *handler) unset(args [][]byte, r *resp.Reply) (writeStep, bool) {
	o, i, err := parseWriteOpts(args, 2, true)
	if err != nil {
		writeErr(r, err)
		return writeStep{}, false
	}
	if i >= len(args) {
		writeErr(r, fmt.Errorf("%w: no fields to unset", ErrBadArg))
		return writeStep{}, false
	}
	names := make([]string, 0, len(args)-i)
	for _, a := range args[i:] {
		names = append(names, string(a))
	}
	gid, cmd := h.n.setCmd(&fsm.Set{ID: string(args[1]), IfVersion: o.ifVersion, Unset: names, AbsTTL: o.ttl}, o.reqID)
	return writeStep{gid: gid, cmd: cmd, answer: answerSet}, true
}

// answerSet answers SESSION.SET and SESSION.UNSET: the new version.
func answerSet(_ context.Context, r *resp.Reply, res fsm.Result, err error) {
	v, err := setVersion(res, err)
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

func (h *handler) touch(ctx context.Context, args [][]byte, r *resp.Reply) {
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

func (h *handler) destroy(ctx context.Context, args [][]byte, r *resp.Reply) {
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

func (h *handler) rotate(args [][]byte, r *resp.Reply) (writeStep, bool) {
	o, i, err := parseWriteOpts(args, 2, false)
	if err == nil && i != len(args) {
		err = fmt.Errorf("%w: syntax: SESSION.ROTATE id [IFVERSION n] [REQID r]", ErrBadArg)
	}
	var gid int
	var cmd fsm.Command
	if err == nil {
		gid, cmd, err = h.n.rotateCmd(string(args[1]), o.ifVersion, o.reqID)
	}
	if err != nil {
		writeErr(r, err)
		return writeStep{}, false
	}
	return writeStep{gid: gid, cmd: cmd, answer: answerRotate}, true
}

// answerRotate answers SESSION.ROTATE: the new id.
func answerRotate(_ context.Context, r *resp.Reply, res fsm.Result, err error) {
	id, err := rotateResult(res, err)
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

// list parses SESSION.LIST inline, against the connection's read
// defaults as of this request, and reads on a goroutine. Paging: list.go.
func (h *handler) list(q request) func(context.Context) {
	args, gids, err := h.takeGroup(q.args)
	if err == nil {
		var la listArgs
		if args, la, err = takeListPaging(args); err == nil {
			return h.listRun(q, args, gids, la)
		}
	}
	writeErr(q.r, err)
	return nil
}

func (h *handler) listRun(q request, args [][]byte, gids []int, la listArgs) func(context.Context) {
	o, _, err := parseReadOpts(args[2:], q.st.opts, false)
	if err != nil {
		writeErr(q.r, err)
		return nil
	}
	q.st.obs.level = o.level
	subject, r := string(args[1]), q.r
	return func(ctx context.Context) {
		if err := h.n.lists.enter(ctx); err != nil {
			writeErr(r, err)
			return
		}
		defer h.n.lists.leave()
		p, err := h.n.listPage(ctx, subject, gids, o, la.after, la.limit)
		if err == nil && !la.paged && p.next != "" {
			err = errListTooLarge
		}
		if err != nil {
			writeErr(r, err)
			return
		}
		if la.paged {
			r.WriteArrayLen(2)
			r.WriteBulkString(encodeCursor(p.next))
		}
		r.WriteArrayLen(len(p.recs))
		for _, rec := range p.recs {
			writeRecord(r, rec)
		}
	}
}

func (h *handler) revoke(ctx context.Context, args [][]byte, r *resp.Reply) {
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
