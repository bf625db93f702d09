package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessionraft/sessionraft/transport/wire"
)

// kind is a request's retry policy.
type kind uint8

const (
	// read has no effect: resend anywhere, any number of times.
	read kind = iota
	// write carries a REQID: after an unknown outcome it is resent with the
	// same REQID, which the group's state machine recognises, so it applies
	// at most once.
	write
	// idempotent writes (destroy, touch, revoke) have no REQID: applying
	// them twice changes nothing, so they are resent freely.
	idempotent
)

// request is one logical command; call sends it, as often as needed, to
// the node its routing picks.
type request struct {
	op    string      // for errors and the served hook: "get", "set", ...
	kind  kind        // retry policy
	level Consistency // reads: where to send
	key   string      // session id to route by; "" to use group
	group int         // the target group when key is ""
	args  []string    // command name and arguments
	// argv[:argc] holds the command instead of args when args is nil: a
	// Get's arguments (at most eight) live in the request, which stays on
	// the caller's stack, instead of in a slice of their own on the heap.
	argv [8]string
	argc uint8
	// packedAt, when positive, is the index of the PACKED argument,
	// which attempt leaves out for a node that refused it (packed.go).
	packedAt int
	// parse handles a successful reply. Its error is final: a reply the
	// client cannot read is not made readable by resending.
	parse func(m *rueidis.RedisMessage) error
	// record, instead of parse, says the reply is a session record, which
	// attempt decodes into sess. Reads are the hot path: this saves them
	// the closure and the variables it would capture on the heap.
	record bool
	sess   *Session

	// sawUnknown is set when some attempt's outcome was unknown and the
	// request was resent (a write's final answer may then be a replay).
	sawUnknown bool
}

// outcome classifies one attempt's error.
type outcome uint8

const (
	final      outcome = iota // an answer (error reply or unreadable reply): return it
	notApplied                // certainly not applied (refused, not sent): retry
	unknown                   // may have been applied (lost mid-flight): retry
	staleReply                // a replica refused a stale read: ask another
	closed                    // the Client was closed
)

// parseError marks a reply the client could not decode.
type parseError struct{ err error }

func (e *parseError) Error() string { return e.err.Error() }
func (e *parseError) Unwrap() error { return e.err }

// attemptTimeout bounds one attempt, so a request stuck on a connection
// that went silent (no RST, e.g. a partition) is resent elsewhere well
// before the call's deadline.
func (c *Client) attemptTimeout() time.Duration {
	return max(c.cfg.RequestTimeout/2, time.Second)
}

