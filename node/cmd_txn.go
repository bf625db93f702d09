package node

import (
	"context"
	"strings"
	"sync"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/transport/resp"
)

// Redis transactions (issue 14): MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//
// After MULTI, Dispatch hands every command but these (and QUIT) to
// queueTxn instead of running it: a command that can run in a transaction
// (txnBuilders) is turned into its fsm command now and answered +QUEUED;
// any other is answered with an error and makes EXEC fail with EXECABORT,
// as Redis does for errors found while queueing (an unknown command, a
// wrong arity: Dispatch). A queued command whose arguments are wrong
// (SET k v EX 0, GETEX k FOO) is queued too and answered with its error
// in EXEC's reply, as Redis finds such errors only when it runs it.
// EXEC proposes one fsm.Txn to the group that holds every key
// (CROSSSLOT if they are in several), so the transaction applies
// atomically in one raft entry; WATCH records each key's version, read
// at the connection's level, and the state machine aborts the
// transaction (EXEC's nil) if one changed.
//
// Reads (GET, PTTL, HGETALL, MGET, ...) queue too (txn_read.go): in a
// transaction with writes they run inside its raft entry, in order with
// the writes; a transaction of reads only needs no raft entry.

// txnState is a connection's transaction state (connState.txn).
type txnState struct {
	multi bool    // between MULTI and EXEC/DISCARD
	dirty bool    // a command failed while queued: EXEC answers EXECABORT
	ops   []txnOp // the queued commands

	// The WATCHed keys' versions. WATCH reads them on a goroutine;
	// pending lets EXEC, also on a goroutine, wait for those reads.
	mu      sync.Mutex
	watch   []fsm.Watch
	pending sync.WaitGroup
}

// txnOp is one queued command: its keys, and either a write (its fsm
// command, and how its result is answered) or a read (txn_read.go: the
// keys whose records it needs, in the order its reply takes them, and
// its reply from those records at time now).
type txnOp struct {
	keys  []string
	cmd   fsm.Command
	reply func(r *resp.Reply, res fsm.Result)
	// errReply, if set, words the write's error as the command does
	// alone (RENAME's "no such key").
	errReply func(error) error

	reads     []string
	readReply func(r *resp.Reply, recs []*fsm.Record, now int64)
}

// txnBuilder turns a command's arguments into a txnOp.
type txnBuilder func(h *handler, args [][]byte) (txnOp, error)

// txnBuilders are the commands a transaction may queue.
var txnBuilders = map[string]txnBuilder{
	"SET":       buildSet,
	"SETEX":     buildSetex("EX"),
	"PSETEX":    buildSetex("PX"),
	"SETNX":     buildSetnx,
	"DEL":       buildDel,
	"UNLINK":    buildDel,
	"EXPIRE":    buildExpire(1e9, false),
	"PEXPIRE":   buildExpire(1e6, false),
	"EXPIREAT":  buildExpire(1e9, true),
	"PEXPIREAT": buildExpire(1e6, true),
	"PERSIST":   buildPersist,
	"HSET":      buildHSet(false),
	"HMSET":     buildHSet(true),
	"HDEL":      buildHDel,
	"SADD":      buildSAdd,
	"SREM":      buildSRem,
	"INCR":      buildIncr(1),
	"INCRBY":    buildIncr(1),
	"DECR":      buildIncr(-1),
	"DECRBY":    buildIncr(-1),
	"APPEND":    buildAppend,
	"GETDEL":    buildGetDel,
	"GETEX":     buildGetEx,
	"MSET":      buildMSet,
	"HSETNX":    buildHSetNX,
	"HINCRBY":   buildHIncrBy,
	"RENAME":    buildRename(false),
	"RENAMENX":  buildRename(true),
}

func replyOK(r *resp.Reply, _ fsm.Result)      { r.WriteSimple("OK") }
func replyCount(r *resp.Reply, res fsm.Result) { r.WriteInt(int64(res.Count)) }
func one(key string, c fsm.Command, reply func(*resp.Reply, fsm.Result)) txnOp {
	return txnOp{keys: []string{key}, cmd: c, reply: reply}
}

func buildSet(h *handler, args [][]byte) (txnOp, error) {
	x, err := h.parseSet(args)
	if err != nil {
		return txnOp{}, err
	}
	return one(x.Key, fsm.Command{Type: fsm.CmdSetString, SetString: x}, func(r *resp.Reply, res fsm.Result) {
		switch {
		case x.Get:
			writeValue(r, res.Record)
		case res.Count == 0:
			r.WriteNull()
		default:
			r.WriteSimple("OK")
		}
	}), nil
}

