package fsm

import (
	"slices"
	"strings"
)

// Record is one session (or one Redis-style key: a record with a single
// field named "" and no subject). Records held by the FSM are immutable:
// Apply replaces a record rather than mutating it, so readers and snapshots
// may keep a *Record without locks. Records handed out by the FSM (Get,
// BySubject, Result.Record) are shared: callers must not modify them, and
// Clone one to get a copy they may change.
//
// All times are Unix nanoseconds stamped by the group leader that proposed
// the command; durations are nanoseconds. Zero means "none".
type Record struct {
	ID      string
	Subject string
	// Fields in strictly ascending name order (no duplicates); nil when
	// there are none. A sorted slice rather than a map because a node holds
	// millions of records: a Go map costs about 380 bytes even with one
	// entry, the slice 48 (see docs/benchmarks.md), and the order is the
	// canonical encoding order, so encoding needs no sort.
	Fields      []Field
	Version     uint64 // raft index of the record's last change
	Created     int64  // log time of creation
	LastAccess  int64  // log time of the last access (create, write, touch)
	IdleTimeout int64  // sliding expiry; 0 = none
	AbsDeadline int64  // absolute expiry as log time; 0 = none
}

// Field is one named value of a record.
type Field struct {
	Name  string
	Value []byte
}

// Field returns the value of the named field.
func (r *Record) Field(name string) ([]byte, bool) {
	i, ok := slices.BinarySearchFunc(r.Fields, name, cmpFieldName)
	if !ok {
		return nil, false
	}
	return r.Fields[i].Value, true
}

// FieldMap returns the fields as a new map sharing the values (which the
// caller must not modify).
func (r *Record) FieldMap() map[string][]byte {
	m := make(map[string][]byte, len(r.Fields))
	for _, f := range r.Fields {
		m[f.Name] = f.Value
	}
	return m
}

func cmpFieldName(f Field, name string) int { return strings.Compare(f.Name, name) }

// Deadline returns the instant the record expires: the earlier of its idle
// deadline (LastAccess+IdleTimeout) and its absolute deadline; 0 if never.
func (r *Record) Deadline() int64 {
	var d int64
	if r.IdleTimeout > 0 {
		d = r.LastAccess + r.IdleTimeout
	}
	if r.AbsDeadline > 0 && (d == 0 || r.AbsDeadline < d) {
		d = r.AbsDeadline
	}
	return d
}

// ExpiredAt reports whether the record is past its deadline at time now.
// A record is expired at exactly its deadline.
func (r *Record) ExpiredAt(now int64) bool {
	d := r.Deadline()
	return d != 0 && now >= d
}

// Size is the record's accounted size for the MaxRecordBytes limit: id,
// subject, and every field name and value.
func (r *Record) Size() int {
	n := len(r.ID) + len(r.Subject)
	for _, f := range r.Fields {
		n += len(f.Name) + len(f.Value)
	}
	return n
}

// Clone returns a deep copy safe for the caller to modify.
func (r *Record) Clone() *Record {
	c := *r
	c.Fields = nil
	if len(r.Fields) > 0 {
		c.Fields = make([]Field, len(r.Fields))
		for i, f := range r.Fields {
			c.Fields[i] = Field{f.Name, append([]byte(nil), f.Value...)}
		}
	}
	return &c
}
