package node

import (
	"context"
	"math"
	"strings"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/transport/resp"
)

// The Redis string commands (issue 14): GET, SET, SETEX, PSETEX, SETNX,
// GETDEL, GETEX, MGET, MSET, STRLEN, APPEND, INCR, INCRBY, DECR, DECRBY.
// Shared helpers: cmd_keys.go.

// replyGet answers GET: the string's value, nil for no key, WRONGTYPE for a
// hash (a session) or a set.
func replyGet(r *resp.Reply, _ [][]byte, rec *fsm.Record, _ int64) { writeValue(r, rec) }

// writeValue writes a string record's value, or nil for none.
func writeValue(r *resp.Reply, rec *fsm.Record) {
	if rec == nil {
		r.WriteNull()
		return
	}
	v, _ := rec.Value()
	r.WriteBulk(v)
}

// parseExpiryOpt reads the value of EX, PX, EXAT or PXAT (opt, upper
// case) for command cmd: Redis refuses a value that is not positive.
func (h *handler) parseExpiryOpt(opt string, b []byte, cmd string) (fsm.Expiry, error) {
	unit, mode := int64(1e9), fsm.ExpiryIn
	switch opt {
	case "PX":
		unit = 1e6
	case "EXAT":
		mode = fsm.ExpiryAt
	case "PXAT":
		unit, mode = 1e6, fsm.ExpiryAt
	}
	v, err := parseInt64(b)
	if err != nil {
		return fsm.Expiry{}, err
	}
	if v <= 0 || v > math.MaxInt64/unit || mode == fsm.ExpiryIn && v*unit > math.MaxInt64-h.n.now() {
		return fsm.Expiry{}, redisErr("invalid expire time in '%s' command", cmd)
	}
	return fsm.Expiry{Mode: mode, Value: v * unit}, nil
}

// parseSet reads SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL].
func (h *handler) parseSet(args [][]byte) (*fsm.SetString, error) {
	if len(args) < 3 {
		return nil, errArity(args)
	}
	x := &fsm.SetString{Key: string(args[1]), Value: args[2]}
	hasExp := false
	for i := 3; i < len(args); i++ {
		a := strings.ToUpper(string(args[i]))
		switch {
		case a == "NX" && x.Cond == 0:
			x.Cond = fsm.CondNX
		case a == "XX" && x.Cond == 0:
			x.Cond = fsm.CondXX
		case a == "GET":
			x.Get = true
		case a == "KEEPTTL" && !hasExp:
			x.Expiry, hasExp = fsm.Expiry{Mode: fsm.ExpiryKeep}, true
		case (a == "EX" || a == "PX" || a == "EXAT" || a == "PXAT") && !hasExp && i+1 < len(args):
			e, err := h.parseExpiryOpt(a, args[i+1], "set")
			if err != nil {
				return nil, err
			}
			x.Expiry, hasExp = e, true
			i++
		default:
			return nil, errSyntax
		}
	}
	return x, nil
}

// setStr answers SET.
func (h *handler) setStr(args [][]byte, r *resp.Reply) (writeStep, bool) {
	x, err := h.parseSet(args)
	if err != nil {
		writeErr(r, err)
		return writeStep{}, false
	}
	return h.keyStep(x.Key, fsm.Command{Type: fsm.CmdSetString, SetString: x}, func(r *resp.Reply, res fsm.Result) {
		switch {
		case x.Get:
			writeValue(r, res.Record)
		case res.Count == 0:
			r.WriteNull()
		default:
			r.WriteSimple("OK")
		}
	}), true
}

// keyStep is the fast-path form of writeKey: cmd to key's group, the
// state machine's refusal answered as the error, ok otherwise.
func (h *handler) keyStep(key string, cmd fsm.Command, ok func(r *resp.Reply, res fsm.Result)) writeStep {
	return writeStep{gid: h.n.ring.Group(key), cmd: cmd, answer: func(_ context.Context, r *resp.Reply, res fsm.Result, err error) {
		if err == nil {
			err = res.Err
		}
		if err != nil {
			writeErr(r, err)
			return
		}
		ok(r, res)
	}}
}