func buildSetex(opt string) txnBuilder {
	return func(h *handler, args [][]byte) (txnOp, error) {
		if len(args) != 4 {
			return txnOp{}, errArity(args)
		}
		e, err := h.parseExpiryOpt(opt, args[2], strings.ToLower(string(args[0])))
		if err != nil {
			return txnOp{}, err
		}
		key := string(args[1])
		return one(key, fsm.Command{Type: fsm.CmdSetString, SetString: &fsm.SetString{Key: key, Value: args[3], Expiry: e}}, replyOK), nil
	}
}

func buildSetnx(_ *handler, args [][]byte) (txnOp, error) {
	if len(args) != 3 {
		return txnOp{}, errArity(args)
	}
	key := string(args[1])
	return one(key, fsm.Command{Type: fsm.CmdSetString, SetString: &fsm.SetString{Key: key, Value: args[2], Cond: fsm.CondNX}}, replyCount), nil
}

func buildDel(_ *handler, args [][]byte) (txnOp, error) {
	if len(args) < 2 {
		return txnOp{}, errArity(args)
	}
	keys, err := keyArgs(args[1:])
	if err != nil {
		return txnOp{}, err
	}
	keys = dedupKeys(keys)
	return txnOp{keys: keys, cmd: fsm.Command{Type: fsm.CmdDestroy, Destroy: &fsm.Destroy{IDs: keys}}, reply: replyCount}, nil
}

func buildExpire(unit int64, abs bool) txnBuilder {
	return func(h *handler, args [][]byte) (txnOp, error) {
		if len(args) < 3 {
			return txnOp{}, errArity(args)
		}
		x, err := h.parseExpire(args, unit, abs)
		if err != nil {
			return txnOp{}, err
		}
		return one(x.Key, fsm.Command{Type: fsm.CmdSetExpiry, SetExpiry: x}, replyCount), nil
	}
}

func buildPersist(_ *handler, args [][]byte) (txnOp, error) {
	if len(args) != 2 {
		return txnOp{}, errArity(args)
	}
	key := string(args[1])
	return one(key, fsm.Command{Type: fsm.CmdSetExpiry, SetExpiry: &fsm.SetExpiry{Key: key}}, replyCount), nil
}

func buildHSet(okReply bool) txnBuilder {
	return func(_ *handler, args [][]byte) (txnOp, error) {
		if len(args) < 4 || len(args)%2 != 0 {
			return txnOp{}, errArity(args)
		}
		key := string(args[1])
		fields := make(map[string][]byte, (len(args)-2)/2)
		for i := 2; i < len(args); i += 2 {
			fields[string(args[i])] = args[i+1]
		}
		reply := replyCount
		if okReply {
			reply = replyOK
		}
		return one(key, fsm.Command{Type: fsm.CmdHSet, HSet: &fsm.HSet{Key: key, Fields: fields}}, reply), nil
	}
}

func buildHDel(_ *handler, args [][]byte) (txnOp, error) {
	if len(args) < 3 {
		return txnOp{}, errArity(args)
	}
	key := string(args[1])
	return one(key, fsm.Command{Type: fsm.CmdHDel, HDel: &fsm.HDel{Key: key, Fields: members(args[2:])}}, replyCount), nil
}

func buildSAdd(_ *handler, args [][]byte) (txnOp, error) {
	if len(args) < 3 {
		return txnOp{}, errArity(args)
	}
	key := string(args[1])
	return one(key, fsm.Command{Type: fsm.CmdSAdd, SAdd: &fsm.SAdd{Key: key, Members: members(args[2:])}}, replyCount), nil
}

func buildSRem(_ *handler, args [][]byte) (txnOp, error) {
	if len(args) < 3 {
		return txnOp{}, errArity(args)
	}
	key := string(args[1])
	return one(key, fsm.Command{Type: fsm.CmdSRem, SRem: &fsm.SRem{Key: key, Members: members(args[2:])}}, replyCount), nil
}

func buildIncr(sign int64) txnBuilder {
	return func(_ *handler, args [][]byte) (txnOp, error) {
		by, err := parseIncr(args, sign)
		if err != nil {
			return txnOp{}, err
		}
		key := string(args[1])
		return one(key, fsm.Command{Type: fsm.CmdIncrBy, IncrBy: &fsm.IncrBy{Key: key, By: by}}, replyCount), nil
	}
}

func buildAppend(_ *handler, args [][]byte) (txnOp, error) {
	if len(args) != 3 {
		return txnOp{}, errArity(args)
	}
	key := string(args[1])
	return one(key, fsm.Command{Type: fsm.CmdAppend, Append: &fsm.Append{Key: key, Value: args[2]}}, replyCount), nil
}

func buildGetDel(_ *handler, args [][]byte) (txnOp, error) {
	key := string(args[1])
	return one(key, fsm.Command{Type: fsm.CmdGetDel, GetDel: &fsm.GetDel{Key: key}}, replyValue), nil
}

func replyValue(r *resp.Reply, res fsm.Result) { writeValue(r, res.Record) }