// call runs rq until it gets an answer or ctx (or RequestTimeout) ends.
// A write whose outcome stayed unknown ends with ErrIndeterminate; any
// other failure to get an answer with ErrUnavailable.
func (c *Client) call(ctx context.Context, rq *request) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if rq.kind != read {
		defer c.noteWrite(rq)
	}
	// Without a deadline from ctx the call gets its own, RequestTimeout
	// from now. It is kept as a time, not as a context with a timer: each
	// attempt needs a context with a deadline anyway (see attempt), which
	// carries the call's too when that comes first.
	now := time.Now()
	dl, ctxDL := ctx.Deadline()
	if !ctxDL {
		dl = now.Add(c.cfg.RequestTimeout)
	}
	done := func() error { // why the call must stop at now, or nil
		if err := ctx.Err(); err != nil {
			return err
		}
		if !now.Before(dl) {
			return context.DeadlineExceeded // what ctx.Err() says once its timer has run
		}
		return nil
	}
	var (
		// Made on the first failure: most calls never need them.
		avoid   map[string]bool // nodes that failed this call, tried last
		refused map[string]bool // replicas that refused a stale read
		lastErr error
	)
	for attempt := 0; done() == nil; attempt++ {
		tp := c.topo.Load()
		addr := c.pick(tp, rq, avoid)
		if addr == "" {
			// Every candidate failed once: forget that and start over.
			lastErr = errors.New("no reachable node")
			clear(avoid)
			c.requestRefresh()
		} else {
			err := c.attempt(ctx, now, dl, ctxDL, addr, rq)
			if err == nil {
				if rq.level == Stale {
					c.lagging.clear(addr)
				}
				if h := c.cfg.hooks; h != nil && h.served != nil {
					h.served(rq.op, addr)
				}
				return nil
			}
			switch c.classify(err) {
			case final:
				if rq.sawUnknown && refusedByNodeState(err) {
					// An earlier attempt may have been applied: this
					// node's refusal says nothing about that one.
					return fmt.Errorf("%w: %s: an earlier attempt's outcome is unknown and a later one was refused: %w",
						ErrIndeterminate, rq.op, replyError(addr, err))
				}
				return replyError(addr, err)
			case closed:
				return ErrClosed
			case unknown:
				if rq.kind != read {
					rq.sawUnknown = true
					c.unknownRetries.Add(1)
				}
				c.requestRefresh()
			case notApplied:
				c.requestRefresh()
			case staleReply:
				if refused == nil {
					refused = map[string]bool{}
				}
				refused[addr] = true
				c.lagging.note(addr)
				if h := c.cfg.hooks; h != nil && h.refused != nil {
					h.refused(rq.op, addr)
				}
				if n := len(c.replicasOf(tp, rq)); len(refused) >= n {
					return replyError(addr, err) // every replica lags: ErrStale
				}
			}
			lastErr = fmt.Errorf("%s: %w", addr, err)
			if avoid == nil {
				avoid = map[string]bool{}
			}
			avoid[addr] = true
			if refused[addr] {
				// A lagging replica is no sign of overload: ask the
				// next one at once.
				now = time.Now()
				continue
			}
		}
		err := c.sleep(ctx, dl, attempt)
		now = time.Now()
		if err != nil {
			break
		}
	}
	if c.closed.Load() {
		return ErrClosed
	}
	cause := done()
	switch {
	case rq.sawUnknown:
		return fmt.Errorf("%w: %s: applied at most once, but whether it was is unknown: last error: %v: %w",
			ErrIndeterminate, rq.op, lastErr, cause)
	case lastErr != nil:
		return fmt.Errorf("%w: %s: %v: %w", ErrUnavailable, rq.op, lastErr, cause)
	default:
		return cause // ended before the first attempt
	}
}

// attempt sends rq to addr once and parses the reply. It ends by the
// call's deadline dl (ctxDL: which is ctx's own) or attemptTimeout from
// now, whichever comes first; an attempt that shares a deadline with
// others (attemptCtx) may end up to deadlineGrain sooner.
func (c *Client) attempt(ctx context.Context, now, dl time.Time, ctxDL bool, addr string, rq *request) error {
	nc, err := c.conn(addr)
	if err != nil {
		return err
	}
	// A ctx that ends first bounds the attempt by itself: no context and
	// no timer to make. Otherwise the attempt needs its own deadline (and
	// rueidis needs one in a context).
	if adl := now.Add(c.attemptTimeout()); !ctxDL || adl.Before(dl) {
		var cancel context.CancelFunc
		if adl.Before(dl) {
			dl = adl
		}
		ctx, cancel = c.attemptCtx(ctx, now, dl)
		if cancel != nil {
			defer cancel()
		}
	}
	// Commands are built per attempt: rueidis recycles a command once
	// it has been answered.
	args := rq.args
	if args == nil {
		args = rq.argv[:rq.argc]
	}
	packed, ps := rq.packedAt > 0, c.packedFor(rq)
	if packed && ps.refused(addr) {
		args, packed = withoutArg(args, rq.packedAt), false
	}
	res := nc.Do(ctx, nc.B().Arbitrary(args[0]).Args(args[1:]...).Build())
	m, err := res.ToMessage()
	if err != nil && packed && (ps.refuses(addr, err) || rq.op == "create" && isCode(err, wire.CodeNoPerm)) {
		// A server older than PACKED, which refused the command before
		// doing anything: once more without it, and without it to this
		// node from now on (for a while). An older server's ACL check
		// also reads a create's keys wrongly with PACKED first (as an
		// option name): a NOPERM may be that, and a resend without it
		// is checked correctly (a real NOPERM comes back the same; the
		// node is not marked).
		args = withoutArg(args, rq.packedAt)
		res = nc.Do(ctx, nc.B().Arbitrary(args[0]).Args(args[1:]...).Build())
		m, err = res.ToMessage()
	}
	if err != nil {
		return err
	}
	if rq.record {
		if m.IsString() { // the packed form
			s, _ := m.ToString()
			rq.sess, err = parsePackedSession(s)
		} else {
			rq.sess, err = parseSession(&m)
		}
		if err != nil {
			return &parseError{err}
		}
		return nil
	}
	if err := rq.parse(ptrTo(m)); err != nil {
		return &parseError{err}
	}
	return nil
}

