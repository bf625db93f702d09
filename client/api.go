package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/redis/rueidis"
)

// Create makes a new session and returns it. Options: WithSubject, WithTTL,
// WithIdleTimeout, WithField, WithFields, WithID.
//
// Without WithID the client draws the id (128 bits from crypto/rand, like
// the server's) so that it hashes to a group led by the node it sends to,
// round-robin over the nodes that lead a group: no forwarding hop, and a
// resend after an unknown outcome goes to the same group, whose dedup
// window recognises it. If that happens and the first attempt had been
// applied, the server answers with the session as it is now (read back by
// id), so the result is the same as the first attempt's; if the session has
// already ended meanwhile, Create returns ErrNotFound.
func (c *Client) Create(ctx context.Context, opts ...Option) (*Session, error) {
	o, err := collect("Create", createOpts, opts)
	if err != nil {
		return nil, err
	}
	if c.closed.Load() {
		return nil, ErrClosed
	}
	id := o.id
	if id == "" {
		tp := c.topo.Load()
		id = newSessionID(tp.ring, c.createGroup(tp))
	}
	return c.create(ctx, id, newReqID(), o)
}

// create sends SESSION.CREATE with the given id and request id.
func (c *Client) create(ctx context.Context, id, reqID string, o *options) (*Session, error) {
	// PACKED must come first (the server reads pairs after it); attempt
	// drops it for older servers (packed.go).
	args := []string{"SESSION.CREATE", "PACKED", "ID", id, "REQID", reqID}
	if o.set&optSubject != 0 {
		args = append(args, "SUBJECT", o.subject)
	}
	if o.ttl > 0 {
		args = append(args, "TTL", wireDuration(o.ttl))
	}
	if o.idle > 0 {
		args = append(args, "IDLE", wireDuration(o.idle))
	}
	if len(o.fieldNames) > 0 {
		// FIELDS comes last: everything after it is field/value pairs,
		// whatever the names.
		args = append(args, "FIELDS")
		for _, k := range o.fieldNames {
			args = append(args, k, string(o.fields[k]))
		}
	}
	rq := &request{op: "create", kind: write, key: id, args: args, record: true, packedAt: 1}
	if err := c.call(ctx, rq); err != nil {
		return nil, err
	}
	return rq.sess, nil
}

// createSlice is how long a client sends its new sessions to one group
// before it moves on (createGroup).
const createSlice = 20 * time.Millisecond

// createGroup picks the group for a new session, one led by the node the
// create is sent to. The client's creates go to one group for createSlice
// at a time, then to a group led by the next node (Config.SpreadCreates:
// the next node for each create). Why: a group commits one raft entry at a
// time, and that entry's round (the leader's and the followers' log
// appends, two AppendEntries round trips, the applies) is paid once for
// every command in it. Spread over three groups, 64 goroutines' creates
// made rounds of about ten; in one group, about thirty, at 61 against 108
// us of server CPU per create (docs/benchmarks.md, "Creates to one group
// at a time"). The slices start at a phase of the client's own, so
// clients do not all pick the same leader at once.
func (c *Client) createGroup(tp *topology) int {
	if len(tp.leaders) == 0 {
		return rand.IntN(len(tp.groups)) // no leader known: any group, a node forwards
	}
	if c.cfg.SpreadCreates {
		gs := tp.led[tp.leaders[c.rr.Add(1)%uint64(len(tp.leaders))]]
		return gs[rand.IntN(len(gs))]
	}
	return sliceGroup(tp, uint64(time.Now().UnixNano()/int64(createSlice))+c.createPhase)
}

// sliceGroup is the group of create slice k: the leaders in turn, and in
// each leader's turns the groups it leads in turn.
func sliceGroup(tp *topology, k uint64) int {
	n := uint64(len(tp.leaders))
	gs := tp.led[tp.leaders[k%n]]
	return gs[(k/n)%uint64(len(gs))]
}

