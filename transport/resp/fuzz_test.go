package resp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"testing/iotest"
)

var fuzzLimits = Limits{MaxBulkLen: 64, MaxArrayLen: 8, MaxLineLen: 128, MaxTotalLen: 256}

func FuzzReadCommand(f *testing.F) {
	for _, s := range []string{
		"*1\r\n$4\r\nPING\r\n",
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nv\r\nxy\r\n",
		"PING\r\nSET k \"a\\x41 b\" 'c\\'d'\n",
		"*0\r\n*-1\r\n\r\n",
		"*1\r\n$-1\r\n", "*2\r\n$1\r\na\r\n", "*x\r\n", "$5\r\nhello\r\n",
		"*9\r\n", "*1\r\n$65\r\n", strings.Repeat("a ", 70) + "\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		whole, errWhole := readAllBytes(data, false)
		split, errSplit := readAllBytes(data, true)
		// Chunking must not change the result.
		if !equalCmds(whole, split) || !sameErrClass(errWhole, errSplit) {
			t.Fatalf("whole: %q %v\nsplit: %q %v", whole, errWhole, split, errSplit)
		}
		switch {
		case errors.Is(errWhole, io.EOF), errors.Is(errWhole, io.ErrUnexpectedEOF),
			errors.Is(errWhole, ErrProtocol), errors.Is(errWhole, ErrTooLarge):
		default:
			t.Fatalf("unexpected error %v", errWhole)
		}
		for _, cmd := range whole {
			if len(cmd) == 0 || len(cmd) > fuzzLimits.MaxArrayLen {
				t.Fatalf("command with %d args", len(cmd))
			}
			total := 0
			for _, a := range cmd {
				// Inline arguments are bounded by the line limit, bulk
				// ones by the bulk limit; the line limit is the larger.
				if len(a) > fuzzLimits.MaxLineLen {
					t.Fatalf("argument of %d bytes", len(a))
				}
				total += len(a)
			}
			if total > fuzzLimits.MaxTotalLen {
				t.Fatalf("command of %d bytes", total)
			}
		}
	})
}

func readAllBytes(data []byte, oneByte bool) ([][]string, error) {
	var r io.Reader = bytes.NewReader(data)
	if oneByte {
		r = iotest.OneByteReader(r)
	}
	rd := NewReader(r, fuzzLimits)
	var cmds [][]string
	for {
		args, err := rd.ReadCommand()
		if err != nil {
			return cmds, err
		}
		cmd := make([]string, len(args))
		for i, a := range args {
			cmd[i] = string(a)
		}
		cmds = append(cmds, cmd)
	}
}

func sameErrClass(a, b error) bool {
	for _, e := range []error{io.ErrUnexpectedEOF, ErrProtocol, ErrTooLarge, io.EOF} {
		if errors.Is(a, e) || errors.Is(b, e) {
			return errors.Is(a, e) && errors.Is(b, e)
		}
	}
	return a == b
}

func FuzzReadValue(f *testing.F) {
	for _, s := range []string{
		"+OK\r\n", "-ERR x\r\n", ":-5\r\n", "$3\r\nabc\r\n", "$-1\r\n", "*-1\r\n", "_\r\n",
		"*2\r\n:1\r\n$1\r\nx\r\n", "%1\r\n+k\r\n#t\r\n", "~1\r\n,1.5\r\n", ">1\r\n(123\r\n",
		"=8\r\ntxt:abcd\r\n", "!3\r\nERR\r\n", "|1\r\n+a\r\n+b\r\n:1\r\n", ",inf\r\n", ",nan\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ReadValue(bufio.NewReader(bytes.NewReader(data)), fuzzLimits)
		if err != nil {
			return
		}
		// Whatever parses re-encodes to something that parses the same.
		w := NewWriter(3)
		writeValue(w, v, true)
		back, err := ReadValue(bufio.NewReader(bytes.NewReader(w.Bytes())), Limits{})
		if err != nil || !equalValues(v, back) {
			t.Fatalf("round trip of %#v: %q -> %#v, %v", v, w.Bytes(), back, err)
		}
	})
}

