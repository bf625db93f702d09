package node

import (
	"context"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/transport/resp"
)

// The Redis set commands (issue 14), for the indexes session stores keep
// (Spring Session): SADD, SREM, SMEMBERS, SISMEMBER, SCARD. Shared
// helpers: cmd_keys.go.

// members returns args as set members.
func members(args [][]byte) []string {
	ms := make([]string, len(args))
	for i, a := range args {
		ms[i] = string(a)
	}
	return ms
}

// sadd answers SADD: members added.
func (h *handler) sadd(ctx context.Context, args [][]byte, r *resp.Reply) {
	key := string(args[1])
	res, err := h.n.writeKey(ctx, key, fsm.Command{Type: fsm.CmdSAdd, SAdd: &fsm.SAdd{Key: key, Members: members(args[2:])}})
	replyInt(r, res.Count, err)
}

// srem answers SREM: members removed.
func (h *handler) srem(ctx context.Context, args [][]byte, r *resp.Reply) {
	key := string(args[1])
	res, err := h.n.writeKey(ctx, key, fsm.Command{Type: fsm.CmdSRem, SRem: &fsm.SRem{Key: key, Members: members(args[2:])}})
	replyInt(r, res.Count, err)
}

// readSet reads a set (nil for no key) and writes the error reply if it
// fails; ok is false then.
func (h *handler) readSet(ctx context.Context, o readOpts, key []byte, r *resp.Reply) (rec *fsm.Record, ok bool) {
	rec, err := h.n.lookupKind(ctx, string(key), o, fsm.KindSet)
	if err != nil {
		writeErr(r, err)
		return nil, false
	}
	return rec, true
}

// smembers answers SMEMBERS (a set in RESP3, an array in RESP2), in
// byte order.
func (h *handler) smembers(ctx context.Context, o readOpts, args [][]byte, r *resp.Reply) {
	rec, ok := h.readSet(ctx, o, args[1], r)
	if !ok {
		return
	}
	if rec == nil {
		r.WriteSetLen(0)
		return
	}
	r.WriteSetLen(rec.NumMembers())
	for m := range rec.Members() {
		r.WriteBulkString(m)
	}
}

// sismember answers SISMEMBER.
func (h *handler) sismember(ctx context.Context, o readOpts, args [][]byte, r *resp.Reply) {
	rec, ok := h.readSet(ctx, o, args[1], r)
	if !ok {
		return
	}
	r.WriteInt(b2i(rec != nil && rec.IsMember(string(args[2]))))
}

// scard answers SCARD.
func (h *handler) scard(ctx context.Context, o readOpts, args [][]byte, r *resp.Reply) {
	rec, ok := h.readSet(ctx, o, args[1], r)
	if !ok {
		return
	}
	n := 0
	if rec != nil {
		n = rec.NumMembers()
	}
	r.WriteInt(int64(n))
}