// Get reads a session. Options: WithConsistency (default
// Config.DefaultConsistency), WithMaxStaleness, WithoutTouch, WithCache,
// WithoutCache. A read counts as an access for the session's idle timeout
// unless WithoutTouch, or it is answered from the cache (Config.CacheSize).
func (c *Client) Get(ctx context.Context, id string, opts ...Option) (*Session, error) {
	if len(opts) == 0 && c.cache != nil && c.cfg.CacheReads && c.cfg.DefaultConsistency == Linearizable {
		// A cache hit with the defaults allocates nothing.
		if s, ok := c.cache.get(id, time.Now().UnixNano()); ok {
			return s, nil
		}
	}
	o, err := collect("Get", getOpts, opts)
	if err != nil {
		return nil, err
	}
	level := c.level(o)
	rq := &request{op: "get", kind: read, level: level, key: id, record: true}
	args := append(rq.argv[:0], "SESSION.GET", id)
	args = c.appendReadArgs(args, o, level)
	if o.noTouch {
		args = append(args, "NOTOUCH")
	}
	rq.packedAt = len(args)
	args = append(args, "PACKED") // last: attempt drops it for older servers (packed.go)
	rq.argc = uint8(len(args))    // at most len(rq.argv): append never reallocates
	if cached, err := c.useCache(o, level); err != nil {
		return nil, err
	} else if cached {
		return c.cachedGet(ctx, id, rq) // cache.go
	}
	if err := c.call(ctx, rq); err != nil {
		return nil, err
	}
	return rq.sess, nil
}

// useCache decides whether a Get goes through the cache.
func (c *Client) useCache(o *options, level Consistency) (bool, error) {
	switch {
	case o.cache < 0:
		return false, nil
	case o.cache > 0 && c.cache == nil:
		return false, invalidf("WithCache: the client has no cache (set Config.CacheSize)")
	case o.cache > 0 && level != Linearizable:
		return false, invalidf("WithCache: only linearizable reads are cached, not %s", level)
	}
	return c.cache != nil && level == Linearizable && (o.cache > 0 || c.cfg.CacheReads), nil
}

func (c *Client) level(o *options) Consistency {
	if o.consistency != "" {
		return o.consistency
	}
	return c.cfg.DefaultConsistency
}

// appendReadArgs appends the CONSISTENCY and MAXSTALE options of a read
// to args. Linearizable is the server's default for the client's
// connections (it never changes them with SESSION.CONSISTENCY), so it is
// not sent.
func (c *Client) appendReadArgs(args []string, o *options, level Consistency) []string {
	if level != Linearizable {
		args = append(args, "CONSISTENCY", string(level))
	}
	if level == Stale {
		switch {
		case o.maxStale > 0:
			args = append(args, "MAXSTALE", wireDuration(o.maxStale))
		case c.maxStale != "":
			args = append(args, "MAXSTALE", c.maxStale)
		}
	}
	return args
}

// Set writes fields of a session and returns its new version. Options:
// IfVersion (write only at that version, else ErrConflict), WithTTL (move
// the absolute deadline to now + d; fields may then be empty). Any field
// name is allowed, including the server's option words (TTL, REQID,
// IFVERSION, FIELDS).
func (c *Client) Set(ctx context.Context, id string, fields map[string][]byte, opts ...Option) (uint64, error) {
	o, err := collect("Set", setOpts, opts)
	if err != nil {
		return 0, err
	}
	if len(fields) == 0 && o.ttl == 0 {
		return 0, invalidf("Set: no fields and no WithTTL")
	}
	return c.versionCall(ctx, "set", id, setArgs(id, fields, o, newReqID()))
}

// Unset removes fields of a session and returns its new version. Options:
// IfVersion, WithTTL, as for Set. The names are sent in the order given.
func (c *Client) Unset(ctx context.Context, id string, names []string, opts ...Option) (uint64, error) {
	o, err := collect("Unset", setOpts, opts)
	if err != nil {
		return 0, err
	}
	if len(names) == 0 {
		return 0, invalidf("Unset: no field names")
	}
	return c.versionCall(ctx, "unset", id, unsetArgs(id, names, o, newReqID()))
}

