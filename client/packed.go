package client

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessionraft/sessionraft/transport/wire"
)

// A Get asks for the record in the packed form (SESSION.GET ... PACKED,
// transport/wire/packed.go): one bulk string instead of a map of 9 entries
// with the fields nested in it. rueidis makes a message for every element
// of a reply, and the map form's 18 or more made reading a record about a
// third of the client's CPU per read. A server older than PACKED refuses
// it (BADARG, syntax error); the client then asks that node without it,
// and tries PACKED there again after packedRetry, so a node upgraded
// meanwhile gets it back.

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
	re, ok := rueidis.IsRedisErr(err)
	if !ok {
		return false
	}
	code, msg := wire.SplitError(re.Error())
	if code != wire.CodeBadArg || !strings.Contains(msg, "'PACKED'") {
		return false
	}
	p.refusedAt.Store(addr, time.Now())
	return true
}

// parsePackedSession decodes a packed record. IDs, subjects and field
// names are substrings of s; the field values are copied, all into one
// buffer, since callers may modify them.
func parsePackedSession(s string) (*Session, error) {
	n, size := 0, 0
	if _, err := wire.ParsePacked(s, func(_, v string) { n, size = n+1, size+len(v) }); err != nil {
		return nil, fmt.Errorf("sessionraft: bad record reply: %w", err)
	}
	buf := make([]byte, 0, size)
	fields := make(map[string][]byte, n)
	rec, _ := wire.ParsePacked(s, func(name, v string) {
		buf = append(buf, v...)
		fields[name] = buf[len(buf)-len(v) : len(buf) : len(buf)] // capped: appending to one cannot overwrite the next
	})
	if rec.ID == "" {
		return nil, fmt.Errorf("sessionraft: bad record reply: no id")
	}
	return &Session{
		ID: rec.ID, Subject: rec.Subject, Version: rec.Version,
		Created: msTime(rec.CreatedMS), LastAccess: msTime(rec.LastAccessMS),
		IdleTimeout:      time.Duration(rec.IdleMS) * time.Millisecond,
		AbsoluteDeadline: msTime(rec.AbsDeadlineMS), ExpiresAt: msTime(rec.ExpiresAtMS),
		Fields: fields,
	}, nil
}
