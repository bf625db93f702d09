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

// parseSession decodes a record reply: a RESP3 map (or a RESP2 flat
// key/value array, which AsMap also accepts) of id, subject, version,
// *_ms times and a nested fields map.
func parseSession(m *rueidis.RedisMessage) (*Session, error) {
	kv, err := m.AsMap()
	if err != nil {
		return nil, fmt.Errorf("sessionraft: bad record reply: %w", err)
	}
	s := &Session{}
	str := func(k string) string {
		if v, ok := kv[k]; ok {
			t, _ := v.ToString()
			return t
		}
		return ""
	}
	num := func(k string) int64 {
		if v, ok := kv[k]; ok {
			n, _ := v.AsInt64()
			return n
		}
		return 0
	}
	s.ID = str("id")
	if s.ID == "" {
		return nil, fmt.Errorf("sessionraft: bad record reply: no id")
	}
	s.Subject = str("subject")
	s.Version = uint64(num("version"))
	s.Created = msTime(num("created_ms"))
	s.LastAccess = msTime(num("last_access_ms"))
	s.IdleTimeout = time.Duration(num("idle_ms")) * time.Millisecond
	s.AbsoluteDeadline = msTime(num("absolute_deadline_ms"))
	s.ExpiresAt = msTime(num("expires_at_ms"))
	s.Fields = map[string][]byte{}
	if f, ok := kv["fields"]; ok {
		fm, err := f.AsMap()
		if err != nil {
			return nil, fmt.Errorf("sessionraft: bad record reply: fields: %w", err)
		}
		for k, v := range fm {
			t, err := v.ToString()
			if err != nil {
				return nil, fmt.Errorf("sessionraft: bad record reply: field %q: %w", k, err)
			}
			s.Fields[k] = []byte(t) // a copy: callers may modify it
		}
	}
	return s, nil
}

// msTime converts the wire's Unix milliseconds, where 0 means "none".
func msTime(ms int64) time.Time {
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