// ptrTo returns a pointer to a copy of m. Passing &m to parse, a call the
// compiler cannot see into, would put m on the heap for every reply,
// including the records that never go to parse.
func ptrTo(m rueidis.RedisMessage) *rueidis.RedisMessage { return &m }

// redisCode is an error reply's stable code and message; ok is false for
// any other error (the network, a context, a reply that did not parse).
func redisCode(err error) (code, msg string, ok bool) {
	re, ok := rueidis.IsRedisErr(err)
	if !ok {
		return "", "", false
	}
	code, msg = wire.SplitError(re.Error())
	return code, msg, true
}

// isCode reports whether err is an error reply with that code.
func isCode(err error, code string) bool {
	c, _, ok := redisCode(err)
	return ok && c == code
}

// classify decides what an attempt's error means for retrying.
func (c *Client) classify(err error) outcome {
	if code, _, ok := redisCode(err); ok {
		switch code {
		case wire.CodeNotLeader, wire.CodeUnavailable, wire.CodeBusy:
			return notApplied // the server promises nothing was applied
		case wire.CodeIndeterminate:
			return unknown
		case wire.CodeStale:
			return staleReply
		default:
			return final
		}
	}
	var pe *parseError
	if errors.As(err, &pe) {
		return final
	}
	if c.closed.Load() || errors.Is(err, ErrClosed) {
		return closed
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return notApplied // never connected, so never sent
	}
	if errors.Is(err, rueidis.ErrClosing) {
		// The node's client was closed (it left the topology) or could
		// not connect: rueidis refused the command before sending it.
		return notApplied
	}
	// EOF, reset, the attempt's timeout...: the command may have reached
	// the server and been applied.
	return unknown
}

// refusedByNodeState reports whether err is a server's refusal that
// depends on the state of the node that gave it (its memory quota, its
// free disk), not on the request: it proves only that this attempt was
// not applied. A resend carries the same request id, but such a refusal
// comes before the server looks the id up, so after an attempt whose
// outcome was unknown it cannot stand for the whole call.
func refusedByNodeState(err error) bool {
	re, ok := rueidis.IsRedisErr(err)
	if !ok {
		return false
	}
	return nodeStateRefusal(re.Error())
}

// nodeStateRefusal: refusedByNodeState on an error reply's text.
func nodeStateRefusal(reply string) bool {
	code, _ := wire.SplitError(reply)
	return code == wire.CodeDiskFull || code == wire.CodeOOM
}

// replyError turns a final attempt error into the caller's error.
func replyError(addr string, err error) error {
	if code, msg, ok := redisCode(err); ok {
		return &ServerError{Code: code, Message: msg, Addr: addr}
	}
	return fmt.Errorf("sessionraft: %s: %w", addr, err)
}

