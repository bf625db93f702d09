package node

import (
	"context"
	"errors"
	"strings"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/transport/resp"
)

// The Redis hash commands (issue 14): HSET, HMSET, HSETNX, HGET, HMGET,
// HGETALL, HDEL, HLEN, HEXISTS, HKEYS, HVALS, HINCRBY, HSTRLEN. Sessions
// are hashes (fsm/kind.go): HGETALL of a SESSION.CREATE id answers its
// fields, and HSET on one keeps its subject and deadlines. Shared helpers:
// cmd_keys.go.

// hsetCmd makes HSET (its reply: fields added) and HMSET (+OK).
func hsetCmd(okReply bool) func(h *handler, args [][]byte, r *resp.Reply) (writeStep, bool) {
	return func(h *handler, args [][]byte, r *resp.Reply) (writeStep, bool) {
		if len(args)%2 != 0 {
			writeErr(r, redisErr("wrong number of arguments for '%s' command", strings.ToLower(string(args[0]))))
			return writeStep{}, false
		}
		key := string(args[1])
		fields := make(map[string][]byte, (len(args)-2)/2)
		for i := 2; i < len(args); i += 2 {
			fields[string(args[i])] = args[i+1]
		}
		cmd := fsm.Command{Type: fsm.CmdHSet, HSet: &fsm.HSet{Key: key, Fields: fields}}
		if okReply {
			return h.keyStep(key, cmd, func(r *resp.Reply, _ fsm.Result) { r.WriteSimple("OK") }), true
		}
		return h.countStep(key, cmd), true
	}
}

// hsetnx answers HSETNX: 1 if the field was set, 0 if it existed.
func (h *handler) hsetnx(args [][]byte, _ *resp.Reply) (writeStep, bool) {
	key := string(args[1])
	return h.countStep(key, fsm.Command{Type: fsm.CmdHSet, HSet: &fsm.HSet{
		Key: key, Fields: map[string][]byte{string(args[2]): args[3]}, NX: true,
	}}), true
}

// hfield returns a field of a hash record that may be nil.
func hfield(rec *fsm.Record, name []byte) ([]byte, bool) {
	if rec == nil {
		return nil, false
	}
	return rec.Field(string(name))
}

// The hash reads answer from the key's record (nil: no key), read by
// their keyRead alone (readnow.go) or queued in a transaction.

// replyHGet answers HGET.
func replyHGet(r *resp.Reply, args [][]byte, rec *fsm.Record, _ int64) {
	if v, found := hfield(rec, args[2]); found {
		r.WriteBulk(v)
		return
	}
	r.WriteNull()
}

// replyHMGet answers HMGET: nil for each missing field.
func replyHMGet(r *resp.Reply, args [][]byte, rec *fsm.Record, _ int64) {
	r.WriteArrayLen(len(args) - 2)
	for _, f := range args[2:] {
		if v, found := hfield(rec, f); found {
			r.WriteBulk(v)
		} else {
			r.WriteNull()
		}
	}
}

// hashPart selects what HGETALL, HKEYS and HVALS answer.
type hashPart uint8

const (
	hashAll hashPart = iota
	hashKeys
	hashVals
)

// replyHashPart answers HGETALL (a map in RESP3, a flat array in RESP2),
// HKEYS and HVALS.
func replyHashPart(part hashPart) recordReply {
	return func(r *resp.Reply, _ [][]byte, rec *fsm.Record, _ int64) {
		n := 0
		if rec != nil {
			n = rec.NumFields()
		}
		if part == hashAll {
			r.WriteMapLen(n)
		} else {
			r.WriteArrayLen(n)
		}
		if rec == nil {
			return
		}
		for name, v := range rec.Fields() {
			if part != hashVals {
				r.WriteBulkString(name)
			}
			if part != hashKeys {
				r.WriteBulk(v)
			}
		}
	}
}

// hdel answers HDEL: fields removed.
func (h *handler) hdel(ctx context.Context, args [][]byte, r *resp.Reply) {
	key := string(args[1])
	names := make([]string, 0, len(args)-2)
	for _, a := range args[2:] {
		names = append(names, string(a))
	}
	res, err := h.n.writeKey(ctx, key, fsm.Command{Type: fsm.CmdHDel, HDel: &fsm.HDel{Key: key, Fields: names}})
	replyInt(r, res.Count, err)
}

// replyHLen answers HLEN.
func replyHLen(r *resp.Reply, _ [][]byte, rec *fsm.Record, _ int64) {
	n := 0
	if rec != nil {
		n = rec.NumFields()
	}
	r.WriteInt(int64(n))
}

// replyHExists answers HEXISTS.
func replyHExists(r *resp.Reply, args [][]byte, rec *fsm.Record, _ int64) {
	_, found := hfield(rec, args[2])
	r.WriteInt(b2i(found))
}

// replyHStrlen answers HSTRLEN.
func replyHStrlen(r *resp.Reply, args [][]byte, rec *fsm.Record, _ int64) {
	v, _ := hfield(rec, args[2])
	r.WriteInt(int64(len(v)))
}

// hincrby answers HINCRBY: the field's new value.
func (h *handler) hincrby(ctx context.Context, args [][]byte, r *resp.Reply) {
	by, err := parseInt64(args[3])
	if err != nil {
		writeErr(r, err)
		return
	}
	key := string(args[1])
	res, err := h.n.writeKey(ctx, key, fsm.Command{Type: fsm.CmdHIncrBy, HIncrBy: &fsm.HIncrBy{Key: key, Field: string(args[2]), By: by}})
	replyInt(r, res.Count, hincrbyErr(err))
}

// hincrbyErr words HINCRBY's errors as Redis does: a field that is not
// an integer differently from a string that is not.
func hincrbyErr(err error) error {
	if errors.Is(err, fsm.ErrNotInteger) {
		return redisErr("hash value is not an integer")
	}
	return err
}

// b2i is Redis's 1 or 0.
func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
