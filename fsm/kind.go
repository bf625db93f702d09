package fsm

import (
	"encoding/binary"
	"iter"
	"strconv"
	"strings"
	"unsafe"
)

// Kind is the Redis type of a record's value. Keys and session ids share
// one namespace per group: a Redis key is a record whose id is the key.
type Kind uint8

// Kinds. The numbers are part of the record encoding (version 2) and of
// the records' in-memory tag: never reuse or renumber one.
const (
	KindHash   Kind = 1 // fields; every session (SESSION.*) record is a hash
	KindString Kind = 2 // one value
	KindSet    Kind = 3 // members
)

// String returns the name TYPE replies with: "hash", "string", "set";
// "none" for the zero Kind (no key).
func (k Kind) String() string {
	switch k {
	case KindHash:
		return "hash"
	case KindString:
		return "string"
	case KindSet:
		return "set"
	case 0:
		return "none"
	}
	return "kind " + strconv.Itoa(int(k))
}

// A record's payload (Record.fields) comes in four layouts, told apart by
// its first byte:
//
//	session hash:  the field list (fieldlist.go), nil when it has no fields
//	plain hash:    0x00, KindHash,   field list (at least one field)
//	string:        0x00, KindString, the value's bytes
//	set:           0x00, KindSet,    member list (at least one member)
//
// A field list starts with its count as a uvarint, which is never 0 when
// stored (an empty list is nil), so a leading 0x00 can only be a tag.
// Sessions keep exactly the layout they always had: no byte more per
// session, no new branch on their paths beyond reading the first byte, and
// every record of an older log or snapshot is a session. The two tag bytes
// of the other layouts cost less than a kind field would: Record is 96
// bytes, a size class, and one byte more would make it 112.
//
// A session is a hash made by Create (or moved by Rotate or Rename from
// one). The difference to a plain hash made by HSET is what its removal
// leaves behind: a removed session leaves a tombstone (tombstone.go), a
// plain key does not, as Redis keeps nothing of a deleted key.
//
// A member list is a uvarint count, then per member, in strictly
// ascending byte order, a uvarint length and the member's bytes: the
// field list without values.
const kindTag = 0x00

// Kind returns the record's kind.
func (r *Record) Kind() Kind {
	if len(r.payload()) == 0 || r.payload()[0] != kindTag {
		return KindHash
	}
	return Kind(r.payload()[1])
}

// Session reports whether r is a session: a hash made by Create, or moved
// from one by Rotate or Rename. Removing a session leaves a tombstone;
// removing any other record does not.
func (r *Record) Session() bool {
	return len(r.payload()) == 0 || r.payload()[0] != kindTag
}

// hashList returns the record's field list: nil for a record that is not
// a hash (or a hash without fields).
func (r *Record) hashList() []byte {
	if r.Session() {
		return r.payload()
	}
	if r.payload()[1] == byte(KindHash) {
		return r.payload()[2:]
	}
	return nil
}

// Value returns a string's value; ok is false for other kinds. The value
// is the record's own, shared like the record: do not modify it. An empty
// string is a non-nil empty slice.
func (r *Record) Value() (value []byte, ok bool) {
	if r.Kind() != KindString {
		return nil, false
	}
	return r.payload()[2:len(r.payload()):len(r.payload())], true
}

// memberList returns a set's member list, nil for other kinds.
func (r *Record) memberList() []byte {
	if r.Kind() != KindSet {
		return nil
	}
	return r.payload()[2:]
}

// Members returns a set's members in ascending byte order; nothing for
// other kinds. The strings share the record's bytes (no copies).
func (r *Record) Members() iter.Seq[string] {
	return func(yield func(string) bool) {
		it := iterMembers(r.memberList())
		for {
			m, ok := it.next()
			if !ok || !yield(m) {
				return
			}
		}
	}
}

// NumMembers returns a set's number of members (SCARD); 0 for other kinds.
func (r *Record) NumMembers() int { return fieldCount(r.memberList()) }

// IsMember reports whether m is a member of the set (SISMEMBER); false for
// other kinds.
func (r *Record) IsMember(m string) bool {
	it := iterMembers(r.memberList())
	for {
		x, ok := it.nextRaw()
		if !ok {
			return false
		}
		switch c := strings.Compare(string(x), m); {
		case c == 0:
			return true
		case c > 0:
			return false
		}
	}
}

