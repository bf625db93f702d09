package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
)

// The packed record: SESSION.GET id ... PACKED answers a session as one
// bulk string in this form instead of a map of 9 entries (18 RESP elements
// in RESP2, with the fields nested). The record is the same; what changes
// is what a client pays to read it: a RESP client library makes a message
// per element, and the Go client then looks each key up by name. The Go
// client asks for it; other clients never see it.
//
// Layout (varint: encoding/binary's signed, uvarint: unsigned):
//
//	byte     format, PackedFormat
//	uvarint  length of id, then id
//	uvarint  length of subject, then subject
//	uvarint  version
//	varint   created, last access, idle timeout, absolute deadline and
//	         expiry, in milliseconds (Unix milliseconds for the times; 0:
//	         none)
//	uvarint  number of fields, then for each, in name order:
//	         uvarint length of name, name, uvarint length of value, value
//
// Nothing may follow. A later format gets a new first byte; a reader
// refuses one it does not know.

// PackedFormat is the first byte of a packed record.
const PackedFormat = 1

// Record is a packed record's fixed part. Times are in milliseconds as in
// the map reply (0: none).
type Record struct {
	ID, Subject   string
	Version       uint64
	CreatedMS     int64
	LastAccessMS  int64
	IdleMS        int64
	AbsDeadlineMS int64
	ExpiresAtMS   int64
}

// AppendPacked appends rec and its fields (in name order) in the packed
// form.
func AppendPacked(dst []byte, rec *Record, nfields int, fields iter.Seq2[string, []byte]) []byte {
	dst = append(dst, PackedFormat)
	dst = appendString(dst, rec.ID)
	dst = appendString(dst, rec.Subject)
	dst = binary.AppendUvarint(dst, rec.Version)
	for _, t := range [...]int64{rec.CreatedMS, rec.LastAccessMS, rec.IdleMS, rec.AbsDeadlineMS, rec.ExpiresAtMS} {
		dst = binary.AppendVarint(dst, t)
	}
	dst = binary.AppendUvarint(dst, uint64(nfields))
	for name, value := range fields {
		dst = appendString(dst, name)
		dst = binary.AppendUvarint(dst, uint64(len(value)))
		dst = append(dst, value...)
	}
	return dst
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// ErrPacked is the error of a packed record that does not parse.
var ErrPacked = errors.New("malformed packed record")

// ParsePacked reads a packed record and checks all of it; its fields are
// then read, in order and as often as needed, from the PackedFields it
// returns. The record's ID and Subject, and the fields' names and values,
// are substrings of b (no copies).
func ParsePacked(b string) (Record, PackedFields, error) {
	var rec Record
	p := packedReader{b: b}
	if f := p.byte(); f != PackedFormat {
		if p.err == nil {
			p.fail("format %d, want %d", f, PackedFormat)
		}
		return rec, PackedFields{}, p.err
	}
	rec.ID = p.string()
	rec.Subject = p.string()
	rec.Version = p.uvarint()
	for _, t := range [...]*int64{&rec.CreatedMS, &rec.LastAccessMS, &rec.IdleMS, &rec.AbsDeadlineMS, &rec.ExpiresAtMS} {
		*t = p.varint()
	}
	n := p.uvarint()
	// Each field takes at least two bytes: a count beyond that is a lie,
	// caught here rather than after reading what there is.
	if p.err == nil && n > uint64(len(p.b))/2 {
		p.fail("%d fields in %d bytes", n, len(p.b))
	}
	fs := PackedFields{rest: p.b, n: int(n)}
	for i := uint64(0); i < n && p.err == nil; i++ {
		p.string()
		p.string()
	}
	if p.err == nil && len(p.b) > 0 {
		p.fail("%d bytes after the record", len(p.b))
	}
	if p.err != nil {
		return rec, PackedFields{}, p.err
	}
	return rec, fs, nil
}

// PackedFields are a parsed packed record's fields, in name order. The
// zero value has none. Copies iterate independently.
type PackedFields struct {
	rest string // the fields still to read, checked by ParsePacked
	n    int
}

// Len is how many fields are left to read.
func (f *PackedFields) Len() int { return f.n }

// Next returns the next field, or ok false when there is none left.
func (f *PackedFields) Next() (name, value string, ok bool) {
	if f.n == 0 {
		return "", "", false
	}
	p := packedReader{b: f.rest}
	name, value = p.string(), p.string()
	f.rest, f.n = p.b, f.n-1
	return name, value, true
}

// packedReader consumes a packed record; the first error sticks. It reads
// varints itself because encoding/binary's readers take a []byte, and the
// reply arrives as a string: converting it would copy it.
type packedReader struct {
	b   string
	err error
}

func (p *packedReader) fail(format string, a ...any) {
	if p.err == nil {
		p.err = fmt.Errorf("%w: "+format, append([]any{ErrPacked}, a...)...)
	}
	p.b = ""
}

func (p *packedReader) byte() byte {
	if len(p.b) == 0 {
		p.fail("truncated")
		return 0
	}
	c := p.b[0]
	p.b = p.b[1:]
	return c
}

func (p *packedReader) uvarint() uint64 {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		if len(p.b) == 0 {
			p.fail("truncated")
			return 0
		}
		c := p.b[0]
		p.b = p.b[1:]
		if shift == 63 && c > 1 {
			p.fail("varint overflows 64 bits")
			return 0
		}
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
	}
}

func (p *packedReader) varint() int64 {
	u := p.uvarint()
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v
}

func (p *packedReader) string() string {
	n := p.uvarint()
	if p.err != nil {
		return ""
	}
	if n > uint64(len(p.b)) {
		p.fail("a length of %d with %d bytes left", n, len(p.b))
		return ""
	}
	s := p.b[:n]
	p.b = p.b[n:]
	return s
}
