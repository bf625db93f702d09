package resp

import (
	"bufio"
	"bytes"
	"io"
	"math"
)

// Low-level framing helpers shared by the request parser (Reader) and the
// reply parser (ReadValue).

// blobStep caps how much memory is reserved for a length-prefixed string
// before its bytes have actually arrived. A client can declare a huge length
// and send nothing; growing in steps means memory follows received bytes,
// not promises.
const blobStep = 256 << 10

// readLine reads one line and returns it without its terminator. With strict
// set the line must end in "\r\n" (RESP framing); otherwise a bare "\n" is
// accepted too, as telnet users send. The content may be at most max bytes.
//
// The result aliases br's buffer or *acc and is valid only until the next
// read from br. Lines longer than br's buffer are accumulated in *acc.
func readLine(br *bufio.Reader, max int, acc *[]byte, strict bool) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == nil {
		return trimLine(line, max, strict)
	}
	if err != bufio.ErrBufferFull {
		return nil, unexpectedEOF(err, len(line) > 0)
	}
	buf := append((*acc)[:0], line...)
	for {
		if len(buf) > max+2 {
			*acc = buf[:0]
			return nil, tooLarge("line longer than %d bytes", max)
		}
		line, err = br.ReadSlice('\n')
		buf = append(buf, line...)
		if err == nil {
			break
		}
		if err != bufio.ErrBufferFull {
			*acc = buf[:0]
			return nil, unexpectedEOF(err, true)
		}
	}
	*acc = buf
	return trimLine(buf, max, strict)
}

// trimLine strips the terminator from a line that ends in '\n'.
func trimLine(line []byte, max int, strict bool) ([]byte, error) {
	n := len(line) - 1
	if n > 0 && line[n-1] == '\r' {
		n--
	} else if strict {
		return nil, protoErr("line not terminated by CRLF")
	}
	if n > max {
		return nil, tooLarge("line longer than %d bytes", max)
	}
	if strict && bytes.IndexByte(line[:n], '\r') >= 0 {
		// RESP lines cannot contain CR: a writer could not have produced it.
		return nil, protoErr("CR inside line")
	}
	return line[:n], nil
}

// unexpectedEOF turns io.EOF into io.ErrUnexpectedEOF when part of a
// message has already been read: only an EOF between messages is clean.
func unexpectedEOF(err error, partial bool) error {
	if partial && err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// parseInt parses a decimal integer strictly: an optional '-', then 1 to 19
// digits, nothing else (no '+', no spaces), without overflow.
func parseInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64 // 19 digits < 10^19 < 2^64: cannot overflow
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	switch {
	case neg && n == 1<<63:
		return math.MinInt64, true
	case n > math.MaxInt64:
		return 0, false
	case neg:
		return -int64(n), true
	}
	return int64(n), true
}

// readBlob appends the n bytes of a length-prefixed string to dst, then
// checks and consumes the "\r\n" that follows. It reserves memory at most
// blobStep ahead of the bytes received (see blobStep).
func readBlob(br *bufio.Reader, dst []byte, n int) ([]byte, error) {
	start := len(dst)
	need := n + 2
	if need <= br.Buffered() {
		// Fast path: the whole string is already buffered (small pipelined
		// commands).
		p, _ := br.Peek(need)
		if p[n] != '\r' || p[n+1] != '\n' {
			return dst, protoErr("bulk string not terminated by CRLF")
		}
		dst = append(dst, p[:n]...)
		_, _ = br.Discard(need)
		return dst, nil
	}
	for need > 0 {
		step := need
		if avail := cap(dst) - len(dst); step > avail && step > blobStep {
			step = max(avail, blobStep)
		}
		dst = grow(dst, step, need)
		l := len(dst)
		dst = dst[:l+step]
		if _, err := io.ReadFull(br, dst[l:]); err != nil {
			return dst[:start], unexpectedEOF(err, true)
		}
		need -= step
	}
	end := len(dst)
	if dst[end-2] != '\r' || dst[end-1] != '\n' {
		return dst[:start], protoErr("bulk string not terminated by CRLF")
	}
	return dst[:end-2], nil
}

// grow returns b with room for at least n more bytes. It doubles capacity
// (amortised O(1) appends) but never reserves more than limit bytes beyond
// len(b), which is the most that can still be needed.
func grow(b []byte, n, limit int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	c := max(2*cap(b), len(b)+n, 512)
	c = min(c, len(b)+limit)
	nb := make([]byte, len(b), c)
	copy(nb, b)
	return nb
}
