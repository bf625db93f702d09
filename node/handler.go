package node

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/transport/resp"
	"github.com/sessionraft/sessionraft/transport/wire"
)

// handler serves the client port: Dispatch finds each request's command in
// the command table (cmdtable.go) and runs it. Cheap commands answer on the
// connection's reader goroutine, in request order, with no goroutine,
// context or timer of their own; everything that touches raft runs
// asynchronously (a deferred reply completed by a shared round or batch:
// getnow.go, writenow.go; or a goroutine), so a pipeline of writes proceeds
// without waiting on each raft round.
type handler struct {
	n *Node
	// clients maps each connection that has sent a request to its
	// connState, for CLIENT LIST (another connection's Conn.State is its
	// reader's alone).
	clients sync.Map // *resp.Conn -> *connState
}

// connState is the per-connection state kept in resp.Conn.State.
type connState struct {
	opts readOpts // default read consistency and staleness bound
	auth connAuth // who the connection is (auth.go)
	// obs is the metrics observation of the request being dispatched; a
	// command that defers its reply takes it along (reqobs.go).
	obs reqObs

	// Redis connection state (cmd_connection.go, cmd_pubsub.go). info,
	// created, subs and psubs are read by other connections (CLIENT LIST).
	sub         *subscriber // nil until the first (P)SUBSCRIBE
	info        atomic.Pointer[clientInfo]
	created     time.Time
	subs, psubs atomic.Int32
	// txn is the connection's MULTI/WATCH state (cmd_txn.go); nil when
	// there is none.
	txn *txnState
	// track is the connection's client-side caching state
	// (cmd_tracking.go); nil until its first CLIENT TRACKING.
	track *trackClient
	// topoWaiting: a TOPOLOGY WAIT of this connection is pending
	// (topowatch.go); set on the reader goroutine, cleared by whoever
	// answers it.
	topoWaiting atomic.Bool
}

// Dispatch is the one place every request passes through, before and after
// its command runs: checks that apply to all commands (arity, the
// subcommand, then authentication and the ACL check from the command's
// flags, categories and keyPositions: auth.go) and per-command accounting
// (a metrics hook: here for the inline part, in the wrapper below for the
// asynchronous one).
func (h *handler) Dispatch(c *resp.Conn, args [][]byte, r *resp.Reply) func(ctx context.Context) {
	// Clients send names in upper case; the map lookup of the bytes as
	// they are costs no string, ToUpper only for the rest.
	cmd, ok := commands[string(args[0])]
	if !ok {
		cmd, ok = h.lookupCommand(strings.ToUpper(string(args[0])))
	}
	if !ok {
		writeErr(r, fmt.Errorf("%w: unknown command '%s', with args beginning with: %s", ErrUnknownCommand, replyName(args[0]), redisArgs(args[1:])))
		txnFailed(c) // cmd_txn.go
		return nil
	}
	if !cmd.argsOK(len(args)) {
		writeErr(r, fmt.Errorf("%w: wrong number of arguments for '%s' command", ErrArity, cmd.lowerName()))
		txnFailed(c)
		return nil
	}
	if cmd.subs != nil {
		if cmd, ok = cmd.subcommand(h, args, r); !ok {
			return nil // answered: unknown subcommand or its arity
		}
	}
	// A removed node serves nothing; a draining one nothing new
	// (membership.go, membership_drain.go). Its own state stays readable.
	if cmd.flags&(flagLocal|flagAdmin) == 0 && (h.n.ident.removed.Load() || h.n.refusing.Load()) {
		if h.n.ident.removed.Load() {
			writeErr(r, ErrRemoved)
		} else {
			writeErr(r, ErrShutdown)
		}
		return nil
	}
	st, _ := c.State.(*connState)
	if st == nil {
		st = &connState{opts: h.defaultReadOpts(), created: time.Now()}
		c.State = st
		h.clients.Store(c, st)
		c.OnClose(func() { h.connClosed(c, st) })
	}
	if st.sub != nil && !subscribeModeOK(c, st, cmd) {
		writeErr(r, fmt.Errorf("%w: Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context", ErrRedis, fullName(cmd, args)))
		return nil
	}
	st.obs = h.startObs(cmd, st)
	// Authentication and ACLs (auth.go). A forwarded request was checked
	// here on the node that received it: the forwarding RPC is between
	// cluster members and carries no user.
	if err := h.authorize(st, cmd, args); err != nil {
		writeErr(r, err)
		st.obs.finish(r)
		return nil
	}
	if st.txn != nil && st.txn.multi && !isTxnControl(cmd.name) {
		h.queueTxn(st, cmd.name, args, r) // between MULTI and EXEC: cmd_txn.go
		st.obs.finish(r)
		return nil
	}
	if st.track != nil {
		h.trackHook(request{c: c, args: args, r: r, st: st}, cmd) // cmd_tracking.go
	}
	fn := cmd.run(h, request{c: c, args: args, r: r, st: st})
	obs := st.obs // the command may have set its read level
	if fn == nil {
		if !r.Deferred() { // a deferred reply's holder records it
			obs.finish(r)
		}
		return nil
	}
	return func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, h.n.cfg.RequestTimeout)
		defer cancel()
		fn(ctx)
		obs.finish(r)
	}
}