// payloadSize is the Record.Size contribution of the payload: names and
// values of a hash, a string's length, a set's member bytes.
func (r *Record) payloadSize() int {
	switch r.Kind() {
	case KindString:
		return len(r.payload()) - 2
	case KindSet:
		n := 0
		it := iterMembers(r.memberList())
		for {
			m, ok := it.nextRaw()
			if !ok {
				return n
			}
			n += len(m)
		}
	}
	return fieldListBytes(r.hashList())
}

// The payload builders return a record's data (recordData) for id and
// subject with the payload: tests and other callers that want the
// payload alone pass "" for both and take its payload().

// stringData is the data of a string holding v (copied).
func stringData[S string | []byte](id, subject S, v []byte) recordData {
	d := newRecordData(id, subject, 2+len(v))
	d.buf = append(append(d.buf, kindTag, byte(KindString)), v...)
	return d
}

// hashData is the data of a hash with the fields fs (sorted by name, no
// duplicates; copied): a session's bare field list, or a plain hash's
// tagged one. A plain hash with no fields does not exist (no payload).
func hashData(id, subject string, session bool, fs []Field) recordData {
	if len(fs) == 0 {
		return newRecordData(id, subject, 0)
	}
	if session {
		d := newRecordData(id, subject, fieldListSize(fs))
		d.buf = appendFieldList(d.buf, fs)
		return d
	}
	d := newRecordData(id, subject, 2+fieldListSize(fs))
	d.buf = appendFieldList(append(d.buf, kindTag, byte(KindHash)), fs)
	return d
}

// membersData is the data of a set of the members ms (sorted, no
// duplicates, at least one; copied).
func membersData(id, subject string, ms []string) recordData {
	size := 2 + uvarintLen(uint64(len(ms)))
	for _, m := range ms {
		size += uvarintLen(uint64(len(m))) + len(m)
	}
	d := newRecordData(id, subject, size)
	d.buf = append(d.buf, kindTag, byte(KindSet))
	d.buf = binary.AppendUvarint(d.buf, uint64(len(ms)))
	for _, m := range ms {
		d.buf = appendString(d.buf, m)
	}
	return d
}

// memberIter walks a member list, validated when it was built.
type memberIter struct {
	b []byte
	n uint64
}

func iterMembers(list []byte) memberIter {
	if len(list) == 0 {
		return memberIter{}
	}
	n, k := binary.Uvarint(list)
	return memberIter{b: list[k:], n: n}
}

func (it *memberIter) nextRaw() ([]byte, bool) {
	if it.n == 0 {
		return nil, false
	}
	it.n--
	l, k := binary.Uvarint(it.b)
	end := k + int(l)
	m := it.b[k:end:end]
	it.b = it.b[end:]
	return m, true
}

// next returns the next member as a string over the list's bytes.
func (it *memberIter) next() (string, bool) {
	m, ok := it.nextRaw()
	if !ok || len(m) == 0 {
		return "", ok
	}
	return unsafe.String(&m[0], len(m)), true
}

// memberListBytes reads a member list as setData writes it, returning it
// in stored form (tag included). Members must be strictly ascending and
// there must be at least one.
func (d *decoder) memberListBytes() []byte {
	start := d.buf
	n := d.count(1)
	if d.err != nil {
		return nil
	}
	if n == 0 {
		d.failf("empty set")
		return nil
	}
	size := 2 + uvarintLen(uint64(n))
	var prev []byte
	for i := range n {
		m := d.raw(d.length())
		if d.err != nil {
			return nil
		}
		if i > 0 && string(m) <= string(prev) {
			d.failf("member %q out of order", clip(string(m)))
			return nil
		}
		prev = m
		size += uvarintLen(uint64(len(m))) + len(m)
	}
	raw := start[:len(start)-len(d.buf)]
	out := append(make([]byte, 0, size), kindTag, byte(KindSet))
	if len(raw)+2 == size {
		return append(out, raw...)
	}
	out = binary.AppendUvarint(out, uint64(n))
	it := iterMembers(raw)
	for {
		m, ok := it.nextRaw()
		if !ok {
			return out
		}
		out = appendBytes(out, m)
	}
}