// sleep backs off before the next attempt: exponential from 5ms to 250ms,
// with jitter so that many callers failing together spread out. It ends
// early at the call's deadline dl (which ctx need not carry), for the
// caller's loop to see it passed.
func (c *Client) sleep(ctx context.Context, dl time.Time, attempt int) error {
	d := min(5*time.Millisecond<<min(attempt, 10), 250*time.Millisecond)
	d = d/2 + rand.N(d/2+1)
	d = min(d, time.Until(dl))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-c.ctx.Done():
		return ErrClosed
	case <-t.C:
		return nil
	}
}

// groupOf returns rq's group in tp, or -1 if tp has no such group.
func groupOf(tp *topology, rq *request) int {
	g := rq.group
	if rq.key != "" {
		g = tp.group(rq.key)
	}
	if g < 0 || g >= len(tp.groups) {
		return -1
	}
	return g
}

func (c *Client) replicasOf(tp *topology, rq *request) []string {
	if g := groupOf(tp, rq); g >= 0 {
		return tp.groups[g].replicas
	}
	return tp.nodes
}

// pick chooses the node for the next attempt. Writes and leader reads go
// to the group's leader, which serves them without a hop. Stale reads go
// to the client's home replica of the group (home.go), or round-robin
// over the group's alive replicas with SpreadStaleReads; linearizable
// reads go to the home replica too unless linearizableHome says not. When
// the leader is unknown or just failed, any other member takes the
// request: every node forwards to the leader, which it learns from raft
// as soon as there is one, before the client's next topology refresh
// shows it.
func (c *Client) pick(tp *topology, rq *request, avoid map[string]bool) string {
	if tp.staleHome != "" && rq.kind == read && rq.level == Stale && rq.key != "" &&
		!c.cfg.SpreadStaleReads && avoid == nil && c.lagging.n.Load() == 0 {
		// What homeReplica would return for the key's group, as for any
		// other group's: skip the ring lookup and the scoring.
		return tp.staleHome
	}
	g := groupOf(tp, rq)
	if g < 0 {
		return c.roundRobin(tp.nodes, avoid)
	}
	route := tp.groups[g]
	if rq.kind == read && (rq.level == Stale || rq.level == Linearizable && c.linearizableHome(g)) {
		a := ""
		if c.cfg.SpreadStaleReads {
			a = c.roundRobin(route.replicas, avoid)
		} else {
			a = homeReplica(c.home, route.replicas, avoid, &c.lagging)
		}
		if a != "" {
			return a
		}
	} else if route.leader != "" && !avoid[route.leader] {
		return route.leader
	}
	if a := c.roundRobin(route.replicas, avoid); a != "" {
		return a
	}
	return c.roundRobin(tp.nodes, avoid)
}

// leaderAfterWrite is how long after a write to a group its linearizable
// reads go to the leader rather than the home replica: longer than a
// replica takes to learn of a commit (about 2 x CommitTimeout, 5 ms by
// default, in an idle group), so a read right after a write is not held
// there waiting for it.
const leaderAfterWrite = 50 * time.Millisecond

// maxGroups is the most groups a cluster has (the server's limit).
const maxGroups = 1024

// linearizableHome reports whether a linearizable read of group g goes to
// the home replica (Config.LinearizableReadsToLeader).
func (c *Client) linearizableHome(g int) bool {
	if c.cfg.LinearizableReadsToLeader || g >= maxGroups {
		return false
	}
	return time.Now().UnixNano()-c.wrote[g].Load() > int64(leaderAfterWrite)
}

// noteWrite notes that a write to rq's group ended now.
func (c *Client) noteWrite(rq *request) {
	if g := groupOf(c.topo.Load(), rq); g >= 0 && g < maxGroups {
		c.wrote[g].Store(time.Now().UnixNano())
	}
}

// roundRobin returns the next address of addrs not in avoid, or "".
func (c *Client) roundRobin(addrs []string, avoid map[string]bool) string {
	if len(addrs) == 0 {
		return ""
	}
	start := int(c.rr.Add(1) % uint64(len(addrs)))
	for i := range addrs {
		if a := addrs[(start+i)%len(addrs)]; !avoid[a] {
			return a
		}
	}
	return ""
}
