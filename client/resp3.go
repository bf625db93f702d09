package client

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// A small RESP3 reader for the cache's tracking connection (tracking.go),
// which reads invalidation pushes between the replies to its own few
// commands; rueidis has no public way to hand such a connection its
// pushes without its own cache. Bounds keep a broken or hostile peer from
// making it allocate without limit.

const (
	maxRESPBulk  = 64 << 20 // bytes in one bulk string
	maxRESPElems = 1 << 20  // elements in one aggregate
	maxRESPDepth = 8        // nesting of aggregates
)

// errRESP says the peer sent something that is not RESP3 (or is past the
// bounds above); the connection cannot continue.
var errRESP = errors.New("sessionraft: malformed RESP3 from the server")

// rvalue is one RESP3 value. kind is its type byte ('+', '-', ':', '$',
// '_', '*', '>', '%', '~', '#', ',', '(', '='); null is true for '_' and
// the RESP2 null forms ("$-1", "*-1").
type rvalue struct {
	kind  byte
	null  bool
	str   string // simple, error, bulk, verbatim, double and big number text
	num   int64  // integer; boolean as 0/1
	elems []rvalue
}

// readValue reads one value.
func readValue(br *bufio.Reader) (rvalue, error) { return readValueDepth(br, 0) }

func readValueDepth(br *bufio.Reader, depth int) (rvalue, error) {
	if depth > maxRESPDepth {
		return rvalue{}, fmt.Errorf("%w: nested deeper than %d", errRESP, maxRESPDepth)
	}
	line, err := readLine(br)
	if err != nil {
		return rvalue{}, err
	}
	if len(line) == 0 {
		return rvalue{}, fmt.Errorf("%w: empty line", errRESP)
	}
	v := rvalue{kind: line[0]}
	body := string(line[1:])
	switch v.kind {
	case '+', '-', ',', '(':
		v.str = body
	case ':':
		if v.num, err = strconv.ParseInt(body, 10, 64); err != nil {
			return rvalue{}, fmt.Errorf("%w: integer %q", errRESP, body)
		}
	case '#':
		switch body {
		case "t":
			v.num = 1
		case "f":
		default:
			return rvalue{}, fmt.Errorf("%w: boolean %q", errRESP, body)
		}
	case '_':
		if body != "" {
			return rvalue{}, fmt.Errorf("%w: null with a body", errRESP)
		}
		v.null = true
	case '$', '=', '!':
		n, err := strconv.Atoi(body)
		switch {
		case err != nil || n < -1:
			return rvalue{}, fmt.Errorf("%w: length %q", errRESP, body)
		case n == -1:
			v.null = true
			return v, nil
		case n > maxRESPBulk:
			return rvalue{}, fmt.Errorf("%w: bulk of %d bytes", errRESP, n)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(br, buf); err != nil {
			return rvalue{}, err
		}
		if buf[n] != '\r' || buf[n+1] != '\n' {
			return rvalue{}, fmt.Errorf("%w: bulk not ended by CRLF", errRESP)
		}
		v.str = string(buf[:n])
		if v.kind == '!' {
			v.kind = '-'
		}
	case '*', '>', '~', '%':
		n, err := strconv.Atoi(body)
		switch {
		case err != nil || n < -1:
			return rvalue{}, fmt.Errorf("%w: length %q", errRESP, body)
		case n == -1:
			v.null = true
			return v, nil
		case n > maxRESPElems:
			return rvalue{}, fmt.Errorf("%w: %d elements", errRESP, n)
		}
		if v.kind == '%' {
			n *= 2
		}
		v.elems = make([]rvalue, 0, min(n, 64))
		for range n {
			e, err := readValueDepth(br, depth+1)
			if err != nil {
				return rvalue{}, err
			}
			v.elems = append(v.elems, e)
		}
	default:
		return rvalue{}, fmt.Errorf("%w: type %q", errRESP, v.kind)
	}
	return v, nil
}

// readLine reads a CRLF-terminated line of at most 64 KiB, without the
// CRLF.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		part, err := br.ReadSlice('\n')
		line = append(line, part...)
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
		if len(line) > 64<<10 {
			return nil, fmt.Errorf("%w: line longer than 64 KiB", errRESP)
		}
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("%w: line not ended by CRLF", errRESP)
	}
	return line[:len(line)-2], nil
}

// appendCommand appends args as a RESP array of bulk strings.
func appendCommand(b []byte, args ...string) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	return b
}