func buildGetEx(h *handler, args [][]byte) (txnOp, error) {
	x, badExpiry, err := h.parseGetEx(args)
	if err != nil {
		return txnOp{}, err
	}
	return one(x.Key, fsm.Command{Type: fsm.CmdGetEx, GetEx: x}, func(r *resp.Reply, res fsm.Result) {
		replyGetEx(r, res.Record, badExpiry)
	}), nil
}

func buildMSet(_ *handler, args [][]byte) (txnOp, error) {
	x, err := parseMSet(args)
	if err != nil {
		return txnOp{}, err
	}
	return txnOp{keys: x.Keys, cmd: fsm.Command{Type: fsm.CmdMSet, MSet: x}, reply: replyOK}, nil
}

func buildHSetNX(_ *handler, args [][]byte) (txnOp, error) {
	if len(args) != 4 {
		return txnOp{}, errArity(args)
	}
	key := string(args[1])
	return one(key, fsm.Command{Type: fsm.CmdHSet, HSet: &fsm.HSet{
		Key: key, Fields: map[string][]byte{string(args[2]): args[3]}, NX: true,
	}}, replyCount), nil
}

func buildHIncrBy(_ *handler, args [][]byte) (txnOp, error) {
	if len(args) != 4 {
		return txnOp{}, errArity(args)
	}
	by, err := parseInt64(args[3])
	if err != nil {
		return txnOp{}, err
	}
	key := string(args[1])
	op := one(key, fsm.Command{Type: fsm.CmdHIncrBy, HIncrBy: &fsm.HIncrBy{Key: key, Field: string(args[2]), By: by}}, replyCount)
	op.errReply = hincrbyErr
	return op, nil
}

func buildRename(nx bool) txnBuilder {
	return func(_ *handler, args [][]byte) (txnOp, error) {
		if len(args) != 3 {
			return txnOp{}, errArity(args)
		}
		from, to := string(args[1]), string(args[2])
		reply := replyOK
		if nx {
			reply = replyCount
		}
		return txnOp{keys: []string{from, to}, cmd: fsm.Command{Type: fsm.CmdRename, Rename: &fsm.Rename{Key: from, NewKey: to, NX: nx}},
			reply: reply, errReply: renameErr}, nil
	}
}

// errArity is Redis's reply to a queued command's wrong arity.
func errArity(args [][]byte) error {
	return redisErr("wrong number of arguments for '%s' command", strings.ToLower(cutUTF8(string(args[0]), 32)))
}

// isTxnControl reports whether a command runs even between MULTI and
// EXEC rather than being queued.
func isTxnControl(name string) bool {
	switch name {
	case "MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH", "QUIT":
		return true
	}
	return false
}

// queueTxn answers a command sent between MULTI and EXEC (Dispatch).
func (h *handler) queueTxn(st *connState, name string, args [][]byte, r *resp.Reply) {
	var op txnOp
	var err error
	if b, ok := txnBuilders[name]; ok {
		op, err = b(h, args)
	} else if op, ok, err = buildTxnRead(h, name, args); !ok {
		st.txn.dirty = true
		writeErr(r, redisErr("'%s' cannot run in a transaction here (see README)", strings.ToLower(name)))
		return
	}
	if err != nil {
		// Redis finds a bad argument when it runs the command, so the
		// error is the command's reply inside EXEC's: an op with no
		// keys that answers it (a read of nothing, txn_read.go).
		op = txnOp{readReply: func(r *resp.Reply, _ []*fsm.Record, _ int64) { writeErr(r, err) }}
	}
	st.txn.ops = append(st.txn.ops, op)
	r.WriteSimple("QUEUED")
}

// txnFailed marks the connection's transaction, if one is being queued,
// as failed: a command Dispatch refused before queueing (unknown, wrong
// arity) makes EXEC answer EXECABORT, as in Redis.
func txnFailed(c *resp.Conn) {
	if st, _ := c.State.(*connState); st != nil && st.txn != nil && st.txn.multi {
		st.txn.dirty = true
	}
}

// txnOf returns the connection's transaction state, made on first use.
func txnOf(st *connState) *txnState {
	if st.txn == nil {
		st.txn = &txnState{}
	}
	return st.txn
}

func (h *handler) multi(q request) {
	t := txnOf(q.st)
	if t.multi {
		writeErr(q.r, redisErr("MULTI calls can not be nested"))
		return
	}
	t.multi, t.dirty, t.ops = true, false, nil
	q.r.WriteSimple("OK")
}

func (h *handler) discard(q request) {
	if q.st.txn == nil || !q.st.txn.multi {
		writeErr(q.r, redisErr("DISCARD without MULTI"))
		return
	}
	q.st.txn = nil // the watches go too, as in Redis
	q.r.WriteSimple("OK")
}