// countStep is keyStep for the commands whose reply is the result's
// count as an integer (EXPIRE, SETNX, INCR, HSET, ...).
func (h *handler) countStep(key string, cmd fsm.Command) writeStep {
	return h.keyStep(key, cmd, func(r *resp.Reply, res fsm.Result) { r.WriteInt(int64(res.Count)) })
}

// setexCmd makes SETEX (unit 1e9) and PSETEX (1e6): key, time, value.
func setexCmd(opt string) func(h *handler, args [][]byte, r *resp.Reply) (writeStep, bool) {
	return func(h *handler, args [][]byte, r *resp.Reply) (writeStep, bool) {
		e, err := h.parseExpiryOpt(opt, args[2], strings.ToLower(string(args[0])))
		if err != nil {
			writeErr(r, err)
			return writeStep{}, false
		}
		key := string(args[1])
		return h.keyStep(key, fsm.Command{Type: fsm.CmdSetString, SetString: &fsm.SetString{Key: key, Value: args[3], Expiry: e}}, func(r *resp.Reply, _ fsm.Result) {
			r.WriteSimple("OK")
		}), true
	}
}

// setnx answers SETNX: 1 if the key was set, 0 if it existed.
func (h *handler) setnx(args [][]byte, _ *resp.Reply) (writeStep, bool) {
	key := string(args[1])
	return h.countStep(key, fsm.Command{Type: fsm.CmdSetString, SetString: &fsm.SetString{Key: key, Value: args[2], Cond: fsm.CondNX}}), true
}

// getdel answers GETDEL.
func (h *handler) getdel(ctx context.Context, args [][]byte, r *resp.Reply) {
	key := string(args[1])
	res, err := h.n.writeKey(ctx, key, fsm.Command{Type: fsm.CmdGetDel, GetDel: &fsm.GetDel{Key: key}})
	if err != nil {
		writeErr(r, err)
		return
	}
	writeValue(r, res.Record)
}

// getex answers GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST]. Without an
// option it changes nothing, so it is a write only in name: it still goes
// through the log, which keeps it linearizable like every other write.
func (h *handler) getex(ctx context.Context, args [][]byte, r *resp.Reply) {
	x, badExpiry, err := h.parseGetEx(args)
	if err != nil {
		writeErr(r, err)
		return
	}
	res, err := h.n.writeKey(ctx, x.Key, fsm.Command{Type: fsm.CmdGetEx, GetEx: x})
	if err != nil {
		writeErr(r, err)
		return
	}
	replyGetEx(r, res.Record, badExpiry)
}

// replyGetEx answers GETEX from the key's record: its value, or, when the
// expiry given was invalid, that error for a key that exists (Redis
// checks the value only after finding the key: nil for none).
func replyGetEx(r *resp.Reply, rec *fsm.Record, badExpiry error) {
	if badExpiry != nil && rec != nil {
		writeErr(r, badExpiry)
		return
	}
	writeValue(r, rec)
}

// parseGetEx reads GETEX's arguments (alone or queued in a
// transaction). An invalid expiry value is not err but badExpiry, with
// x keeping the deadline: Redis reports it only for a key that exists
// (replyGetEx), after a missing key's nil and WRONGTYPE.
func (h *handler) parseGetEx(args [][]byte) (x *fsm.GetEx, badExpiry, err error) {
	x = &fsm.GetEx{Key: string(args[1]), Expiry: fsm.Expiry{Mode: fsm.ExpiryKeep}}
	if len(args) > 2 {
		a := strings.ToUpper(string(args[2]))
		switch {
		case a == "PERSIST" && len(args) == 3:
			x.Expiry = fsm.Expiry{Mode: fsm.ExpiryNone}
		case (a == "EX" || a == "PX" || a == "EXAT" || a == "PXAT") && len(args) == 4:
			e, err := h.parseExpiryOpt(a, args[3], "getex")
			if err != nil {
				return x, err, nil
			}
			x.Expiry = e
		default:
			return nil, nil, errSyntax
		}
	}
	return x, nil, nil
}

