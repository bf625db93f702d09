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

// The set reads answer from the key's record (nil: no key), read by
// their keyRead alone (readnow.go) or queued in a transaction.

// replySMembers answers SMEMBERS (a set in RESP3, an array in RESP2), in
// byte order.
func replySMembers(r *resp.Reply, _ [][]byte, rec *fsm.Record, _ int64) {
	if rec == nil {
		r.WriteSetLen(0)
		return
	}
	r.WriteSetLen(rec.NumMembers())
	for m := range rec.Members() {
		r.WriteBulkString(m)
	}
}

// replySIsMember answers SISMEMBER.
func replySIsMember(r *resp.Reply, args [][]byte, rec *fsm.Record, _ int64) {
	r.WriteInt(b2i(rec != nil && rec.IsMember(string(args[2]))))
}

// replySCard answers SCARD.
func replySCard(r *resp.Reply, _ [][]byte, rec *fsm.Record, _ int64) {
	n := 0
	if rec != nil {
		n = rec.NumMembers()
	}
	r.WriteInt(int64(n))
}
