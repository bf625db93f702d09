package node

import (
	"context"
	"slices"

	"github.com/sessionraft/sessionraft/transport/resp"
)

// Reads inside MULTI/EXEC, the minimum client-side caching needs:
// rueidis wraps a cached read in CLIENT CACHING YES, MULTI, PTTL key, the
// read, EXEC, and caches the read's value for the PTTL. A transaction
// of such reads only is answered by running them in order, each at the
// connection's read level, when EXEC arrives: each sees every write
// acknowledged before EXEC, but they are not one snapshot (a write may
// land between two of them; its invalidation then follows EXEC's reply,
// since the keys were registered when EXEC was dispatched). A
// transaction mixing reads and writes is refused, since the state
// machine's transaction applies writes only (cmd_txn.go).

// txnReads are the reads a transaction may queue: those that answer from
// one record and never defer their reply (readCmd handlers).
var txnReads = map[string]bool{
	"GET": true, "MGET": true, "STRLEN": true, "EXISTS": true, "TYPE": true,
	"TTL": true, "PTTL": true, "EXPIRETIME": true, "PEXPIRETIME": true,
	"HGET": true, "HMGET": true, "HGETALL": true, "HKEYS": true, "HVALS": true,
	"HLEN": true, "HEXISTS": true, "HSTRLEN": true,
	"SMEMBERS": true, "SISMEMBER": true, "SCARD": true,
}

// queueTxnRead queues a read between MULTI and EXEC and reports whether
// name is one.
func (h *handler) queueTxnRead(st *connState, name string, args [][]byte, r *resp.Reply) bool {
	cmd := commands[name]
	if !txnReads[name] || cmd == nil {
		return false
	}
	args = cloneArgs(args) // kept past this request
	var keys []string
	for _, p := range cmd.keyPositions(args) {
		keys = append(keys, string(args[p]))
	}
	st.txn.ops = append(st.txn.ops, txnOp{keys: keys, read: cmd, args: args})
	r.WriteSimple("QUEUED")
	return true
}

func cloneArgs(args [][]byte) [][]byte {
	out := make([][]byte, len(args))
	for i, a := range args {
		out[i] = slices.Clone(a)
	}
	return out
}

// execReads answers EXEC for a transaction holding reads; nil if it holds
// none (a write transaction: cmd_txn.go).
func (h *handler) execReads(q request, t *txnState) func(context.Context) {
	reads := 0
	for _, op := range t.ops {
		if op.read != nil {
			reads++
		}
	}
	if reads == 0 {
		return nil
	}
	r := q.r
	if reads != len(t.ops) {
		return func(context.Context) {
			writeErr(r, redisErr("a transaction on this server holds reads or writes, not both"))
		}
	}
	// The inline parts now, on the reader goroutine (they take the
	// connection's read level); the reads themselves in order below.
	fns := make([]func(context.Context), len(t.ops))
	for i, op := range t.ops {
		fns[i] = op.read.run(h, request{c: q.c, args: op.args, r: r, st: q.st}) // readCmd: never nil
	}
	return func(ctx context.Context) {
		t.pending.Wait()
		t.mu.Lock()
		watched := len(t.watch) > 0
		t.mu.Unlock()
		if watched {
			writeErr(r, redisErr("WATCH with a transaction of reads is not supported on this server"))
			return
		}
		r.WriteArrayLen(len(fns))
		for _, fn := range fns {
			fn(ctx)
		}
	}
}