// mget answers MGET: keys in any group, each group asked once for all of
// its keys (readKeys); nil for a missing key or one that is not a
// string, as Redis answers, in the order asked.
func (h *handler) mget(ctx context.Context, o readOpts, args [][]byte, r *resp.Reply) {
	keys, err := keyArgs(args[1:])
	if err != nil {
		writeErr(r, err)
		return
	}
	a, err := h.n.readKeys(ctx, keys, o, keysRecords)
	if err != nil {
		writeErr(r, err)
		return
	}
	writeMGet(r, a.recs)
}

// writeMGet writes MGET's reply from its keys' records.
func writeMGet(r *resp.Reply, recs []*fsm.Record) {
	r.WriteArrayLen(len(recs))
	for _, rec := range recs {
		if rec == nil || rec.Kind() != fsm.KindString {
			r.WriteNull()
			continue
		}
		writeValue(r, rec)
	}
}

// mset answers MSET: one raft entry, so its keys must share a group
// (CROSSSLOT otherwise, as in Redis Cluster).
func (h *handler) mset(ctx context.Context, args [][]byte, r *resp.Reply) {
	x, err := parseMSet(args)
	if err != nil {
		writeErr(r, err)
		return
	}
	gid, err := h.n.sameGroup(x.Keys)
	if err != nil {
		writeErr(r, err)
		return
	}
	res, err := h.n.write(ctx, gid, fsm.Command{Type: fsm.CmdMSet, MSet: x})
	if err == nil {
		err = res.Err
	}
	if err != nil {
		writeErr(r, err)
		return
	}
	r.WriteSimple("OK")
}

// parseMSet reads MSET's keys and values (alone or queued in a
// transaction).
func parseMSet(args [][]byte) (*fsm.MSet, error) {
	if len(args) < 3 || len(args)%2 != 1 {
		return nil, redisErr("wrong number of arguments for 'mset' command")
	}
	x := &fsm.MSet{}
	for i := 1; i < len(args); i += 2 {
		x.Keys = append(x.Keys, string(args[i]))
		x.Values = append(x.Values, args[i+1])
	}
	if _, err := keyArgs(args[1:]); err != nil {
		return nil, err
	}
	return x, nil
}

// replyStrlen answers STRLEN.
func replyStrlen(r *resp.Reply, _ [][]byte, rec *fsm.Record, _ int64) {
	n := 0
	if rec != nil {
		v, _ := rec.Value()
		n = len(v)
	}
	r.WriteInt(int64(n))
}

// appendStr answers APPEND: the new length.
func (h *handler) appendStr(ctx context.Context, args [][]byte, r *resp.Reply) {
	key := string(args[1])
	res, err := h.n.writeKey(ctx, key, fsm.Command{Type: fsm.CmdAppend, Append: &fsm.Append{Key: key, Value: args[2]}})
	replyInt(r, res.Count, err)
}

// parseIncr reads INCR and DECR (sign 1 or -1, no argument) and INCRBY
// and DECRBY (the amount as args[2]) into the amount to add.
func parseIncr(args [][]byte, sign int64) (int64, error) {
	if len(args) < 2 || len(args) > 3 {
		return 0, errArity(args)
	}
	by := int64(1)
	if len(args) > 2 {
		v, err := parseInt64(args[2])
		if err != nil {
			return 0, err
		}
		if sign < 0 && v == math.MinInt64 {
			return 0, redisErr("decrement would overflow")
		}
		by = v
	}
	return sign * by, nil
}

// incrCmd makes INCR, INCRBY (sign 1), DECR and DECRBY (-1).
func incrCmd(sign int64) func(h *handler, args [][]byte, r *resp.Reply) (writeStep, bool) {
	return func(h *handler, args [][]byte, r *resp.Reply) (writeStep, bool) {
		by, err := parseIncr(args, sign)
		if err != nil {
			writeErr(r, err)
			return writeStep{}, false
		}
		key := string(args[1])
		return h.countStep(key, fsm.Command{Type: fsm.CmdIncrBy, IncrBy: &fsm.IncrBy{Key: key, By: by}}), true
	}
}
