package resp

import (
	"bufio"
	"io"
)

// Limits bound what a peer can make us buffer. A zero field means "use the
// default", so Limits{} is the default configuration.
type Limits struct {
	MaxBulkLen  int // largest bulk string; default 8 MiB
	MaxArrayLen int // most array elements (requests) / elements in one reply; default 1<<20
	MaxLineLen  int // longest simple line or inline command; default 64 KiB
	// MaxTotalLen bounds the sum of all argument bytes of one request (or
	// of all string bytes in one reply). Without it MaxArrayLen ×
	// MaxBulkLen would let one request buffer terabytes. Default 64 MiB.
	MaxTotalLen int
}

// DefaultLimits returns the default limits.
func DefaultLimits() Limits {
	return Limits{
		MaxBulkLen:  8 << 20,
		MaxArrayLen: 1 << 20,
		MaxLineLen:  64 << 10,
		MaxTotalLen: 64 << 20,
	}
}

// withDefaults fills zero (or negative) fields with their defaults.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxBulkLen <= 0 {
		l.MaxBulkLen = d.MaxBulkLen
	}
	if l.MaxArrayLen <= 0 {
		l.MaxArrayLen = d.MaxArrayLen
	}
	if l.MaxLineLen <= 0 {
		l.MaxLineLen = d.MaxLineLen
	}
	if l.MaxTotalLen <= 0 {
		l.MaxTotalLen = d.MaxTotalLen
	}
	return l
}

const (
	// readBufSize is the per-connection read buffer. 16 KiB holds hundreds
	// of small pipelined commands per read(2), while 10k mostly idle
	// connections cost 160 MiB rather than the 640 MiB of 64 KiB buffers.
	readBufSize = 16 << 10
	// keepArgBuf is the largest argument scratch buffer kept between
	// commands; larger ones are handed to the caller instead of copied.
	keepArgBuf = 64 << 10
	// Small commands' arguments and slice headers are carved out of slabs
	// shared by consecutive commands: one allocation per slab instead of
	// two per command (the read path's most frequent allocations). A
	// command pins at most its slab, argSlab + hdrSlab*24 bytes; commands
	// with more than argSlabMax bytes or hdrSlabMax arguments get their own.
	argSlab    = 2 << 10
	argSlabMax = 512
	hdrSlab    = 64
	hdrSlabMax = 16
)

// Reader parses client requests. It is not safe for concurrent use.
type Reader struct {
	br   *bufio.Reader
	l    Limits
	buf  []byte // argument bytes of the command being parsed
	ends []int  // end offset in buf of each argument
	line []byte // accumulates lines longer than br's buffer
	err  error  // sticky: the stream position is unknown after an error

	// slab and hdrs are where small commands' arguments and headers go;
	// what is handed out is never written again, so it belongs to the
	// caller as if allocated for it alone.
	slab []byte
	hdrs [][]byte
}

// NewReader returns a Reader that parses requests from r within limits l
// (zero fields take their defaults).
func NewReader(r io.Reader, l Limits) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, readBufSize), l: l.withDefaults()}
}

// Buffered returns the number of bytes already read from the underlying
// reader but not yet parsed.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// ReadCommand reads one request: a RESP array of bulk strings, or an inline
// command (a line of space-separated words with Redis' quoting rules).
// Empty arrays and blank lines are skipped, as Redis does.
//
// The returned arguments are owned by the caller and stay valid forever:
// they are sub-slices (with capacity clipped) of memory never handed out
// twice (for small commands, a slab shared with neighbouring commands).
// Handlers run concurrently with the parsing of the next pipelined request,
// so aliasing a reused buffer would be a data race waiting to happen; one
// copy into a per-command arena is the price.
//
// Malformed input yields an error wrapping ErrProtocol; input beyond the
// Limits an error wrapping ErrTooLarge. io.EOF means the stream ended
// cleanly between requests, io.ErrUnexpectedEOF inside one. After any error
// the Reader is unusable and keeps returning that error.
func (r *Reader) ReadCommand() ([][]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	for {
		args, err := r.next()
		if err != nil {
			r.err = err
			r.buf, r.ends, r.line = nil, nil, nil
			return nil, err
		}
		if args != nil {
			return args, nil
		}
	}
}

