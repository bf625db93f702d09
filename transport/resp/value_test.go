package resp

import (
	"bufio"
	"errors"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/sessionraft/sessionraft/transport/wire"
)

// writeValue encodes v with w (the test-side inverse of ReadValue).
// Errors go through WriteError unless faithful is set, in which case they
// are written byte for byte (as a RESP3 blob error if they hold CR or LF).
func writeValue(w *Writer, v Value, faithful bool) {
	switch v.Kind {
	case SimpleString:
		w.WriteSimple(v.Str)
	case Error:
		if !faithful {
			code, msg, _ := strings.Cut(v.Str, " ")
			w.WriteError(code, msg)
		} else if strings.ContainsAny(v.Str, "\r\n") {
			w.buf = appendPrefix(w.buf, '!', len(v.Str)) // RESP3 blob error keeps CR/LF
			w.buf = append(w.buf, v.Str...)
			w.buf = append(w.buf, '\r', '\n')
		} else {
			w.buf = append(w.buf, '-')
			w.buf = append(w.buf, v.Str...)
			w.buf = append(w.buf, '\r', '\n')
		}
	case Integer:
		w.WriteInt(v.Int)
	case Bulk:
		w.WriteBulkString(v.Str)
	case Null:
		w.WriteNull()
	case Bool:
		w.WriteBool(v.Bool)
	case Double:
		w.WriteDouble(v.Float)
	case BigNumber:
		w.WriteBigNumber(v.Str)
	case Verbatim:
		w.WriteVerbatim("txt", v.Str)
	case Array:
		w.WriteArrayLen(len(v.Elems))
	case Set:
		w.WriteSetLen(len(v.Elems))
	case Push:
		w.WritePushLen(len(v.Elems))
	case Map:
		w.WriteMapLen(len(v.Elems) / 2)
	}
	for _, e := range v.Elems {
		writeValue(w, e, faithful)
	}
}

func readString(s string, l Limits) (Value, error) {
	return ReadValue(bufio.NewReader(strings.NewReader(s)), l)
}

// equalValues compares values, treating NaN as equal to NaN and nil and
// empty element lists alike.
func equalValues(a, b Value) bool {
	if a.Kind != b.Kind || a.Str != b.Str || a.Int != b.Int || a.Bool != b.Bool || len(a.Elems) != len(b.Elems) {
		return false
	}
	if a.Float != b.Float && !(math.IsNaN(a.Float) && math.IsNaN(b.Float)) {
		return false
	}
	if math.Signbit(a.Float) != math.Signbit(b.Float) && !math.IsNaN(a.Float) {
		return false
	}
	for i := range a.Elems {
		if !equalValues(a.Elems[i], b.Elems[i]) {
			return false
		}
	}
	return true
}

func TestValueRoundTripEveryKind(t *testing.T) {
	bulk := func(s string) Value { return Value{Kind: Bulk, Str: s} }
	values := []Value{
		{Kind: SimpleString, Str: "OK"},
		{Kind: Error, Str: "NOTFOUND no such session"},
		{Kind: Integer, Int: math.MinInt64},
		bulk("binary\r\n\x00"),
		bulk(""),
		{Kind: Null},
		{Kind: Array, Elems: []Value{bulk("a"), {Kind: Integer, Int: 1}, {Kind: Array}}},
		{Kind: Map, Elems: []Value{bulk("k"), {Kind: Map, Elems: []Value{bulk("x"), {Kind: Null}}}}},
		{Kind: Set, Elems: []Value{bulk("m")}},
		{Kind: Bool, Bool: true},
		{Kind: Bool},
		{Kind: Double, Float: -0.125},
		{Kind: Double, Float: math.Inf(1)},
		{Kind: Double, Float: math.NaN()},
		{Kind: BigNumber, Str: "1234567890123456789012345678901234567890"},
		{Kind: Verbatim, Str: "# Server\r\nversion:1\r\n"},
		{Kind: Push, Elems: []Value{bulk("message"), bulk("x")}},
	}
	for _, v := range values {
		w := NewWriter(3)
		writeValue(w, v, true)
		got, err := readString(string(w.Bytes()), Limits{})
		if err != nil || !equalValues(got, v) {
			t.Errorf("%v: got %#v, %v", v.Kind, got, err)
		}
	}
}

