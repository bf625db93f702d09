package fsm

import (
	"encoding/binary"
	"strings"
	"unsafe"
)

// A record's fields are stored as one byte slice in the very encoding
// records and commands use for them (appendFieldList): uvarint count, then
// per field, in strictly ascending name order, uvarint name length, name,
// uvarint value length, value. One allocation per record instead of a
// []Field plus a value per field (and a name per field): for a session of
// one 256-byte field that is 288 bytes instead of 48 + 256, the values
// handed out are subslices with no per-read allocation, and encoding a
// record (snapshots, read forwarding, Hash) is a copy. Fields are few per
// record (MaxFields), so lookups scan.
//
// A field list is immutable once built: readers share it without locks.

// fieldIter walks an encoded field list. The list was validated when it
// was built (buildFieldList, decoder.fieldListBytes), so next trusts it.
type fieldIter struct {
	b []byte
	n uint64 // fields left
}

func iterFields(list []byte) fieldIter {
	if len(list) == 0 {
		return fieldIter{}
	}
	n, k := binary.Uvarint(list)
	return fieldIter{b: list[k:], n: n}
}

// next returns the next field; the value is capped at its length, so an
// append to it can never write into the next field. The name is a string
// over the list's own bytes, not a copy: a list is never written after it
// is built, and handing out names must not allocate on every read.
func (it *fieldIter) next() (name string, value []byte, ok bool) {
	n, v, ok := it.nextRaw()
	if !ok || len(n) == 0 {
		return "", v, ok
	}
	return unsafe.String(&n[0], len(n)), v, true
}

// nextRaw is next without converting the name (no allocation).
func (it *fieldIter) nextRaw() (name, value []byte, ok bool) {
	if it.n == 0 {
		return nil, nil, false
	}
	it.n--
	l, k := binary.Uvarint(it.b)
	name = it.b[k : k+int(l)]
	it.b = it.b[k+int(l):]
	l, k = binary.Uvarint(it.b)
	end := k + int(l)
	value = it.b[k:end:end]
	it.b = it.b[end:]
	return name, value, true
}

// fieldCount returns the number of fields in an encoded list.
func fieldCount(list []byte) int {
	if len(list) == 0 {
		return 0
	}
	n, _ := binary.Uvarint(list)
	return int(n)
}

// lookupField returns the value of the named field.
func lookupField(list []byte, name string) ([]byte, bool) {
	it := iterFields(list)
	for {
		n, v, ok := it.nextRaw()
		if !ok {
			return nil, false
		}
		switch c := strings.Compare(string(n), name); {
		case c == 0:
			return v, true
		case c > 0: // ascending order: it is not there
			return nil, false
		}
	}
}

// fieldListBytes returns the bytes of names and values of an encoded list,
// for Record.Size.
func fieldListBytes(list []byte) int {
	total := 0
	it := iterFields(list)
	for {
		n, v, ok := it.nextRaw()
		if !ok {
			return total
		}
		total += len(n) + len(v)
	}
}

// buildFieldList encodes fs, which must be sorted by name without
// duplicates, into one new exactly sized allocation; nil when fs is empty.
// The values are copied, so the caller may reuse fs and what it points to.
func buildFieldList(fs []Field) []byte {
	if len(fs) == 0 {
		return nil
	}
	return appendFieldList(make([]byte, 0, fieldListSize(fs)), fs)
}

// setFields gives r the id, subject and field list fs (as buildFieldList
// encodes it) in one new allocation (Record.data): the id and subject are
// copied, since the caller's may be views of a raft entry (decoder.view).
func (r *Record) setFields(id, subject string, fs []Field) {
	n := 0
	if len(fs) > 0 {
		n = fieldListSize(fs)
	}
	buf := recordBuf(id, subject, n)
	if len(fs) > 0 {
		buf = appendFieldList(buf, fs)
	}
	r.setBuf(buf, len(id), len(subject))
}

// fieldListSize is the length of fs's encoding (appendFieldList).
func fieldListSize(fs []Field) int {
	size := uvarintLen(uint64(len(fs)))
	for _, f := range fs {
		size += uvarintLen(uint64(len(f.Name))) + len(f.Name) + uvarintLen(uint64(len(f.Value))) + len(f.Value)
	}
	return size
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// fieldListAfter reads a record's field list as written by appendFieldList
// (or appendFields) and returns a record's data: id and subject (copied),
// then tag and the list in stored form, in one allocation. With no fields
// the payload is empty, tag included; on an error the data is empty.
// Names must be strictly ascending, which every encoder has always
// written: anything else (a duplicate included) is corrupt. The stored
// form is canonical (shortest varints) whatever the input used, so
// decoding and re-encoding a record always gives the same bytes.
func (d *decoder) fieldListAfter(id, subject []byte, tag ...byte) recordData {
	start := d.buf
	n := d.count(2)
	if d.err != nil {
		return recordData{}
	}
	if n == 0 {
		return newRecordData(id, subject, 0)
	}
	size := uvarintLen(uint64(n))
	var prev []byte
	for i := range n {
		name := d.raw(d.length())
		value := d.raw(d.length())
		if d.err != nil {
			return recordData{}
		}
		if i > 0 && string(name) <= string(prev) {
			d.failf("field %q out of order", clip(string(name)))
			return recordData{}
		}
		prev = name
		size += uvarintLen(uint64(len(name))) + len(name) + uvarintLen(uint64(len(value))) + len(value)
	}
	raw := start[:len(start)-len(d.buf)]
	out := newRecordData(id, subject, len(tag)+size)
	out.buf = append(out.buf, tag...)
	if len(raw) == size { // already canonical: copy it as it is
		out.buf = append(out.buf, raw...)
		return out
	}
	out.buf = binary.AppendUvarint(out.buf, uint64(n))
	it := iterFields(raw) // binary.Uvarint reads the longer varints too
	for {
		name, value, ok := it.nextRaw()
		if !ok {
			return out
		}
		out.buf = appendBytes(out.buf, name)
		out.buf = appendBytes(out.buf, value)
	}
}
