package resp

import (
	"bufio"
	"math"
	"strconv"
	"strings"

	"github.com/sessionraft/sessionraft/transport/wire"
)

// Kind is the type of a reply Value.
type Kind int

// Reply kinds. The zero Kind is invalid, so a zero Value is recognisably
// "no reply".
const (
	SimpleString Kind = iota + 1 // "+OK"
	Error                        // "-CODE msg" or RESP3 blob error "!"
	Integer                      // ":1"
	Bulk                         // "$3\r\nabc"
	Null                         // "_", "$-1" or "*-1"
	Array                        // "*"
	Map                          // RESP3 "%"
	Set                          // RESP3 "~"
	Bool                         // RESP3 "#t" / "#f"
	Double                       // RESP3 ","
	BigNumber                    // RESP3 "("
	Verbatim                     // RESP3 "=" (Str holds the text without the "txt:" format prefix)
	Push                         // RESP3 ">"
)

var kindNames = [...]string{
	SimpleString: "simple string", Error: "error", Integer: "integer", Bulk: "bulk string",
	Null: "null", Array: "array", Map: "map", Set: "set", Bool: "boolean", Double: "double",
	BigNumber: "big number", Verbatim: "verbatim string", Push: "push",
}

func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is one parsed reply.
type Value struct {
	Kind  Kind
	Str   string  // SimpleString, Error, Bulk, BigNumber (digits), Verbatim
	Int   int64   // Integer
	Float float64 // Double
	Bool  bool    // Bool
	Elems []Value // Array, Set, Push; Map as alternating key, value
}

// Err returns a *ServerError for an error reply and nil otherwise.
func (v Value) Err() error {
	if v.Kind != Error {
		return nil
	}
	code, msg := wire.SplitError(v.Str)
	return &ServerError{Code: code, Msg: msg}
}

// String renders v for humans, roughly as redis-cli does.
func (v Value) String() string {
	var b strings.Builder
	v.format(&b)
	return b.String()
}

func (v Value) format(b *strings.Builder) {
	switch v.Kind {
	case SimpleString, Verbatim:
		b.WriteString(v.Str)
	case Error:
		b.WriteString("(error) " + v.Str)
	case Integer:
		b.WriteString("(integer) " + strconv.FormatInt(v.Int, 10))
	case Bulk:
		b.WriteString(strconv.Quote(v.Str))
	case Null:
		b.WriteString("(nil)")
	case Bool:
		b.WriteString("(" + strconv.FormatBool(v.Bool) + ")")
	case Double:
		b.WriteString("(double) " + string(appendFloat(nil, v.Float)))
	case BigNumber:
		b.WriteString("(big number) " + v.Str)
	case Array, Set, Push:
		b.WriteByte('[')
		for i, e := range v.Elems {
			if i > 0 {
				b.WriteString(", ")
			}
			e.format(b)
		}
		b.WriteByte(']')
	case Map:
		b.WriteByte('{')
		for i, e := range v.Elems {
			switch {
			case i%2 == 1:
				b.WriteString(": ")
			case i > 0:
				b.WriteString(", ")
			}
			e.format(b)
		}
		b.WriteByte('}')
	default:
		b.WriteString(v.Kind.String())
	}
}

// maxDepth bounds reply nesting, so a hostile peer cannot grow our stack
// with "*1\r\n*1\r\n..." forever.
const maxDepth = 64

// ReadValue reads one reply of any RESP2 or RESP3 type from br within
// limits l (zero fields take their defaults; MaxArrayLen and MaxTotalLen
// bound the whole reply, not just one level). RESP3 attributes are read
// and dropped. Errors wrap ErrProtocol or ErrTooLarge, or are I/O errors;
// io.EOF means the stream ended cleanly before the reply.
func ReadValue(br *bufio.Reader, l Limits) (Value, error) {
	vr := valueReader{br: br, l: l.withDefaults()}
	return vr.read(0)
}

type valueReader struct {
	br    *bufio.Reader
	l     Limits
	line  []byte
	elems int // elements read so far, against MaxArrayLen
	bytes int // string bytes read so far, against MaxTotalLen
}

