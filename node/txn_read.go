package node

import (
	"context"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/transport/resp"
)

// Reads queued in a transaction (MULTI ... GET ... EXEC). Each is a
// txnOp with the keys it reads and a reply made from their records; the
// reply functions are the ones the commands use alone (their keyRead,
// readnow.go), so a read answers the same inside a transaction and out.
//
// EXEC runs them one of two ways (docs/ARCHITECTURE.md, "Transactions"):
//   - with a write among the queued commands, every read becomes an
//     fsm.Read in the transaction's own raft entry, in its place among
//     the writes: it sees exactly what the commands before it left, at
//     the entry's log time (so PTTL after SET ... PX 1000 is 1000, as in
//     Redis);
//   - with only reads (and WATCHes), no raft entry: the group's keys are
//     read at one state by the connection's read rules (readGroupKeys,
//     fsm.GetMany), which for the default linearizable level is one
//     ReadIndex read of all of them.

// txnReadBuilders are the reads of many keys a transaction may queue.
var txnReadBuilders = map[string]txnBuilder{
	"MGET":   buildMultiRead(func(r *resp.Reply, recs []*fsm.Record, _ int64) { writeMGet(r, recs) }),
	"EXISTS": buildMultiRead(replyExists),
}

// buildTxnRead queues a read of one key (a command with a keyRead) or one
// of txnReadBuilders; ok is false for any other command.
func buildTxnRead(h *handler, name string, args [][]byte) (op txnOp, ok bool, err error) {
	if b, found := txnReadBuilders[name]; found {
		op, err = b(h, args)
		return op, true, err
	}
	spec := commands[name]
	if spec == nil || spec.read == nil {
		return txnOp{}, false, nil
	}
	rd := *spec.read
	key := string(args[1])
	if _, err := keyArgs(args[1:2]); err != nil {
		return txnOp{}, true, err
	}
	return txnOp{keys: []string{key}, reads: []string{key}, readReply: func(r *resp.Reply, recs []*fsm.Record, now int64) {
		rec, err := ofKind(recs[0], rd.kind)
		if err != nil {
			writeErr(r, err)
			return
		}
		rd.reply(r, args, rec, now)
	}}, true, nil
}

// buildMultiRead queues a read of every key in args[1:] (a key named
// twice is read twice, as the reply wants it).
func buildMultiRead(reply func(r *resp.Reply, recs []*fsm.Record, now int64)) txnBuilder {
	return func(_ *handler, args [][]byte) (txnOp, error) {
		keys, err := keyArgs(args[1:])
		if err != nil {
			return txnOp{}, err
		}
		return txnOp{keys: keys, reads: keys, readReply: reply}, nil
	}
}

func replyExists(r *resp.Reply, recs []*fsm.Record, _ int64) {
	found := make([]bool, len(recs))
	for i, rec := range recs {
		found[i] = rec != nil
	}
	r.WriteInt(countFound(found))
}

// execReads runs a transaction of reads only (ops may be empty: WATCH,
// MULTI, EXEC) in group gid at o, without a raft entry: the watched and
// read keys are read at one state of the group (readGroupKeys, atomic),
// EXEC answers nil if a watched key's version changed, and otherwise each
// read's reply from that state. Linearizable at the default level: the
// state is one at or after the ReadIndex taken once EXEC arrived, so the
// whole transaction takes effect at one instant within EXEC's call, as a
// transaction through the log would; at the leader and stale levels it
// is as fresh as those levels' other reads.
func (h *handler) execReads(ctx context.Context, gid int, o readOpts, ops []txnOp, watch []fsm.Watch, r *resp.Reply) {
	var keys []string
	for _, w := range watch {
		keys = append(keys, w.Key)
	}
	for _, op := range ops {
		keys = append(keys, op.reads...)
	}
	var recs map[string]*fsm.Record
	if len(keys) > 0 {
		keys = dedupKeys(keys)
		a, err := h.n.readGroupKeys(ctx, gid, keys, o, keysRecords, true)
		if err != nil {
			writeErr(r, err)
			return
		}
		recs = make(map[string]*fsm.Record, len(keys))
		for i, k := range keys {
			recs[k] = a.recs[i]
		}
	}
	for _, w := range watch {
		var v uint64
		if rec := recs[w.Key]; rec != nil {
			v = rec.Version
		}
		if v != w.Version {
			r.WriteArrayLen(-1)
			return
		}
	}
	now := h.n.now()
	r.WriteArrayLen(len(ops))
	for _, op := range ops {
		in := make([]*fsm.Record, len(op.reads))
		for i, k := range op.reads {
			in[i] = recs[k]
		}
		op.readReply(r, in, now)
	}
}
