package node

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/transport/resp"
)

// The Redis key commands (issue 14): DEL, UNLINK, EXISTS, TYPE, the
// EXPIRE family, TTL, PTTL, EXPIRETIME, PEXPIRETIME, PERSIST; and the
// helpers every Redis data command shares (cmd_string.go, cmd_hash.go,
// cmd_set.go). A Redis key is a record of the fsm (fsm/kind.go), routed to
// its group like a session id; writes go through the group's batcher
// (n.write), reads follow the connection's consistency (n.get, read.go).

// readCmd adapts a Redis read: the connection's read defaults are taken
// inline (see request.st), the read runs on a goroutine.
func readCmd(fn func(h *handler, ctx context.Context, o readOpts, args [][]byte, r *resp.Reply)) cmdFunc {
	return func(h *handler, q request) func(context.Context) {
		o := q.st.opts
		q.st.obs.level = o.level
		return func(ctx context.Context) { fn(h, ctx, o, q.args, q.r) }
	}
}

// lookup reads key at o: nil, without an error, when it does not exist.
func (n *Node) lookup(ctx context.Context, key string, o readOpts) (*fsm.Record, error) {
	rec, err := n.get(ctx, key, o)
	if errors.Is(err, fsm.ErrNotFound) {
		return nil, nil
	}
	return rec, err
}

// anyKind is ofKind's "every kind will do" (TYPE, the TTL family).
const anyKind fsm.Kind = 0

// ofKind returns rec if it is of kind k (or k is anyKind, or there is no
// record), fsm.ErrWrongType otherwise.
func ofKind(rec *fsm.Record, k fsm.Kind) (*fsm.Record, error) {
	if rec != nil && k != anyKind && rec.Kind() != k {
		return nil, fmt.Errorf("%w: a %s, not a %s", fsm.ErrWrongType, rec.Kind(), k)
	}
	return rec, nil
}

// recordReply writes a one-key read's reply from the key's record (nil:
// no key; of the command's kind, ofKind has checked) at time now (Unix
// ns, what a TTL is measured from). args are the command's. A read
// answers through one whether it runs alone (keyRead, readnow.go) or in a
// transaction (txn_read.go).
type recordReply func(r *resp.Reply, args [][]byte, rec *fsm.Record, now int64)

// writeKey proposes cmd to key's group and returns its result, the state
// machine's refusal (res.Err) as the error.
func (n *Node) writeKey(ctx context.Context, key string, cmd fsm.Command) (fsm.Result, error) {
	res, err := n.write(ctx, n.ring.Group(key), cmd)
	if err == nil {
		err = res.Err
	}
	return res, err
}

// sameGroup returns the group of every key, or ErrCrossSlot when they are
// in more than one (Redis Cluster's rule for multi-key writes).
func (n *Node) sameGroup(keys []string) (int, error) {
	gid := n.ring.Group(keys[0])
	for _, k := range keys[1:] {
		if n.ring.Group(k) != gid {
			return 0, ErrCrossSlot
		}
	}
	return gid, nil
}

// redisErr is an ERR reply with Redis's exact text.
func redisErr(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrRedis}, a...)...)
}

// errSyntax is Redis's reply to an option it does not know.
var errSyntax = redisErr("syntax error")

// parseInt64 reads a Redis integer argument.
func parseInt64(b []byte) (int64, error) {
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: not a 64-bit integer", fsm.ErrNotInteger)
	}
	return v, nil
}

// toNanos converts a Redis time argument in unit (1e9 for seconds, 1e6
// for milliseconds) to nanoseconds; out of range is Redis's "invalid
// expire time in 'cmd' command".
func toNanos(b []byte, unit int64, cmd string) (int64, error) {
	v, err := parseInt64(b)
	if err != nil {
		return 0, err
	}
	if v > math.MaxInt64/unit || v < math.MinInt64/unit {
		return 0, redisErr("invalid expire time in '%s' command", cmd)
	}
	return v * unit, nil
}

// reply writes a command's integer result, or its error.
func replyInt(r *resp.Reply, n int, err error) {
	if err != nil {
		writeErr(r, err)
		return
	}
	r.WriteInt(int64(n))
}

// keyArgs returns args as keys, bounded like SESSION.DESTROY's ids.
func keyArgs(args [][]byte) ([]string, error) { return idArgs(args) }

// del answers DEL and UNLINK: keys in many groups are removed group by
// group, concurrently, and the counts summed.
func (h *handler) del(ctx context.Context, args [][]byte, r *resp.Reply) {
	keys, err := keyArgs(args[1:])
	if err != nil {
		writeErr(r, err)
		return
	}
	c, err := h.n.destroy(ctx, dedupKeys(keys))
	replyInt(r, c, err)
}