func writeErr(r *resp.Reply, err error) {
	r.WriteError(replyFor(err)) // errTable: the code and the text a client reads
}

// stringValueField names the one field writeRecord shows for a string key.
const stringValueField = "value"

// recordKeys are writeRecord's keys, encoded once: a record is every
// SESSION.GET's reply, and encoding its nine constant keys again for
// each one (a length in decimal, the key, two CRLFs) is work wasted.
var recordKeys = struct {
	id, subject, version, created, lastAccess, idle, absDeadline, expiresAt, fields resp.PreparedBulk
}{
	resp.PrepareBulk("id"), resp.PrepareBulk("subject"), resp.PrepareBulk("version"),
	resp.PrepareBulk("created_ms"), resp.PrepareBulk("last_access_ms"), resp.PrepareBulk("idle_ms"),
	resp.PrepareBulk("absolute_deadline_ms"), resp.PrepareBulk("expires_at_ms"), resp.PrepareBulk("fields"),
}

// writeRecord writes a session as a map (RESP3) or flat key/value array
// (RESP2). Times are Unix milliseconds; 0 means "none".
func writeRecord(r *resp.Reply, rec *fsm.Record) {
	k := &recordKeys
	r.WriteMapLen(9)
	r.WritePrepared(k.id)
	r.WriteBulkString(rec.ID())
	r.WritePrepared(k.subject)
	r.WriteBulkString(rec.Subject())
	r.WritePrepared(k.version)
	r.WriteInt(int64(rec.Version))
	r.WritePrepared(k.created)
	r.WriteInt(rec.Created / 1e6)
	r.WritePrepared(k.lastAccess)
	r.WriteInt(rec.LastAccess / 1e6)
	r.WritePrepared(k.idle)
	r.WriteInt(rec.IdleTimeout / 1e6)
	r.WritePrepared(k.absDeadline)
	r.WriteInt(rec.AbsDeadline / 1e6)
	r.WritePrepared(k.expiresAt)
	r.WriteInt(rec.Deadline() / 1e6)
	r.WritePrepared(k.fields)
	if v, ok := rec.Value(); ok {
		// A string key (what connect-redis, Flask-Session and most Redis
		// session stores write) has no fields: show its value as the one
		// field "value", so that SESSION.GET and the Go client can read
		// such a session instead of seeing it empty.
		r.WriteMapLen(1)
		r.WriteBulkString(stringValueField)
		r.WriteBulk(v)
		return
	}
	r.WriteMapLen(rec.NumFields())
	for name, value := range rec.Fields() { // in name order
		r.WriteBulkString(name)
		r.WriteBulk(value)
	}
}

// writePackedRecord writes a session as one bulk string in the packed form
// (wire.AppendPacked), for SESSION.GET ... PACKED: the same record as
// writeRecord's, string keys' value included.
func writePackedRecord(r *resp.Reply, rec *fsm.Record) {
	h := wire.Record{
		ID: rec.ID(), Subject: rec.Subject(), Version: rec.Version,
		CreatedMS: rec.Created / 1e6, LastAccessMS: rec.LastAccess / 1e6, IdleMS: rec.IdleTimeout / 1e6,
		AbsDeadlineMS: rec.AbsDeadline / 1e6, ExpiresAtMS: rec.Deadline() / 1e6,
	}
	r.WriteBulkAppend(func(b []byte) []byte {
		if v, ok := rec.Value(); ok { // as writeRecord shows a string key
			return wire.AppendPacked(b, &h, 1, func(yield func(string, []byte) bool) { yield(stringValueField, v) })
		}
		return wire.AppendPacked(b, &h, rec.NumFields(), rec.Fields())
	})
}
