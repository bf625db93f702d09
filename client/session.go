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
//
// It is on every read's path, so it ranges over the reply's map once
// instead of looking each key up, and copies all field values into one
// buffer. (rueidis offers no way to walk a RESP3 map's entries without
// building a Go map of them.)
func parseSession(m *rueidis.RedisMessage) (*Session, error) {
	kv, err := m.AsMap()
	if err != nil {
		return nil, fmt.Errorf("sessionraft: bad record reply: %w", err)
	}
	s := &Session{}
	var (
		fields    rueidis.RedisMessage
		hasFields bool
	)
	for k, v := range kv {
		switch k {
		case "id":
			s.ID, _ = v.ToString()
		case "subject":
			s.Subject, _ = v.ToString()
		case "version":
			s.Version = uint64(intOf(&v))
		case "created_ms":
			s.Created = msTime(intOf(&v))
		case "last_access_ms":
			s.LastAccess = msTime(intOf(&v))
		case "idle_ms":
			s.IdleTimeout = time.Duration(intOf(&v)) * time.Millisecond
		case "absolute_deadline_ms":
			s.AbsoluteDeadline = msTime(intOf(&v))
		case "expires_at_ms":
			s.ExpiresAt = msTime(intOf(&v))
		case "fields":
			fields, hasFields = v, true
		}
	}
	if s.ID == "" {
		return nil, fmt.Errorf("sessionraft: bad record reply: no id")
	}
	if !hasFields {
		s.Fields = map[string][]byte{}
		return s, nil
	}
	fm, err := fields.AsMap()
	if err != nil {
		return nil, fmt.Errorf("sessionraft: bad record reply: fields: %w", err)
	}
	size := 0
	for k, v := range fm {
		t, err := v.ToString()
		if err != nil {
			return nil, fmt.Errorf("sessionraft: bad record reply: field %q: %w", k, err)
		}
		size += len(t)
	}
	// Copies (callers may modify them) in one allocation; each capped at
	// its length, so appending to one cannot overwrite the next.
	buf := make([]byte, 0, size)
	s.Fields = make(map[string][]byte, len(fm))
	for k, v := range fm {
		t, _ := v.ToString()
		buf = append(buf, t...)
		s.Fields[k] = buf[len(buf)-len(t) : len(buf) : len(buf)]
	}
	return s, nil
}

// intOf returns an integer reply, or what AsInt64 makes of another.
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
