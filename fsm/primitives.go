package fsm

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"unsafe"
)

// Building blocks shared by every encoding in the package: uvarints for
// lengths, counts and indexes, varints for times, and length-prefixed
// strings and byte slices.

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func appendStrings(dst []byte, ss []string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(ss)))
	for _, s := range ss {
		dst = appendString(dst, s)
	}
	return dst
}

// appendFields writes a field map in ascending name order, so equal maps
// always encode to equal bytes (Hash and snapshots depend on it).
func appendFields(dst []byte, m map[string][]byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(m)))
	var small [16]string // sessions have few fields: sort them on the stack
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		dst = appendString(dst, k)
		dst = appendBytes(dst, m[k])
	}
	return dst
}

// appendFieldList writes a record's fields. They are already in ascending
// name order, so the bytes are those appendFields writes for the same map.
func appendFieldList(dst []byte, fs []Field) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(fs)))
	for _, f := range fs {
		dst = appendString(dst, f.Name)
		dst = appendBytes(dst, f.Value)
	}
	return dst
}

// appendFramed appends a uvarint length followed by whatever body appends.
// The body is written in place and shifted right once its length is known,
// which avoids a second sizing pass over the value.
func appendFramed(dst []byte, body func([]byte) []byte) []byte {
	start := len(dst)
	dst = body(dst)
	n := len(dst) - start
	var hdr [binary.MaxVarintLen64]byte
	h := binary.PutUvarint(hdr[:], uint64(n))
	dst = append(dst, hdr[:h]...) // grow by h
	copy(dst[start+h:], dst[start:start+n])
	copy(dst[start:], hdr[:h])
	return dst
}

// Exact sizes of the encodings above, for EncodedSize.

func sizeUvarint(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

// sizeVarint is the size of binary.AppendVarint's zig-zag encoding.
func sizeVarint(v int64) int { return sizeUvarint(uint64(v<<1) ^ uint64(v>>63)) }

func sizeString(s string) int { return sizeUvarint(uint64(len(s))) + len(s) }

func sizeStrings(ss []string) int {
	n := sizeUvarint(uint64(len(ss)))
	for _, s := range ss {
		n += sizeString(s)
	}
	return n
}

// sizeFields is the size of appendFields(m).
func sizeFields(m map[string][]byte) int {
	n := sizeUvarint(uint64(len(m)))
	for k, v := range m {
		n += sizeString(k) + sizeUvarint(uint64(len(v))) + len(v)
	}
	return n
}

// decoder reads the encodings above from a byte slice. Its error is sticky:
// after the first failure every read returns a zero value, so decoding code
// can read a whole structure and check the error once. Every length and
// count is checked against the bytes that remain before anything is
// allocated, so hostile input cannot make it allocate more than a small
// multiple of its own size.
type decoder struct {
	buf []byte
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.buf = nil
}

func (d *decoder) failf(format string, args ...any) {
	if d.err == nil {
		d.fail(fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...)))
	}
}

func (d *decoder) u8() byte {
	if len(d.buf) == 0 {
		d.failf("truncated")
		return 0
	}
	b := d.buf[0]
	d.buf = d.buf[1:]
	return b
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.failf("bad uvarint")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.failf("bad varint")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

// length reads a byte length and checks that that many bytes remain.
func (d *decoder) length() int {
	v := d.uvarint()
	if v > uint64(len(d.buf)) {
		d.failf("length %d exceeds %d remaining bytes", v, len(d.buf))
		return 0
	}
	return int(v)
}

// count reads an element count; each element takes at least minSize bytes,
// which bounds the count by the remaining input.
func (d *decoder) count(minSize int) int {
	v := d.uvarint()
	if v > uint64(len(d.buf)/minSize) {
		d.failf("count %d too large for %d remaining bytes", v, len(d.buf))
		return 0
	}
	return int(v)
}

// raw returns the next n bytes without copying.
func (d *decoder) raw(n int) []byte {
	if n > len(d.buf) {
		d.failf("truncated")
		return nil
	}
	b := d.buf[:n:n]
	d.buf = d.buf[n:]
	return b
}

// str copies a length-prefixed string out of the input (the input buffer
// may be reused by raft, and ids outlive it).
func (d *decoder) str() string {
	return string(d.raw(d.length()))
}

// view reads a length-prefixed string as a view of the input, not a
// copy: valid only while the input is, for ApplyBatch's commands whose
// apply copies what it keeps (a create's id).
func (d *decoder) view() string {
	b := d.raw(d.length())
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// bytes copies a length-prefixed byte slice; empty values decode as a
// non-nil empty slice.
func (d *decoder) bytes() []byte {
	b := d.raw(d.length())
	if d.err != nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}

func (d *decoder) strs() []string {
	n := d.count(1)
	if n == 0 {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.str()
	}
	if d.err != nil {
		return nil
	}
	return ss
}

// fields reads a field map; nil when empty. Duplicate names are corrupt.
func (d *decoder) fields() map[string][]byte {
	n := d.count(2)
	if n == 0 {
		return nil
	}
	m := make(map[string][]byte, n)
	for range n {
		k := d.str()
		v := d.bytes()
		if d.err != nil {
			return nil
		}
		if _, dup := m[k]; dup {
			d.failf("duplicate field %q", clip(k))
			return nil
		}
		m[k] = v
	}
	return m
}

// finish reports the first error, or ErrCorrupt if input remains.
func (d *decoder) finish() error {
	if d.err == nil && len(d.buf) != 0 {
		d.failf("%d trailing bytes", len(d.buf))
	}
	return d.err
}

// clip shortens s for error messages.
func clip(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
