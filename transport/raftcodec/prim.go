package raftcodec

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Encoding primitives.

func putUvarint(dst []byte, v uint64) []byte { return binary.AppendUvarint(dst, v) }
func putVarint(dst []byte, v int64) []byte   { return binary.AppendVarint(dst, v) }

func putBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func putBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, 1)
	}
	return append(dst, 0)
}

func putHeader(dst []byte, h *raft.RPCHeader) []byte {
	dst = putVarint(dst, int64(h.ProtocolVersion))
	dst = putBytes(dst, h.ID)
	return putBytes(dst, h.Addr)
}

func putTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(dst, 0)
	}
	dst = append(dst, 1)
	dst = putVarint(dst, t.Unix())
	return putUvarint(dst, uint64(t.Nanosecond()))
}

// reader decodes from one message. The first error sticks: later reads
// return zero values, and err reports the first failure.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
	r.off = len(r.b)
}

func (r *reader) left() int { return len(r.b) - r.off }

func (r *reader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail("%s: bad uvarint at offset %d", what, r.off)
		return 0
	}
	r.off += n
	return v
}

func (r *reader) varint(what string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b[r.off:])
	if n <= 0 {
		r.fail("%s: bad varint at offset %d", what, r.off)
		return 0
	}
	r.off += n
	return v
}

func (r *reader) byte(what string) byte {
	if r.err != nil {
		return 0
	}
	if r.left() < 1 {
		r.fail("%s: truncated", what)
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *reader) bool(what string) bool {
	switch c := r.byte(what); c {
	case 0:
		return false
	case 1:
		return true
	default:
		r.fail("%s: boolean byte %d", what, c)
		return false
	}
}

// bytes returns a length-prefixed byte string aliasing the input; an
// empty one is nil, so decoding allocates nothing for it.
func (r *reader) bytes(what string) []byte {
	n := r.uvarint(what)
	if r.err != nil {
		return nil
	}
	if n > uint64(r.left()) {
		r.fail("%s: length %d beyond the %d bytes left", what, n, r.left())
		return nil
	}
	if n == 0 {
		return nil
	}
	b := r.b[r.off : r.off+int(n) : r.off+int(n)]
	r.off += int(n)
	return b
}

func (r *reader) header(h *raft.RPCHeader) {
	h.ProtocolVersion = raft.ProtocolVersion(r.varint("protocol version"))
	h.ID = r.bytes("header id")
	h.Addr = r.bytes("header addr")
}

func (r *reader) time(what string) time.Time {
	switch c := r.byte(what); c {
	case 0:
		return time.Time{}
	case 1:
		sec := r.varint(what)
		nsec := r.uvarint(what)
		if nsec >= 1e9 {
			r.fail("%s: %d nanoseconds", what, nsec)
			return time.Time{}
		}
		return time.Unix(sec, int64(nsec))
	default:
		r.fail("%s: presence byte %d", what, c)
		return time.Time{}
	}
}

// end reports the first error, or trailing bytes.
func (r *reader) end(what string) error {
	if r.err == nil && r.left() != 0 {
		r.fail("%s: %d trailing bytes", what, r.left())
	}
	return r.err
}