func TestReadValue(t *testing.T) {
	bulk := func(s string) Value { return Value{Kind: Bulk, Str: s} }
	tests := []struct {
		name    string
		in      string
		limits  Limits
		want    Value
		wantErr error
	}{
		{name: "resp2 null bulk", in: "$-1\r\n", want: Value{Kind: Null}},
		{name: "resp2 null array", in: "*-1\r\n", want: Value{Kind: Null}},
		{name: "blob error", in: "!10\r\nERR a\r\nb c\r\n", want: Value{Kind: Error, Str: "ERR a\r\nb c"}},
		{name: "attribute skipped", in: "|1\r\n+ttl\r\n:3\r\n$1\r\nx\r\n", want: bulk("x")},
		{name: "nested attribute skipped", in: "*1\r\n|1\r\n+a\r\n+b\r\n:5\r\n", want: Value{Kind: Array, Elems: []Value{{Kind: Integer, Int: 5}}}},
		{name: "double forms", in: ",1e3\r\n", want: Value{Kind: Double, Float: 1000}},
		{name: "clean EOF", in: "", wantErr: io.EOF},
		{name: "EOF in array", in: "*2\r\n:1\r\n", wantErr: io.ErrUnexpectedEOF},
		{name: "EOF in bulk", in: "$5\r\nab", wantErr: io.ErrUnexpectedEOF},
		{name: "unknown type", in: "?x\r\n", wantErr: ErrProtocol},
		{name: "empty line", in: "\r\n", wantErr: ErrProtocol},
		{name: "no CR", in: "+OK\n", wantErr: ErrProtocol},
		{name: "bad int", in: ":1.5\r\n", wantErr: ErrProtocol},
		{name: "bad bool", in: "#x\r\n", wantErr: ErrProtocol},
		{name: "bad null", in: "_x\r\n", wantErr: ErrProtocol},
		{name: "bad double", in: ",abc\r\n", wantErr: ErrProtocol},
		{name: "bad big number", in: "(12a\r\n", wantErr: ErrProtocol},
		{name: "bad verbatim", in: "=2\r\nab\r\n", wantErr: ErrProtocol},
		{name: "negative set", in: "~-1\r\n", wantErr: ErrProtocol},
		{name: "streamed string", in: "$?\r\n", wantErr: ErrProtocol},
		{name: "bulk too large", in: "$9\r\n", limits: Limits{MaxBulkLen: 8}, wantErr: ErrTooLarge},
		{name: "array too large", in: "*9\r\n", limits: Limits{MaxArrayLen: 8}, wantErr: ErrTooLarge},
		{name: "total elements", in: "*2\r\n*4\r\n", limits: Limits{MaxArrayLen: 4}, wantErr: ErrTooLarge},
		{name: "total bytes", in: "*2\r\n$3\r\nabc\r\n$3\r\nabc\r\n", limits: Limits{MaxTotalLen: 5}, wantErr: ErrTooLarge},
		{name: "too deep", in: strings.Repeat("*1\r\n", 100) + ":1\r\n", wantErr: ErrTooLarge},
		{name: "huge declared array", in: "*1000000\r\n:1\r\n", wantErr: io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readString(tt.in, tt.limits)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && !equalValues(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

// Every RESP3 type degrades to the RESP2 type Redis uses.
func TestValueRESP2Mapping(t *testing.T) {
	w := NewWriter(2)
	w.WriteMapLen(1)
	w.WriteBulkString("k")
	w.WriteBool(true)
	w.WriteSetLen(1)
	w.WriteDouble(2.5)
	w.WriteBigNumber("12")
	w.WriteVerbatim("txt", "info")
	w.WriteNull()
	br := bufio.NewReader(strings.NewReader(string(w.Bytes())))
	want := []Value{
		{Kind: Array, Elems: []Value{{Kind: Bulk, Str: "k"}, {Kind: Integer, Int: 1}}},
		{Kind: Array, Elems: []Value{{Kind: Bulk, Str: "2.5"}}},
		{Kind: Bulk, Str: "12"},
		{Kind: Bulk, Str: "info"},
		{Kind: Null},
	}
	for i, wv := range want {
		got, err := ReadValue(br, Limits{})
		if err != nil || !equalValues(got, wv) {
			t.Fatalf("value %d: got %#v, %v; want %#v", i, got, err, wv)
		}
	}
}

func TestValueErr(t *testing.T) {
	if err := (Value{Kind: Bulk, Str: "x"}).Err(); err != nil {
		t.Fatalf("bulk Err() = %v", err)
	}
	tests := []struct {
		str       string
		code, msg string
	}{
		{"NOTFOUND session not found", wire.CodeNotFound, "session not found"},
		{"TOOLARGE", wire.CodeTooLarge, ""},
		{"WRONGTYPE Operation against a key", wire.CodeInternal, "WRONGTYPE Operation against a key"},
	}
	for _, tt := range tests {
		var se *ServerError
		if err := (Value{Kind: Error, Str: tt.str}).Err(); !errors.As(err, &se) || se.Code != tt.code || se.Msg != tt.msg {
			t.Errorf("Err() of %q = %#v, want code %q msg %q", tt.str, err, tt.code, tt.msg)
		}
	}
}

func TestValueString(t *testing.T) {
	v := Value{Kind: Map, Elems: []Value{
		{Kind: Bulk, Str: "a"}, {Kind: Array, Elems: []Value{{Kind: Integer, Int: 1}, {Kind: Null}}},
		{Kind: SimpleString, Str: "b"}, {Kind: Bool, Bool: true},
	}}
	if got, want := v.String(), `{"a": [(integer) 1, (nil)], b: (true)}`; got != want {
		t.Fatalf("String() = %s, want %s", got, want)
	}
	if got := Kind(0).String(); got != "Kind(0)" {
		t.Fatalf("Kind(0).String() = %s", got)
	}
}