// FuzzWriterRoundTrip builds a reply from the fuzz input, encodes it in
// RESP2 and RESP3 and checks that ReadValue returns what each protocol
// should deliver.
func FuzzWriterRoundTrip(f *testing.F) {
	f.Add([]byte{0, 1, 'a', 5, 2, 6, 3, 'x', 10})
	f.Add([]byte("\x08\x03\x01\x02ab\x0b\x07\x09\x0c"))
	f.Fuzz(func(t *testing.T, data []byte) {
		g := &valueGen{data: data}
		var vals []Value
		for len(g.data) > 0 && len(vals) < 16 {
			vals = append(vals, g.value(0))
		}
		for _, proto := range []int{2, 3} {
			w := NewWriter(proto)
			for _, v := range vals {
				writeValue(w, v, false)
			}
			br := bufio.NewReader(bytes.NewReader(w.Bytes()))
			for i, v := range vals {
				want := expectOnWire(v, proto)
				got, err := ReadValue(br, Limits{})
				if err != nil || !equalValues(got, want) {
					t.Fatalf("RESP%d value %d: wrote %#v, read %#v, %v, want %#v", proto, i, v, got, err, want)
				}
			}
			if _, err := ReadValue(br, Limits{}); err != io.EOF {
				t.Fatalf("RESP%d: trailing data: %v", proto, err)
			}
		}
	})
}

// valueGen decodes fuzz bytes into a Value.
type valueGen struct{ data []byte }

func (g *valueGen) byte() byte {
	if len(g.data) == 0 {
		return 0
	}
	b := g.data[0]
	g.data = g.data[1:]
	return b
}

func (g *valueGen) str() string {
	n := min(int(g.byte()%32), len(g.data))
	s := string(g.data[:n])
	g.data = g.data[n:]
	return s
}

func (g *valueGen) value(depth int) Value {
	k := Kind(g.byte()%13 + 1)
	if depth > 3 && (k == Array || k == Map || k == Set || k == Push) {
		k = Integer
	}
	switch k {
	case SimpleString:
		return Value{Kind: k, Str: g.str()}
	case Error:
		// Error replies are written with WriteError: no CR/LF survive and
		// the code is one word.
		code := strings.Map(func(r rune) rune {
			if r == ' ' || r == '\r' || r == '\n' {
				return 'X'
			}
			return r
		}, g.str())
		if code == "" {
			code = "ERR"
		}
		if msg := g.str(); msg != "" {
			code += " " + msg
		}
		return Value{Kind: k, Str: code}
	case Integer:
		return Value{Kind: k, Int: int64(g.byte())<<56 | int64(g.byte())<<8 | int64(g.byte()) - 1<<62}
	case Bulk, Verbatim:
		return Value{Kind: k, Str: g.str()}
	case Null:
		return Value{Kind: k}
	case Bool:
		return Value{Kind: k, Bool: g.byte()%2 == 1}
	case Double:
		bits := uint64(0)
		for range 8 {
			bits = bits<<8 | uint64(g.byte())
		}
		return Value{Kind: k, Float: math.Float64frombits(bits)}
	case BigNumber:
		digits := strings.Map(func(r rune) rune { return '0' + r%10 }, g.str())
		if digits == "" {
			digits = "0"
		}
		if g.byte()%2 == 1 {
			digits = "-" + digits
		}
		return Value{Kind: k, Str: digits}
	}
	n := int(g.byte() % 5)
	if k == Map {
		n *= 2
	}
	v := Value{Kind: k}
	for range n {
		v.Elems = append(v.Elems, g.value(depth+1))
	}
	return v
}

// expectOnWire is what ReadValue should return for v written in proto.
func expectOnWire(v Value, proto int) Value {
	if v.Kind == SimpleString || v.Kind == Error {
		v.Str = strings.NewReplacer("\r", " ", "\n", " ").Replace(v.Str)
	}
	switch {
	case proto == 3:
	case v.Kind == Map, v.Kind == Set, v.Kind == Push:
		v.Kind = Array
	case v.Kind == Bool:
		v = Value{Kind: Integer, Int: map[bool]int64{false: 0, true: 1}[v.Bool]}
	case v.Kind == Double:
		v = Value{Kind: Bulk, Str: string(appendFloat(nil, v.Float))}
	case v.Kind == BigNumber, v.Kind == Verbatim:
		v.Kind = Bulk
	}
	elems := make([]Value, len(v.Elems))
	for i, e := range v.Elems {
		elems[i] = expectOnWire(e, proto)
	}
	v.Elems = elems
	return v
}
