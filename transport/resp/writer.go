package resp

import (
	"math"
	"strconv"
	"strings"
)

// Writer encodes replies into an in-memory buffer for one protocol version.
// Handlers describe a reply once (a map, a boolean, a null) and the Writer
// picks the RESP3 type or its RESP2 fallback, so command code never
// branches on the protocol. The zero value is not ready; use NewWriter.
type Writer struct {
	buf   []byte
	proto int
}

// NewWriter returns a Writer for RESP version proto (3, or anything else
// for 2).
func NewWriter(proto int) *Writer {
	w := &Writer{}
	w.SetProto(proto)
	return w
}

// Proto returns the protocol version (2 or 3) replies are encoded in.
func (w *Writer) Proto() int { return w.proto }

// SetProto changes the protocol version of subsequent writes. HELLO needs
// it: its reply must already use the version it switches to.
func (w *Writer) SetProto(proto int) {
	if proto != 3 {
		proto = 2
	}
	w.proto = proto
}

// Bytes returns the encoded replies. The slice aliases the Writer's buffer.
func (w *Writer) Bytes() []byte { return w.buf }

// Len returns the number of encoded bytes.
func (w *Writer) Len() int { return len(w.buf) }

// Reset discards the encoded bytes, keeping the buffer.
func (w *Writer) Reset() { w.buf = w.buf[:0] }

// WriteSimple writes a simple string ("+OK"). CR and LF in s would break
// framing, so they are replaced by spaces.
func (w *Writer) WriteSimple(s string) {
	w.buf = append(w.buf, '+')
	w.buf = appendLine(w.buf, s)
	w.buf = append(w.buf, '\r', '\n')
}

// WriteError writes an error reply "-CODE msg" (just "-CODE" if msg is
// empty). code should be one of the wire package's stable codes. CR and LF
// are replaced by spaces.
func (w *Writer) WriteError(code, msg string) {
	w.buf = append(w.buf, '-')
	w.buf = appendLine(w.buf, code)
	if msg != "" {
		w.buf = append(w.buf, ' ')
		w.buf = appendLine(w.buf, msg)
	}
	w.buf = append(w.buf, '\r', '\n')
}

// WriteInt writes an integer.
func (w *Writer) WriteInt(n int64) {
	w.buf = append(w.buf, ':')
	w.buf = strconv.AppendInt(w.buf, n, 10)
	w.buf = append(w.buf, '\r', '\n')
}

// WriteBulk writes a bulk string (binary safe). A nil b is an empty string,
// not a null; use WriteNull for that.
func (w *Writer) WriteBulk(b []byte) {
	w.buf = appendPrefix(w.buf, '$', len(b))
	w.buf = append(w.buf, b...)
	w.buf = append(w.buf, '\r', '\n')
}

// WriteBulkString writes a bulk string.
func (w *Writer) WriteBulkString(s string) {
	w.buf = appendPrefix(w.buf, '$', len(s))
	w.buf = append(w.buf, s...)
	w.buf = append(w.buf, '\r', '\n')
}

// WriteBulkAppend writes a bulk string whose content appendTo appends to
// the buffer it is given (and returns), for content encoded straight into
// the reply rather than built elsewhere and copied. Its length is known
// only afterwards: the content is moved up by the length prefix's width
// (one memmove of the content, cheaper than a second pass to size it).
func (w *Writer) WriteBulkAppend(appendTo func([]byte) []byte) {
	start := len(w.buf)
	w.buf = appendTo(w.buf)
	n := len(w.buf) - start
	var hdr [24]byte
	h := appendPrefix(hdr[:0], '$', n)
	w.buf = append(w.buf, h...) // room for the prefix
	copy(w.buf[start+len(h):], w.buf[start:start+n])
	copy(w.buf[start:], h)
	w.buf = append(w.buf, '\r', '\n')
}

// PreparedBulk is a bulk string encoded once, by PrepareBulk, to be
// written many times (WritePrepared): the constant keys of a reply, which
// WriteBulkString would encode again for every reply. A bulk string reads
// the same in RESP2 and RESP3, so one encoding serves both.
type PreparedBulk struct{ enc string }

// PrepareBulk encodes s as a bulk string for WritePrepared.
func PrepareBulk(s string) PreparedBulk {
	w := Writer{}
	w.WriteBulkString(s)
	return PreparedBulk{string(w.buf)}
}

// WritePrepared writes a bulk string encoded by PrepareBulk; the bytes are
// those WriteBulkString would write.
func (w *Writer) WritePrepared(b PreparedBulk) { w.buf = append(w.buf, b.enc...) }

// WriteNull writes a null: "_" in RESP3, the null bulk string "$-1" in
// RESP2.
func (w *Writer) WriteNull() {
	if w.proto == 3 {
		w.buf = append(w.buf, '_', '\r', '\n')
	} else {
		w.buf = append(w.buf, '$', '-', '1', '\r', '\n')
	}
}

