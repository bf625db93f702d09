package fsm

// Record is one session (or one Redis-style key: a record with a single
// field named "" and no subject). Records held by the FSM are immutable:
// Apply replaces a record rather than mutating it, so readers and snapshots
// may keep a *Record without locks. Callers outside the package receive
// copies via Clone and must not modify records they did not clone.
//
// All times are Unix nanoseconds stamped by the group leader that proposed
// the command; durations are nanoseconds. Zero means "none".
type Record struct {
	ID          string
	Subject     string
	Fields      map[string][]byte
	Version     uint64 // raft index of the record's last change
	Created     int64  // log time of creation
	LastAccess  int64  // log time of the last access (create, write, touch)
	IdleTimeout int64  // sliding expiry; 0 = none
	AbsDeadline int64  // absolute expiry as log time; 0 = none
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
// subject, and every field name and value.
func (r *Record) Size() int {
	n := len(r.ID) + len(r.Subject)
	for k, v := range r.Fields {
		n += len(k) + len(v)
	}
	return n
}

// Clone returns a deep copy safe for the caller to modify.
func (r *Record) Clone() *Record {
	c := *r
	c.Fields = make(map[string][]byte, len(r.Fields))
	for k, v := range r.Fields {
		c.Fields[k] = append([]byte(nil), v...)
	}
	return &c
}