// next parses one request; it returns nil args for an empty one.
func (r *Reader) next() ([][]byte, error) {
	b, err := r.br.Peek(1)
	if err != nil {
		return nil, err
	}
	r.buf, r.ends = r.buf[:0], r.ends[:0]
	if b[0] == '*' {
		err = r.readArray()
	} else {
		err = r.readInline()
	}
	if err != nil || len(r.ends) == 0 {
		return nil, err
	}
	return r.build(), nil
}

func (r *Reader) readArray() error {
	line, err := readLine(r.br, r.l.MaxLineLen, &r.line, true)
	if err != nil {
		return err
	}
	n, ok := parseInt(line[1:])
	if !ok {
		return protoErr("invalid multibulk length %s", quote(line[1:]))
	}
	if n <= 0 {
		return nil // Redis ignores "*0" and "*-1"
	}
	if n > int64(r.l.MaxArrayLen) {
		return tooLarge("array of %d elements exceeds limit of %d", n, r.l.MaxArrayLen)
	}
	for range n {
		line, err := readLine(r.br, r.l.MaxLineLen, &r.line, true)
		if err != nil {
			return unexpectedEOF(err, true)
		}
		if len(line) == 0 || line[0] != '$' {
			return protoErr("expected '$', got %s", quote(line[:min(len(line), 1)]))
		}
		m, ok := parseInt(line[1:])
		if !ok || m < 0 {
			return protoErr("invalid bulk length %s", quote(line[1:]))
		}
		if m > int64(r.l.MaxBulkLen) {
			return tooLarge("bulk string of %d bytes exceeds limit of %d", m, r.l.MaxBulkLen)
		}
		if int64(len(r.buf))+m > int64(r.l.MaxTotalLen) {
			return tooLarge("request larger than %d bytes", r.l.MaxTotalLen)
		}
		if r.buf, err = readBlob(r.br, r.buf, int(m)); err != nil {
			return err
		}
		r.ends = append(r.ends, len(r.buf))
	}
	return nil
}

func (r *Reader) readInline() error {
	line, err := readLine(r.br, r.l.MaxLineLen, &r.line, false)
	if err != nil {
		return err
	}
	r.buf, r.ends, err = splitInline(line, r.buf, r.ends)
	if err == nil && len(r.ends) > r.l.MaxArrayLen {
		err = tooLarge("inline command of %d arguments exceeds limit of %d", len(r.ends), r.l.MaxArrayLen)
	}
	return err
}

// build copies the parsed arguments into caller-owned memory.
func (r *Reader) build() [][]byte {
	var arena []byte
	switch n := len(r.buf); {
	case cap(r.buf) > keepArgBuf:
		// Large request: hand the buffer over instead of copying it, and
		// do not keep a big buffer around on an idle connection.
		arena, r.buf = r.buf, nil
	case n > argSlabMax:
		arena = make([]byte, n)
		copy(arena, r.buf)
	default:
		if cap(r.slab)-len(r.slab) < n {
			r.slab = make([]byte, 0, argSlab)
		}
		start := len(r.slab)
		r.slab = append(r.slab, r.buf...)
		arena = r.slab[start:len(r.slab):len(r.slab)]
	}
	var args [][]byte
	if k := len(r.ends); k > hdrSlabMax {
		args = make([][]byte, k)
	} else {
		if cap(r.hdrs)-len(r.hdrs) < k {
			r.hdrs = make([][]byte, 0, hdrSlab)
		}
		start := len(r.hdrs)
		r.hdrs = r.hdrs[:start+k]
		args = r.hdrs[start : start+k : start+k]
	}
	start := 0
	for i, end := range r.ends {
		args[i] = arena[start:end:end]
		start = end
	}
	if cap(r.ends) > 1024 {
		r.ends = nil
	}
	return args
}

// quote renders client bytes for an error message: quoted, escaped and
// truncated, so the message stays one short line.
func quote(b []byte) string {
	// Short: a client that lost its framing may have sent part of a
	// session id or a field value where a length was expected, and this
	// text reaches the client's error reply and the server's log.
	const max = 6
	if len(b) > max {
		return quoteString(string(b[:max])) + "..."
	}
	return quoteString(string(b))
}
