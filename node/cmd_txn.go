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
// any other, or one whose arguments are wrong, is answered with its error
// and makes EXEC fail with EXECABORT, as Redis does for errors found while
// queueing. EXEC proposes one fsm.Txn to the group that holds every key
// (CROSSSLOT if they are in several), so the transaction applies
// atomically in one raft entry; WATCH records each key's version, read
// linearizably, and the state machine aborts the transaction (EXEC's nil)
// if one changed.
//
// Reads (GET, HGETALL, ...) cannot be mixed with writes: the state
// machine's transaction runs writes only. A transaction of reads only is
// run at EXEC by cmd_txnread.go (rueidis's client-side caching path). Session stores queue writes (scs: SET,
// PEXPIREAT; Spring: HMSET, PEXPIRE, SADD).

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

// txnOp is one queued command: its keys, its fsm command, and how its
// result is answered.
type txnOp struct {
	keys  []string
	cmd   fsm.Command
	reply func(r *resp.Reply, res fsm.Result)
	// read, for a queued read, is its command (cmd_txnread.go); cmd and
	// reply are then unused.
	read *cmdSpec
	args [][]byte
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
	b, ok := txnBuilders[name]
	if !ok && h.queueTxnRead(st, name, args, r) { // cmd_txnread.go
		return
	}
	if !ok {
		st.txn.dirty = true
		writeErr(r, redisErr("'%s' cannot run in a transaction here (writes can, or reads only: see README)", strings.ToLower(name)))
		return
	}
	op, err := b(h, args)
	if err != nil {
		st.txn.dirty = true
		writeErr(r, err)
		return
	}
	st.txn.ops = append(st.txn.ops, op)
	r.WriteSimple("QUEUED")
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
		ws := make([]fsm.Watch, 0, len(args)-1)
		for _, a := range args[1:] {
			rec, err := h.n.lookup(ctx, string(a), o)
			if err != nil {
				writeErr(r, err)
				return
			}
			w := fsm.Watch{Key: string(a)}
			if rec != nil {
				w.Version = rec.Version
			}
			ws = append(ws, w)
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
	r := q.r
	if reads := h.execReads(q, t); reads != nil { // cmd_txnread.go
		return reads
	}
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
		cmds := make([]fsm.Command, len(t.ops))
		for i, op := range t.ops {
			keys = append(keys, op.keys...)
			cmds[i] = op.cmd
		}
		for _, w := range watch {
			keys = append(keys, w.Key)
		}
		gid, err := h.n.sameGroup(keys)
		if err != nil {
			writeErr(r, err)
			return
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
		default:
			r.WriteArrayLen(len(res.Txn.Results))
			for i, sub := range res.Txn.Results {
				if sub.Err != nil {
					writeErr(r, sub.Err)
					continue
				}
				t.ops[i].reply(r, sub)
			}
		}
	}
}