func (vr *valueReader) read(depth int) (Value, error) {
	if depth > maxDepth {
		return Value{}, tooLarge("reply nested deeper than %d", maxDepth)
	}
	for {
		line, err := readLine(vr.br, vr.l.MaxLineLen, &vr.line, true)
		if err != nil {
			return Value{}, unexpectedEOF(err, depth > 0)
		}
		if len(line) == 0 {
			return Value{}, protoErr("empty reply line")
		}
		typ, rest := line[0], line[1:]
		switch typ {
		case '+':
			return Value{Kind: SimpleString, Str: string(rest)}, nil
		case '-':
			return Value{Kind: Error, Str: string(rest)}, nil
		case ':':
			n, ok := parseInt(rest)
			if !ok {
				return Value{}, protoErr("invalid integer %s", quote(rest))
			}
			return Value{Kind: Integer, Int: n}, nil
		case '_':
			if len(rest) != 0 {
				return Value{}, protoErr("invalid null %s", quote(rest))
			}
			return Value{Kind: Null}, nil
		case '#':
			switch string(rest) {
			case "t":
				return Value{Kind: Bool, Bool: true}, nil
			case "f":
				return Value{Kind: Bool}, nil
			}
			return Value{}, protoErr("invalid boolean %s", quote(rest))
		case ',':
			f, ok := parseDouble(rest)
			if !ok {
				return Value{}, protoErr("invalid double %s", quote(rest))
			}
			return Value{Kind: Double, Float: f}, nil
		case '(':
			if !validBigNumber(rest) {
				return Value{}, protoErr("invalid big number %s", quote(rest))
			}
			return Value{Kind: BigNumber, Str: string(rest)}, nil
		case '$', '!', '=':
			return vr.readBlob(typ, rest)
		case '*', '~', '>', '%', '|':
			v, err := vr.readAggregate(typ, rest, depth)
			if err != nil || typ != '|' {
				return v, err
			}
			// An attribute annotates the value that follows; we have no
			// use for it, so read on.
		default:
			return Value{}, protoErr("unknown reply type %s", quote(line[:1]))
		}
	}
}

func (vr *valueReader) readBlob(typ byte, rest []byte) (Value, error) {
	if typ == '$' && string(rest) == "-1" {
		return Value{Kind: Null}, nil
	}
	n, ok := parseInt(rest)
	if !ok || n < 0 {
		return Value{}, protoErr("invalid length %s", quote(rest))
	}
	if n > int64(vr.l.MaxBulkLen) {
		return Value{}, tooLarge("string of %d bytes exceeds limit of %d", n, vr.l.MaxBulkLen)
	}
	if vr.bytes += int(n); vr.bytes > vr.l.MaxTotalLen {
		return Value{}, tooLarge("reply larger than %d bytes", vr.l.MaxTotalLen)
	}
	b, err := readBlob(vr.br, nil, int(n))
	if err != nil {
		return Value{}, err
	}
	switch typ {
	case '!':
		return Value{Kind: Error, Str: string(b)}, nil
	case '=':
		if len(b) < 4 || b[3] != ':' {
			return Value{}, protoErr("verbatim string without format prefix")
		}
		return Value{Kind: Verbatim, Str: string(b[4:])}, nil
	}
	return Value{Kind: Bulk, Str: string(b)}, nil
}

func (vr *valueReader) readAggregate(typ byte, rest []byte, depth int) (Value, error) {
	n, ok := parseInt(rest)
	if ok && n == -1 && typ == '*' {
		return Value{Kind: Null}, nil // RESP2 null array
	}
	if !ok || n < 0 {
		return Value{}, protoErr("invalid aggregate length %s", quote(rest))
	}
	if n > int64(vr.l.MaxArrayLen) {
		return Value{}, tooLarge("reply of %d elements exceeds limit of %d", n, vr.l.MaxArrayLen)
	}
	count := int(n)
	kind := Array
	switch typ {
	case '%', '|':
		count *= 2
		kind = Map
	case '~':
		kind = Set
	case '>':
		kind = Push
	}
	if vr.elems += count; vr.elems > vr.l.MaxArrayLen {
		return Value{}, tooLarge("reply of more than %d elements", vr.l.MaxArrayLen)
	}
	// The declared count is only a claim; start small and let append grow
	// with the elements that really arrive.
	elems := make([]Value, 0, min(count, 64))
	for range count {
		e, err := vr.read(depth + 1)
		if err != nil {
			return Value{}, unexpectedEOF(err, true)
		}
		elems = append(elems, e)
	}
	return Value{Kind: kind, Elems: elems}, nil
}

func parseDouble(b []byte) (float64, bool) {
	switch string(b) {
	case "inf", "+inf":
		return math.Inf(1), true
	case "-inf":
		return math.Inf(-1), true
	case "nan", "-nan":
		return math.NaN(), true
	}
	if len(b) == 0 || len(b) > 64 {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(b), 64)
	return f, err == nil
}

func validBigNumber(b []byte) bool {
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		b = b[1:]
	}
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