// setArgs builds SESSION.SET: the options, then FIELDS and the pairs in
// name order (a map has no order of its own; sorting keeps commands
// deterministic). The server reads options for as long as the next word is
// one, so without FIELDS a field named TTL, REQID or IFVERSION would be
// taken for an option. A WithTTL-only Set sends no FIELDS.
func setArgs(id string, fields map[string][]byte, o *options, reqID string) []string {
	args := writeArgs("SESSION.SET", id, o, reqID, 1+2*len(fields))
	if len(fields) == 0 {
		return args
	}
	args = append(args, "FIELDS")
	for _, k := range sortedKeys(fields) {
		args = append(args, k, string(fields[k]))
	}
	return args
}

// unsetArgs builds SESSION.UNSET: the options, then FIELDS and the names
// as given (see setArgs for why FIELDS).
func unsetArgs(id string, names []string, o *options, reqID string) []string {
	args := writeArgs("SESSION.UNSET", id, o, reqID, 1+len(names))
	args = append(args, "FIELDS")
	return append(args, names...)
}

// writeArgs starts a SET or UNSET: the id, then the options, with room for
// extra arguments after them. reqID is fresh for each write, so a resend
// applies at most once.
func writeArgs(cmd, id string, o *options, reqID string, extra int) []string {
	args := append(make([]string, 0, 8+extra), cmd, id)
	if o.ifVersion != 0 {
		args = append(args, "IFVERSION", strconv.FormatUint(o.ifVersion, 10))
	}
	args = append(args, "REQID", reqID)
	if o.ttl > 0 {
		args = append(args, "TTL", wireDuration(o.ttl))
	}
	return args
}

func (c *Client) versionCall(ctx context.Context, op, id string, args []string) (uint64, error) {
	var v uint64
	err := c.call(ctx, &request{op: op, kind: write, key: id, args: args,
		parse: func(m *rueidis.RedisMessage) (err error) {
			n, err := m.AsInt64()
			v = uint64(n)
			return err
		}})
	return v, err
}

// Rotate gives a session a new id, with the same data, and returns it; the
// old id is gone for good (use it after login, against session fixation).
// Options: IfVersion.
//
// If an attempt's outcome was unknown and the resend was answered from the
// server's dedup window, the reply names the id the first attempt created.
// Rotate checks that id in that case (belt and braces against an older
// server, whose replay named an id made up for the resend) and returns
// ErrIndeterminate if it does not exist.
func (c *Client) Rotate(ctx context.Context, id string, opts ...Option) (string, error) {
	o, err := collect("Rotate", rotateOpts, opts)
	if err != nil {
		return "", err
	}
	return c.rotate(ctx, id, newReqID(), o, false)
}

// rotate sends SESSION.ROTATE with the given request id. resent says an
// earlier call may already have sent it (the tests use it to replay).
func (c *Client) rotate(ctx context.Context, id, reqID string, o *options, resent bool) (string, error) {
	args := []string{"SESSION.ROTATE", id}
	if o.ifVersion != 0 {
		args = append(args, "IFVERSION", strconv.FormatUint(o.ifVersion, 10))
	}
	args = append(args, "REQID", reqID)
	var newID string
	rq := &request{op: "rotate", kind: write, key: id, args: args,
		parse: func(m *rueidis.RedisMessage) (err error) {
			newID, err = m.ToString()
			return err
		}}
	if err := c.call(ctx, rq); err != nil {
		return "", err
	}
	if rq.sawUnknown || resent {
		return c.checkRotated(ctx, newID)
	}
	return newID, nil
}

// checkRotated confirms that newID exists after a resent rotation.
func (c *Client) checkRotated(ctx context.Context, newID string) (string, error) {
	_, err := c.Get(ctx, newID, WithConsistency(Linearizable), WithoutTouch())
	switch {
	case err == nil:
		return newID, nil
	case errors.Is(err, ErrNotFound):
		return "", fmt.Errorf("%w: rotate: the first attempt was applied, but the server's replay of it does not carry the new id", ErrIndeterminate)
	default:
		return "", fmt.Errorf("%w: rotate: resent, and the new id %q could not be checked: %v", ErrIndeterminate, newID, err)
	}
}