// dedupKeys drops repeated keys: Redis counts a key named twice once.
func dedupKeys(keys []string) []string {
	seen := make(map[string]bool, len(keys))
	out := keys[:0:0]
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// exists answers EXISTS: how many of the keys exist, a key named twice
// counted twice (Redis's rule). Each group is asked once, for whether
// its keys exist (readKeys).
func (h *handler) exists(ctx context.Context, o readOpts, args [][]byte, r *resp.Reply) {
	keys, err := keyArgs(args[1:])
	if err != nil {
		writeErr(r, err)
		return
	}
	a, err := h.n.readKeys(ctx, keys, o, keysPresence)
	if err != nil {
		writeErr(r, err)
		return
	}
	r.WriteInt(countFound(a.found))
}

// countFound is EXISTS's reply: how many keys were found.
func countFound(found []bool) int64 {
	var n int64
	for _, f := range found {
		if f {
			n++
		}
	}
	return n
}

// replyType answers TYPE.
func replyType(r *resp.Reply, _ [][]byte, rec *fsm.Record, _ int64) {
	if rec == nil {
		r.WriteSimple("none")
		return
	}
	r.WriteSimple(rec.Kind().String())
}

// parseExpire reads EXPIRE, PEXPIRE (relative) and EXPIREAT, PEXPIREAT
// (absolute, abs) in a time unit (1e9: seconds, 1e6: milliseconds).
func (h *handler) parseExpire(args [][]byte, unit int64, abs bool) (*fsm.SetExpiry, error) {
	name := strings.ToLower(string(args[0]))
	v, err := toNanos(args[2], unit, name)
	if err != nil {
		return nil, err
	}
	cond, err := parseExpireCond(args[3:])
	if err != nil {
		return nil, err
	}
	mode := fsm.ExpiryAt
	if !abs {
		mode = fsm.ExpiryIn
		if v > 0 && v > math.MaxInt64-h.n.now() {
			return nil, redisErr("invalid expire time in '%s' command", name)
		}
	}
	return &fsm.SetExpiry{Key: string(args[1]), Expiry: fsm.Expiry{Mode: mode, Value: v}, Cond: cond}, nil
}

// expireCmd makes EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT (see
// parseExpire).
func expireCmd(unit int64, abs bool) func(h *handler, args [][]byte, r *resp.Reply) (writeStep, bool) {
	return func(h *handler, args [][]byte, r *resp.Reply) (writeStep, bool) {
		x, err := h.parseExpire(args, unit, abs)
		if err != nil {
			writeErr(r, err)
			return writeStep{}, false
		}
		return h.countStep(x.Key, fsm.Command{Type: fsm.CmdSetExpiry, SetExpiry: x}), true
	}
}

// parseExpireCond reads EXPIRE's NX|XX|GT|LT, with Redis's texts.
func parseExpireCond(args [][]byte) (fsm.Cond, error) {
	var c fsm.Cond
	for _, a := range args {
		switch strings.ToUpper(string(a)) {
		case "NX":
			c |= fsm.CondNX
		case "XX":
			c |= fsm.CondXX
		case "GT":
			c |= fsm.CondGT
		case "LT":
			c |= fsm.CondLT
		default:
			return 0, redisErr("Unsupported option %s", cutUTF8(string(a), 32))
		}
	}
	switch {
	case c&fsm.CondNX != 0 && c != fsm.CondNX:
		return 0, redisErr("NX and XX, GT or LT options at the same time are not compatible")
	case c&fsm.CondGT != 0 && c&fsm.CondLT != 0:
		return 0, redisErr("GT and LT options at the same time are not compatible")
	}
	return c, nil
}

// persist answers PERSIST.
func (h *handler) persist(args [][]byte, _ *resp.Reply) (writeStep, bool) {
	key := string(args[1])
	return h.countStep(key, fsm.Command{Type: fsm.CmdSetExpiry, SetExpiry: &fsm.SetExpiry{Key: key}}), true
}

// replyTTL answers the TTL family from the key's record at now: -2 for
// no key, -1 for a key without a deadline, as Redis answers.
func replyTTL(unit int64, abs bool) recordReply {
	return func(r *resp.Reply, _ [][]byte, rec *fsm.Record, now int64) {
		if rec == nil {
			r.WriteInt(-2)
			return
		}
		d := rec.Deadline()
		if d == 0 {
			r.WriteInt(-1)
			return
		}
		ms := d / 1e6
		if !abs {
			ms = max(0, (d-now)/1e6)
		}
		if unit == 1e9 {
			// Redis rounds to the nearest second.
			r.WriteInt((ms + 500) / 1000)
			return
		}
		r.WriteInt(ms)
	}
}
