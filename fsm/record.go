package fsm

import "iter"

// Record is one key: a session (a hash with a subject and expiry made by
// Create), or a Redis key of any Kind (a hash, string or set). Records
// held by the FSM are immutable:
// Apply replaces a record rather than mutating it, so readers and snapshots
// may keep a *Record without locks. Records handed out by the FSM (Get,
// BySubject, Result.Record) are shared: callers must not modify them, and
// Clone one to get a copy they may change.
//
// All times are Unix nanoseconds stamped by the group leader that proposed
// the command; durations are nanoseconds. Zero means "none".
type Record struct {
	ID          string
	Subject     string
	Version     uint64 // raft index of the record's last change
	Created     int64  // log time of creation
	LastAccess  int64  // log time of the last access (create, write, touch)
	IdleTimeout int64  // sliding expiry; 0 = none
	AbsDeadline int64  // absolute expiry as log time; 0 = none

	// fields is the record's payload: for a session, the encoded field
	// list (see fieldlist.go), nil when there are none; for other kinds a
	// tagged layout (kind.go). A node holds millions of records, and one
	// allocation per record for all its fields costs far less than a
	// slice of name/value headers plus a value each (see
	// docs/benchmarks.md). Read it with Fields, Field, NumFields, Value
	// and Members.
	fields []byte
}

// key is what a table finds a record by.
func (r *Record) key() string { return r.ID }

// Field is one named value of a record.
type Field struct {
	Name  string
	Value []byte
}

// Fields returns a hash's fields in ascending name order (nothing for
// other kinds). The values are the
// record's own, shared like the record: callers must not modify them.
func (r *Record) Fields() iter.Seq2[string, []byte] {
	return func(yield func(string, []byte) bool) {
		it := iterFields(r.hashList())
		for {
			name, value, ok := it.next()
			if !ok || !yield(name, value) {
				return
			}
		}
	}
}

// NumFields returns a hash's number of fields (HLEN); 0 for other kinds.
func (r *Record) NumFields() int { return fieldCount(r.hashList()) }

// Field returns the value of a hash's named field.
func (r *Record) Field(name string) ([]byte, bool) {
	return lookupField(r.hashList(), name)
}

// FieldMap returns the fields as a new map sharing the values (which the
// caller must not modify).
func (r *Record) FieldMap() map[string][]byte {
	m := make(map[string][]byte, r.NumFields())
	for k, v := range r.Fields() {
		m[k] = v
	}
	return m
}

// WithFields returns a copy of r that is a hash with the fields m
// (copied): a session if r is one (or has no payload yet), else a plain
// hash. It is for building records outside the FSM, in tests and tools.
func (r *Record) WithFields(m map[string][]byte) *Record {
	c := *r
	c.fields = hashData(r.Session() || len(m) == 0, sortedFields(nil, m))
	return &c
}

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
// subject, and every field name and value (a string's value, a set's
// members).
func (r *Record) Size() int {
	return len(r.ID) + len(r.Subject) + r.payloadSize()
}

// Clone returns a deep copy safe for the caller to modify.
func (r *Record) Clone() *Record {
	c := *r
	if r.fields != nil {
		c.fields = append([]byte(nil), r.fields...)
	}
	return &c
}
