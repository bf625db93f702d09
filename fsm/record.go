package fsm

import (
	"iter"
	"unsafe"
)

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
	// data is the record's one allocation: its id, its subject and its
	// payload, back to back, of idLen, subjectLen and payloadLen bytes.
	// Read them with ID, Subject and payload; make them with setData or
	// recordBuf and setBuf. The bytes are never written once the record
	// holds them.
	//
	// Why one allocation: a node holds millions of records, and two
	// strings and a slice made the header 96 bytes with three pointers;
	// one pointer and three lengths make it 64 bytes with one pointer for
	// the collector to scan (32 MB less per million records; see
	// docs/benchmarks.md).
	//
	// The payload is, for a session, the encoded field list (see
	// fieldlist.go), none when there are no fields; for other kinds a
	// tagged layout (kind.go). One allocation for all the fields costs
	// far less than a slice of name/value headers plus a value each. Read
	// it with Fields, Field, NumFields, Value and Members.
	data                          *byte
	idLen, subjectLen, payloadLen uint32

	Version     uint64 // raft index of the record's last change
	Created     int64  // log time of creation
	LastAccess  int64  // log time of the last access (create, write, touch)
	IdleTimeout int64  // sliding expiry; 0 = none
	AbsDeadline int64  // absolute expiry as log time; 0 = none
}

// ID is the record's id (a session's) or key (a Redis key's).
func (r *Record) ID() string { return unsafe.String(r.data, r.idLen) }

// Subject is the session's subject (the user it belongs to); "" for none
// and for Redis keys.
func (r *Record) Subject() string {
	if r.subjectLen == 0 {
		return "" // and no pointer past the end of data
	}
	return unsafe.String((*byte)(unsafe.Add(unsafe.Pointer(r.data), r.idLen)), r.subjectLen)
}

// payload is the record's payload, nil when it has none. Its capacity
// ends where it does, so an append to it copies rather than writes into
// the record.
func (r *Record) payload() []byte {
	if r.payloadLen == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(r.data), uintptr(r.idLen)+uintptr(r.subjectLen))), r.payloadLen)
}

// maxPartLen bounds each of a record's id, subject and payload: their
// lengths are held in 32 bits. Limits.Validate keeps every limit that
// bounds them below it, and decoders refuse longer ones.
const maxPartLen = 1<<32 - 1

// recordBuf starts a record's allocation: id and subject, with room for n
// bytes of payload to be appended before setBuf.
func recordBuf[S string | []byte](id, subject S, n int) []byte {
	buf := make([]byte, 0, len(id)+len(subject)+n)
	return append(append(buf, id...), subject...)
}

// setBuf makes buf, from recordBuf with the payload appended, r's id,
// subject and payload. buf is the record's from then on: nobody may write
// it.
func (r *Record) setBuf(buf []byte, idLen, subjectLen int) {
	payloadLen := len(buf) - idLen - subjectLen
	if idLen > maxPartLen || subjectLen > maxPartLen || payloadLen > maxPartLen {
		// Unreachable: Limits.Validate and the decoders keep every part
		// far below this.
		panic("fsm: record part longer than 4 GiB")
	}
	r.data = unsafe.SliceData(buf)
	if len(buf) == 0 {
		r.data = nil
	}
	r.idLen, r.subjectLen, r.payloadLen = uint32(idLen), uint32(subjectLen), uint32(payloadLen)
}

// recordData is a record's data being built: id and subject, then the
// payload that a builder (stringData, hashData, membersData) appends in
// the same allocation, so the payload is not built apart and copied.
type recordData struct {
	buf               []byte
	idLen, subjectLen int
}

// newRecordData starts the data of a record of id and subject with room
// for n bytes of payload.
func newRecordData[S string | []byte](id, subject S, n int) recordData {
	return recordData{recordBuf(id, subject, n), len(id), len(subject)}
}

// payload is the payload appended so far.
func (d recordData) payload() []byte { return d.buf[d.idLen+d.subjectLen:] }

// setRecordData makes d r's data (setBuf).
func (r *Record) setRecordData(d recordData) { r.setBuf(d.buf, d.idLen, d.subjectLen) }

// setData gives r the id, subject and payload, copied into one new
// allocation.
func (r *Record) setData(id, subject string, payload []byte) {
	r.setBuf(append(recordBuf(id, subject, len(payload)), payload...), len(id), len(subject))
}

// key is what a table finds a record by.
func (r *Record) key() string { return r.ID() }

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
	c.setRecordData(hashData(r.ID(), r.Subject(), r.Session() || len(m) == 0, sortedFields(nil, m)))
	return &c
}

// NewRecord returns a record with the id and subject and nothing else,
// for building records outside the FSM (with WithFields), in tests and
// tools.
func NewRecord(id, subject string) *Record {
	r := new(Record)
	r.setData(id, subject, nil)
	return r
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
	return len(r.ID()) + len(r.Subject()) + r.payloadSize()
}

// Clone returns a deep copy: one that shares no memory with r, which the
// caller may keep or change (its exported fields) without affecting r.
func (r *Record) Clone() *Record {
	c := *r
	c.setData(r.ID(), r.Subject(), r.payload())
	return &c
}
