package client

import (
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"
)

// Session is one session record as the server returned it.
type Session struct {
	ID, Subject      string
	Version          uint64 // raft index of the last change: grows, but not by one
	Created          time.Time
	LastAccess       time.Time
	IdleTimeout      time.Duration // zero if none
	AbsoluteDeadline time.Time     // zero if none
	ExpiresAt        time.Time     // zero if never
	Fields           map[string][]byte
}

// String returns a field as text.
func (s *Session) String(name string) (string, bool) {
	v, ok := s.Fields[name]
	return string(v), ok
}

// Bytes returns a field's value (not a copy).
func (s *Session) Bytes(name string) ([]byte, bool) {
	v, ok := s.Fields[name]
	return v, ok
}

// Int returns a field parsed as a base-10 integer; false if it is missing
// or not an integer.
func (s *Session) Int(name string) (int64, bool) {
	v, ok := s.Fields[name]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	return n, err == nil
}

// Bool returns a field parsed by strconv.ParseBool ("1", "true", "0",
// "false", ...); false if it is missing or not a boolean.
func (s *Session) Bool(name string) (bool, bool) {
	v, ok := s.Fields[name]
	if !ok {
		return false, false
	}
	b, err := strconv.ParseBool(string(v))
	return b, err == nil
}

// Time returns a field parsed as RFC 3339 text (time.RFC3339Nano, which
// also accepts RFC3339); false if it is missing or not a time.
func (s *Session) Time(name string) (time.Time, bool) {
	v, ok := s.Fields[name]
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(v))
	return t, err == nil
}

// parseSession decodes a record reply: a flat key/value array (RESP2:
// the client's connections speak it, see conns.go) or a map (RESP3) of
// id, subject, version, *_ms times and nested fields.
//
// It is on every read's path: it walks an array's pairs in place (rueidis
// offers no way to walk a RESP3 map's entries without building a Go map,
// which was a sixth of the client's CPU per read), and copies all field
// values into one buffer.
func parseSession(m *rueidis.RedisMessage) (*Session, error) {
	var recBuf, fieldBuf [16]pair
	kv, err := pairs(m, recBuf[:0])
	if err != nil {
		return nil, fmt.Errorf("sessionraft: bad record reply: %w", err)
	}
	s := &Session{}
	var fields *rueidis.RedisMessage
	for _, p := range kv {
		v := p.v
		switch p.k {
		case "id":
			s.ID, _ = v.ToString()
		case "subject":
			s.Subject, _ = v.ToString()
		case "version":
			s.Version = uint64(intOf(v))
		case "created_ms":
			s.Created = msTime(intOf(v))
		case "last_access_ms":
			s.LastAccess = msTime(intOf(v))
		case "idle_ms":
			s.IdleTimeout = time.Duration(intOf(v)) * time.Millisecond
		case "absolute_deadline_ms":
			s.AbsoluteDeadline = msTime(intOf(v))
		case "expires_at_ms":
			s.ExpiresAt = msTime(intOf(v))
		case "fields":
			fields = v
		}
	}
	if s.ID == "" {
		return nil, fmt.Errorf("sessionraft: bad record reply: no id")
	}
	if fields == nil {
		s.Fields = map[string][]byte{}
		return s, nil
	}
	fv, err := pairs(fields, fieldBuf[:0])
	if err != nil {
		return nil, fmt.Errorf("sessionraft: bad record reply: fields: %w", err)
	}
	size := 0
	for _, p := range fv {
		t, err := p.v.ToString()
		if err != nil {
			return nil, fmt.Errorf("sessionraft: bad record reply: field %q: %w", p.k, err)
		}
		size += len(t)
	}
	// Copies (callers may modify them) in one allocation; each capped at
	// its length, so appending to one cannot overwrite the next.
	buf := make([]byte, 0, size)
	s.Fields = make(map[string][]byte, len(fv))
	for _, p := range fv {
		t, _ := p.v.ToString()
		buf = append(buf, t...)
		s.Fields[p.k] = buf[len(buf)-len(t) : len(buf) : len(buf)]
	}
	return s, nil
}

// pair is one key and its value in a reply.
type pair struct {
	k string
	v *rueidis.RedisMessage
}

// pairs appends m's key/value pairs to dst: a flat array's in place, a
// RESP3 map's through AsMap (in no particular order).
func pairs(m *rueidis.RedisMessage, dst []pair) ([]pair, error) {
	if m.IsMap() {
		kv, err := m.AsMap()
		if err != nil {
			return nil, err
		}
		for k, v := range kv {
			dst = append(dst, pair{k, &v})
		}
		return dst, nil
	}
	a, err := m.ToArray()
	if err != nil {
		return nil, err
	}
	if len(a)%2 != 0 {
		return nil, fmt.Errorf("%d elements, not key/value pairs", len(a))
	}
	for i := 0; i < len(a); i += 2 {
		k, err := a[i].ToString()
		if err != nil {
			return nil, fmt.Errorf("key: %w", err)
		}
		dst = append(dst, pair{k, &a[i+1]})
	}
	return dst, nil
}

func intOf(v *rueidis.RedisMessage) int64 {
	n, _ := v.AsInt64()
	return n
}

// msTime converts the wire's Unix milliseconds, where 0 means "none".
func msTime(ms int64) time.Time {
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
