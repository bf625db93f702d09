package client

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sessionraft/sessionraft/transport/wire"
)

// A Get and a Create ask for the record in the packed form (SESSION.GET
// ... PACKED, SESSION.CREATE PACKED ..., transport/wire/packed.go): one
// bulk string instead of a map of 9 entries with the fields nested in it.
// rueidis makes a message for every element of a reply, and the map
// form's 18 or more made reading a record about a third of the client's
// CPU per read. A server older than PACKED refuses it (BADARG, syntax
// error); the client then asks that node without it, and tries PACKED
// there again after packedRetry, so a node upgraded meanwhile gets it
// back.

// packedRetry is how long a node that refused PACKED is asked without it.
const packedRetry = time.Minute

// packedSupport remembers the nodes that refused PACKED.
type packedSupport struct {
	refusedAt sync.Map // node address → time.Time it refused
}

// refused reports whether addr refused PACKED within packedRetry.
func (p *packedSupport) refused(addr string) bool {
	t, ok := p.refusedAt.Load(addr)
	return ok && time.Since(t.(time.Time)) < packedRetry
}

// refuses reports whether err is addr refusing PACKED, and if so
// remembers it.
func (p *packedSupport) refuses(addr string, err error) bool {
	code, msg, ok := redisCode(err)
	if !ok {
		return false
	}
	// An older server refuses the option (BADARG, syntax error near
	// 'PACKED'), or, when it makes a Get of eight arguments (stale,
	// MAXSTALE, NOTOUCH), the count: it allows seven, a newer server
	// eight, so that error means the same.
	option := code == wire.CodeBadArg && strings.Contains(msg, "'PACKED'")
	arity := strings.Contains(msg, "wrong number of arguments for 'session.get'")
	if !option && !arity {
		return false
	}
	p.refusedAt.Store(addr, time.Now())
	return true
}

// packedFor is the record of refusals for rq's command: a node may take
// PACKED for one command and not yet for the other.
func (c *Client) packedFor(rq *request) *packedSupport {
	if rq.op == "create" {
		return &c.packedCreate
	}
	return &c.packedGet
}

// withoutArg returns args without args[i]: a shorter slice of args for
// the last one, else a new slice (args may be a request's own, which
// later attempts send again).
func withoutArg(args []string, i int) []string {
	if i == len(args)-1 {
		return args[:i]
	}
	out := make([]string, 0, len(args)-1)
	out = append(out, args[:i]...)
	return append(out, args[i+1:]...)
}

// parsePackedSession decodes a packed record. The id, subject and field
// names are copied into one string, and the field values into one buffer
// (callers may modify them): substrings of the reply would keep all of it,
// values included, alive as long as the Session (in the client's cache,
// say).
func parsePackedSession(s string) (*Session, error) {
	rec, fs, err := wire.ParsePacked(s)
	if err != nil {
		return nil, fmt.Errorf("sessionraft: bad record reply: %w", err)
	}
	if rec.ID == "" {
		return nil, fmt.Errorf("sessionraft: bad record reply: no id")
	}
	n, names, values := fs.Len(), 0, 0
	for it := fs; ; {
		name, v, ok := it.Next()
		if !ok {
			break
		}
		names, values = names+len(name), values+len(v)
	}
	var sb strings.Builder
	sb.Grow(len(rec.ID) + len(rec.Subject) + names)
	sb.WriteString(rec.ID)
	sb.WriteString(rec.Subject)
	for it := fs; ; {
		name, _, ok := it.Next()
		if !ok {
			break
		}
		sb.WriteString(name)
	}
	strs := sb.String()
	off := len(rec.ID) + len(rec.Subject)
	buf := make([]byte, 0, values)
	fields := make(map[string][]byte, n)
	for it := fs; ; {
		name, v, ok := it.Next()
		if !ok {
			break
		}
		buf = append(buf, v...)
		fields[strs[off:off+len(name)]] = buf[len(buf)-len(v) : len(buf) : len(buf)] // capped: appending to one cannot overwrite the next
		off += len(name)
	}
	return &Session{
		ID: strs[:len(rec.ID)], Subject: strs[len(rec.ID) : len(rec.ID)+len(rec.Subject)], Version: rec.Version,
		Created: msTime(rec.CreatedMS), LastAccess: msTime(rec.LastAccessMS),
		IdleTimeout:      time.Duration(rec.IdleMS) * time.Millisecond,
		AbsoluteDeadline: msTime(rec.AbsDeadlineMS), ExpiresAt: msTime(rec.ExpiresAtMS),
		Fields: fields,
	}, nil
}