func (h *handler) unwatch(q request) {
	if t := q.st.txn; t != nil && !t.multi {
		q.st.txn = nil
	}
	q.r.WriteSimple("OK")
}

// watch reads the keys' versions (0: no key) at the connection's read
// level, on a goroutine; EXEC waits for it.
func (h *handler) watch(q request) func(context.Context) {
	t := txnOf(q.st)
	if t.multi {
		writeErr(q.r, redisErr("WATCH inside MULTI is not allowed"))
		return nil
	}
	o, args, r := q.st.opts, q.args, q.r
	t.pending.Add(1)
	return func(ctx context.Context) {
		defer t.pending.Done()
		keys := make([]string, len(args)-1)
		for i, a := range args[1:] {
			keys[i] = string(a)
		}
		a, err := h.n.readKeys(ctx, keys, o, keysRecords)
		if err != nil {
			writeErr(r, err)
			return
		}
		ws := make([]fsm.Watch, len(keys))
		for i, k := range keys {
			ws[i] = fsm.Watch{Key: k}
			if rec := a.recs[i]; rec != nil {
				ws[i].Version = rec.Version
			}
		}
		t.mu.Lock()
		t.watch = append(t.watch, ws...)
		t.mu.Unlock()
		r.WriteSimple("OK")
	}
}

// exec answers EXEC: the queued commands' replies, nil if a WATCHed key
// changed, EXECABORT after a queueing error, CROSSSLOT if the keys are in
// several groups.
func (h *handler) exec(q request) func(context.Context) {
	t := q.st.txn
	if t == nil || !t.multi {
		writeErr(q.r, redisErr("EXEC without MULTI"))
		return nil
	}
	q.st.txn = nil
	if t.dirty {
		q.r.WriteError("EXECABORT", "Transaction discarded because of previous errors.")
		return nil
	}
	r, o := q.r, q.st.opts
	return func(ctx context.Context) {
		t.pending.Wait()
		t.mu.Lock()
		watch := t.watch
		t.mu.Unlock()
		if len(t.ops) == 0 && len(watch) == 0 {
			r.WriteArrayLen(0)
			return
		}
		var keys []string
		writes := false
		for _, op := range t.ops {
			keys = append(keys, op.keys...)
			writes = writes || op.readReply == nil
		}
		for _, w := range watch {
			keys = append(keys, w.Key)
		}
		gid := 0 // no keys: only commands that failed while queued
		if len(keys) > 0 {
			var err error
			if gid, err = h.n.sameGroup(keys); err != nil {
				writeErr(r, err)
				return
			}
		}
		if !writes {
			h.execReads(ctx, gid, o, t.ops, watch, r) // txn_read.go
			return
		}
		// One fsm command per write, one fsm.Read per key a read needs.
		var cmds []fsm.Command
		for _, op := range t.ops {
			if op.readReply == nil {
				cmds = append(cmds, op.cmd)
				continue
			}
			for _, k := range op.reads {
				cmds = append(cmds, fsm.Command{Type: fsm.CmdRead, Read: &fsm.Read{Key: k}})
			}
		}
		res, err := h.n.write(ctx, gid, fsm.Command{Type: fsm.CmdTxn, Txn: &fsm.Txn{Watch: watch, Cmds: cmds}})
		if err == nil {
			err = res.Err
		}
		switch {
		case err != nil:
			writeErr(r, err)
		case res.Txn == nil:
			// A deduplicated replay carries no results; there is no
			// ReqID here, so this cannot happen, but never guess.
			writeErr(r, ErrIndeterminate)
		case res.Txn.Aborted:
			r.WriteArrayLen(-1)
		case len(res.Txn.Results) != len(cmds):
			writeErr(r, ErrIndeterminate) // never: one result per command
		default:
			r.WriteArrayLen(len(t.ops))
			writeTxnReplies(r, t.ops, res.Txn.Results)
		}
	}
}

// writeTxnReplies writes each queued command's reply from its results
// (one per write, one per key read), in order.
func writeTxnReplies(r *resp.Reply, ops []txnOp, results []fsm.Result) {
	for _, op := range ops {
		if op.readReply == nil {
			if sub := results[0]; sub.Err != nil && op.errReply != nil {
				writeErr(r, op.errReply(sub.Err))
			} else if sub.Err != nil {
				writeErr(r, sub.Err)
			} else {
				op.reply(r, sub)
			}
			results = results[1:]
			continue
		}
		mine := results[:len(op.reads)]
		results = results[len(op.reads):]
		recs := make([]*fsm.Record, len(mine))
		var now int64
		var err error
		for i, sub := range mine {
			recs[i], now = sub.Record, int64(sub.Count)
			if sub.Err != nil && err == nil {
				err = sub.Err
			}
		}
		if err != nil {
			writeErr(r, err)
			continue
		}
		op.readReply(r, recs, now)
	}
}
