package resp

import (
	"bytes"
	"math"
	"testing"
)

func TestWriterGolden(t *testing.T) {
	tests := []struct {
		name  string
		write func(w *Writer)
		resp2 string
		resp3 string
	}{
		{"simple", func(w *Writer) { w.WriteSimple("OK") }, "+OK\r\n", "+OK\r\n"},
		{"simple newline", func(w *Writer) { w.WriteSimple("a\r\nb") }, "+a  b\r\n", "+a  b\r\n"},
		{"error", func(w *Writer) { w.WriteError("NOTFOUND", "session not found") },
			"-NOTFOUND session not found\r\n", "-NOTFOUND session not found\r\n"},
		{"error no msg", func(w *Writer) { w.WriteError("ERR", "") }, "-ERR\r\n", "-ERR\r\n"},
		{"error newline", func(w *Writer) { w.WriteError("ERR", "x\r\n+OK") }, "-ERR x  +OK\r\n", "-ERR x  +OK\r\n"},
		{"int", func(w *Writer) { w.WriteInt(-42) }, ":-42\r\n", ":-42\r\n"},
		{"bulk", func(w *Writer) { w.WriteBulk([]byte("a\r\nb")) }, "$4\r\na\r\nb\r\n", "$4\r\na\r\nb\r\n"},
		{"bulk nil", func(w *Writer) { w.WriteBulk(nil) }, "$0\r\n\r\n", "$0\r\n\r\n"},
		{"bulk string", func(w *Writer) { w.WriteBulkString("hello") }, "$5\r\nhello\r\n", "$5\r\nhello\r\n"},
		{"prepared", func(w *Writer) { w.WritePrepared(PrepareBulk("hello")) }, "$5\r\nhello\r\n", "$5\r\nhello\r\n"},
		{"prepared empty", func(w *Writer) { w.WritePrepared(PrepareBulk("")) }, "$0\r\n\r\n", "$0\r\n\r\n"},
		{"null", func(w *Writer) { w.WriteNull() }, "$-1\r\n", "_\r\n"},
		{"null array", func(w *Writer) { w.WriteArrayLen(-1) }, "*-1\r\n", "_\r\n"},
		{"array", func(w *Writer) { w.WriteArrayLen(2); w.WriteInt(1); w.WriteBulkString("x") },
			"*2\r\n:1\r\n$1\r\nx\r\n", "*2\r\n:1\r\n$1\r\nx\r\n"},
		{"map", func(w *Writer) { w.WriteMapLen(1); w.WriteBulkString("k"); w.WriteInt(7) },
			"*2\r\n$1\r\nk\r\n:7\r\n", "%1\r\n$1\r\nk\r\n:7\r\n"},
		{"set", func(w *Writer) { w.WriteSetLen(1); w.WriteBulkString("m") }, "*1\r\n$1\r\nm\r\n", "~1\r\n$1\r\nm\r\n"},
		{"push", func(w *Writer) { w.WritePushLen(1); w.WriteSimple("x") }, "*1\r\n+x\r\n", ">1\r\n+x\r\n"},
		{"true", func(w *Writer) { w.WriteBool(true) }, ":1\r\n", "#t\r\n"},
		{"false", func(w *Writer) { w.WriteBool(false) }, ":0\r\n", "#f\r\n"},
		{"double", func(w *Writer) { w.WriteDouble(1.5) }, "$3\r\n1.5\r\n", ",1.5\r\n"},
		{"double exp", func(w *Writer) { w.WriteDouble(1e21) }, "$5\r\n1e+21\r\n", ",1e+21\r\n"},
		{"double inf", func(w *Writer) { w.WriteDouble(math.Inf(-1)) }, "$4\r\n-inf\r\n", ",-inf\r\n"},
		{"double nan", func(w *Writer) { w.WriteDouble(math.NaN()) }, "$3\r\nnan\r\n", ",nan\r\n"},
		{"big number", func(w *Writer) { w.WriteBigNumber("-123456789012345678901234567890") },
			"$31\r\n-123456789012345678901234567890\r\n", "(-123456789012345678901234567890\r\n"},
		{"verbatim", func(w *Writer) { w.WriteVerbatim("txt", "a\r\nb") }, "$4\r\na\r\nb\r\n", "=8\r\ntxt:a\r\nb\r\n"},
		{"verbatim bad format", func(w *Writer) { w.WriteVerbatim("markdown", "x") }, "$1\r\nx\r\n", "=5\r\ntxt:x\r\n"},
	}
	for _, tt := range tests {
		for _, pc := range []struct {
			proto int
			want  string
		}{{2, tt.resp2}, {3, tt.resp3}} {
			w := NewWriter(pc.proto)
			tt.write(w)
			if got := string(w.Bytes()); got != pc.want {
				t.Errorf("%s RESP%d: got %q, want %q", tt.name, pc.proto, got, pc.want)
			}
			if w.Len() != len(pc.want) {
				t.Errorf("%s RESP%d: Len() = %d, want %d", tt.name, pc.proto, w.Len(), len(pc.want))
			}
		}
	}
}

func TestWriterProtoAndReset(t *testing.T) {
	w := NewWriter(7)
	if w.Proto() != 2 {
		t.Fatalf("NewWriter(7).Proto() = %d, want 2", w.Proto())
	}
	w.WriteNull()
	w.Reset()
	w.SetProto(3)
	w.WriteNull()
	if got := string(w.Bytes()); got != "_\r\n" || w.Proto() != 3 {
		t.Fatalf("after Reset+SetProto(3): %q proto %d", got, w.Proto())
	}
}

// WriteBulkAppend writes the bytes WriteBulk would, whatever the width of
// the length prefix, after what the buffer already held.
func TestWriteBulkAppend(t *testing.T) {
	for _, n := range []int{0, 1, 9, 10, 99, 100, 12345, 1 << 20} {
		content := bytes.Repeat([]byte{'x', '\r', 0}, n)[:n]
		var a, b Writer
		a.WriteSimple("OK")
		b.WriteSimple("OK")
		a.WriteBulk(content)
		b.WriteBulkAppend(func(dst []byte) []byte { return append(dst, content...) })
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatalf("n=%d: WriteBulkAppend wrote %q..., WriteBulk %q...", n, b.Bytes()[:min(20, b.Len())], a.Bytes()[:min(20, a.Len())])
		}
	}
}