// WriteArrayLen starts an array of n elements, which must follow. A
// negative n writes a null array ("*-1" in RESP2, "_" in RESP3).
func (w *Writer) WriteArrayLen(n int) {
	if n < 0 {
		if w.proto == 3 {
			w.buf = append(w.buf, '_', '\r', '\n')
		} else {
			w.buf = append(w.buf, '*', '-', '1', '\r', '\n')
		}
		return
	}
	w.buf = appendPrefix(w.buf, '*', n)
}

// WriteMapLen starts a map of n key/value pairs (2n values follow). RESP2
// has no map type, so it is sent as a flat array of 2n elements, as Redis
// does.
func (w *Writer) WriteMapLen(n int) {
	if w.proto == 3 {
		w.buf = appendPrefix(w.buf, '%', n)
	} else {
		w.buf = appendPrefix(w.buf, '*', 2*n)
	}
}

// WriteSetLen starts a set of n elements (an array in RESP2).
func (w *Writer) WriteSetLen(n int) {
	if w.proto == 3 {
		w.buf = appendPrefix(w.buf, '~', n)
	} else {
		w.buf = appendPrefix(w.buf, '*', n)
	}
}

// WritePushLen starts an out-of-band push message of n elements (an array
// in RESP2).
func (w *Writer) WritePushLen(n int) {
	if w.proto == 3 {
		w.buf = appendPrefix(w.buf, '>', n)
	} else {
		w.buf = appendPrefix(w.buf, '*', n)
	}
}

// WriteBool writes a boolean: "#t"/"#f" in RESP3, ":1"/":0" in RESP2.
func (w *Writer) WriteBool(b bool) {
	switch {
	case w.proto == 3 && b:
		w.buf = append(w.buf, '#', 't', '\r', '\n')
	case w.proto == 3:
		w.buf = append(w.buf, '#', 'f', '\r', '\n')
	case b:
		w.buf = append(w.buf, ':', '1', '\r', '\n')
	default:
		w.buf = append(w.buf, ':', '0', '\r', '\n')
	}
}

// WriteDouble writes a floating point number: a RESP3 double, or in RESP2 a
// bulk string with the same text (as Redis does). The shortest text that
// parses back to f exactly is used; infinities are "inf"/"-inf", NaN "nan".
func (w *Writer) WriteDouble(f float64) {
	var tmp [32]byte
	s := appendFloat(tmp[:0], f)
	if w.proto == 3 {
		w.buf = append(w.buf, ',')
		w.buf = append(w.buf, s...)
		w.buf = append(w.buf, '\r', '\n')
		return
	}
	w.WriteBulk(s)
}

// WriteBigNumber writes an arbitrary precision integer given as decimal
// digits with an optional leading '-': "(" in RESP3, a bulk string in RESP2.
func (w *Writer) WriteBigNumber(digits string) {
	if w.proto != 3 {
		w.WriteBulkString(digits)
		return
	}
	w.buf = append(w.buf, '(')
	w.buf = appendLine(w.buf, digits)
	w.buf = append(w.buf, '\r', '\n')
}

// WriteVerbatim writes human-readable text (INFO-like output) as a RESP3
// verbatim string with a three-letter format ("txt" or "mkd"; anything not
// three bytes long becomes "txt"), or as a plain bulk string in RESP2.
func (w *Writer) WriteVerbatim(format, text string) {
	if w.proto != 3 {
		w.WriteBulkString(text)
		return
	}
	if len(format) != 3 {
		format = "txt"
	}
	w.buf = appendPrefix(w.buf, '=', len(text)+4)
	w.buf = append(w.buf, format...)
	w.buf = append(w.buf, ':')
	w.buf = append(w.buf, text...)
	w.buf = append(w.buf, '\r', '\n')
}

// appendPrefix appends a type byte, a length and CRLF.
func appendPrefix(b []byte, typ byte, n int) []byte {
	b = append(b, typ)
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '\r', '\n')
}

// appendLine appends s with CR and LF replaced by spaces, so that a
// message containing a newline cannot inject a second reply.
func appendLine(b []byte, s string) []byte {
	if strings.IndexByte(s, '\r') < 0 && strings.IndexByte(s, '\n') < 0 {
		return append(b, s...) // the common case, scanned with SIMD
	}
	start := len(b)
	b = append(b, s...)
	for i := start; i < len(b); i++ {
		if b[i] == '\r' || b[i] == '\n' {
			b[i] = ' '
		}
	}
	return b
}

func appendFloat(b []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(b, "inf"...)
	case math.IsInf(f, -1):
		return append(b, "-inf"...)
	case math.IsNaN(f):
		return append(b, "nan"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}
