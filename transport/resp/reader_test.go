package resp

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

// readAll parses every command in r and returns them with the error that
// ended the stream.
func readAll(t *testing.T, r io.Reader, l Limits) ([][]string, error) {
	t.Helper()
	rd := NewReader(r, l)
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

func cmds(c ...[]string) [][]string { return c }
func cmd(args ...string) []string   { return args }

func TestReadCommand(t *testing.T) {
	small := Limits{MaxBulkLen: 8, MaxArrayLen: 3, MaxLineLen: 16, MaxTotalLen: 20}
	tests := []struct {
		name    string
		in      string
		limits  Limits
		want    [][]string
		wantErr error // error after the commands; io.EOF for a clean end
	}{
		{name: "array", in: "*1\r\n$4\r\nPING\r\n", want: cmds(cmd("PING")), wantErr: io.EOF},
		{name: "pipeline", in: "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n",
			want: cmds(cmd("GET", "k"), cmd("SET", "k", "v")), wantErr: io.EOF},
		{name: "binary bulk", in: "*1\r\n$6\r\na\r\n\x00b\n\r\n", want: cmds(cmd("a\r\n\x00b\n")), wantErr: io.EOF},
		{name: "empty bulk", in: "*2\r\n$0\r\n\r\n$0\r\n\r\n", want: cmds(cmd("", "")), wantErr: io.EOF},
		{name: "empty arrays skipped", in: "*0\r\n*-1\r\n*1\r\n$1\r\nx\r\n", want: cmds(cmd("x")), wantErr: io.EOF},
		{name: "empty input", in: "", wantErr: io.EOF},
		{name: "inline", in: "PING\r\n", want: cmds(cmd("PING")), wantErr: io.EOF},
		{name: "inline LF only", in: "SET k v\n", want: cmds(cmd("SET", "k", "v")), wantErr: io.EOF},
		{name: "inline whitespace", in: "  SET \t k   v  \r\n", want: cmds(cmd("SET", "k", "v")), wantErr: io.EOF},
		{name: "blank lines skipped", in: "\r\n\n   \r\nPING\r\n", want: cmds(cmd("PING")), wantErr: io.EOF},
		{name: "inline double quotes", in: `SET k "a b\x41\n\"" ""` + "\r\n",
			want: cmds(cmd("SET", "k", "a bA\n\"", "")), wantErr: io.EOF},
		{name: "inline single quotes", in: `SET k 'it\'s "x"'` + "\r\n", want: cmds(cmd("SET", "k", `it's "x"`)), wantErr: io.EOF},
		{name: "inline quote mid word", in: `a"b c"d` + "\r\n", wantErr: ErrProtocol},
		{name: "inline unbalanced", in: `SET k "abc` + "\r\n", wantErr: ErrProtocol},
		{name: "inline unbalanced single", in: "SET k 'abc\r\n", wantErr: ErrProtocol},
		{name: "inline then array", in: "PING\r\n*1\r\n$4\r\nPING\r\n", want: cmds(cmd("PING"), cmd("PING")), wantErr: io.EOF},
		{name: "bad multibulk length", in: "*x\r\n", wantErr: ErrProtocol},
		{name: "plus sign length", in: "*+1\r\n$1\r\na\r\n", wantErr: ErrProtocol},
		{name: "overflowing length", in: "*99999999999999999999\r\n", wantErr: ErrProtocol},
		{name: "expected dollar", in: "*1\r\n:1\r\n", wantErr: ErrProtocol},
		{name: "null bulk in request", in: "*1\r\n$-1\r\n", wantErr: ErrProtocol},
		{name: "bad bulk length", in: "*1\r\n$abc\r\n", wantErr: ErrProtocol},
		{name: "bulk not terminated", in: "*1\r\n$3\r\nabcde\r\n", wantErr: ErrProtocol},
		{name: "header without CR", in: "*1\n$1\r\na\r\n", wantErr: ErrProtocol},
		{name: "good command then garbage", in: "*1\r\n$4\r\nPING\r\n*1\r\n#\r\n", want: cmds(cmd("PING")), wantErr: ErrProtocol},
		{name: "truncated array", in: "*2\r\n$1\r\na\r\n", wantErr: io.ErrUnexpectedEOF},
		{name: "truncated bulk", in: "*1\r\n$5\r\nab", wantErr: io.ErrUnexpectedEOF},
		{name: "truncated header", in: "*1\r\n$5", wantErr: io.ErrUnexpectedEOF},
		{name: "truncated inline", in: "PING", wantErr: io.ErrUnexpectedEOF},
		{name: "at limits", in: "*3\r\n$8\r\n12345678\r\n$8\r\n12345678\r\n$4\r\n1234\r\n", limits: small,
			want: cmds(cmd("12345678", "12345678", "1234")), wantErr: io.EOF},
		{name: "bulk too large", in: "*1\r\n$9\r\n123456789\r\n", limits: small, wantErr: ErrTooLarge},
		{name: "array too large", in: "*4\r\n", limits: small, wantErr: ErrTooLarge},
		{name: "request too large", in: "*3\r\n$8\r\n12345678\r\n$8\r\n12345678\r\n$5\r\n12345\r\n", limits: small, wantErr: ErrTooLarge},
		{name: "inline at line limit", in: "0123456789ABCDEF\r\n", limits: small, want: cmds(cmd("0123456789ABCDEF")), wantErr: io.EOF},
		{name: "inline too long", in: "0123456789ABCDEFG\r\n", limits: small, wantErr: ErrTooLarge},
		{name: "inline too many args", in: "a b c d\r\n", limits: small, wantErr: ErrTooLarge},
		{name: "header line too long", in: "*1" + strings.Repeat("0", 20) + "\r\n", limits: small, wantErr: ErrTooLarge},
		{name: "huge declared bulk", in: "*1\r\n$104857600\r\n", wantErr: ErrTooLarge},
	}
	readers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return r }},
		{"onebyte", iotest.OneByteReader},
		{"half", iotest.HalfReader},
	}
	for _, tt := range tests {
		for _, rw := range readers {
			t.Run(tt.name+"/"+rw.name, func(t *testing.T) {
				got, err := readAll(t, rw.wrap(strings.NewReader(tt.in)), tt.limits)
				if !equalCmds(got, tt.want) {
					t.Errorf("commands = %q, want %q", got, tt.want)
				}
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("err = %v, want %v", err, tt.wantErr)
				}
			})
		}
	}
}

func equalCmds(a, b [][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if strings.Join(a[i], "\x00|") != strings.Join(b[i], "\x00|") || len(a[i]) != len(b[i]) {
			return false
		}
	}
	return true
}

func TestReadCommandErrorIsSticky(t *testing.T) {
	rd := NewReader(strings.NewReader("*x\r\n*1\r\n$4\r\nPING\r\n"), Limits{})
	_, err1 := rd.ReadCommand()
	_, err2 := rd.ReadCommand()
	if !errors.Is(err1, ErrProtocol) || err2 != err1 {
		t.Fatalf("errors = %v, %v; want the same protocol error twice", err1, err2)
	}
}

// Arguments are caller-owned: later parsing and appends must not change
// them.
func TestReadCommandArgsOwned(t *testing.T) {
	in := "*2\r\n$3\r\nabc\r\n$3\r\ndef\r\n*1\r\n$3\r\nxyz\r\n"
	rd := NewReader(strings.NewReader(in), Limits{})
	first, err := rd.ReadCommand()
	if err != nil {
		t.Fatal(err)
	}
	_ = append(first[0], "!!!"...) // capacity is clipped: must not overwrite first[1]
	if _, err := rd.ReadCommand(); err != nil {
		t.Fatal(err)
	}
	if string(first[0]) != "abc" || string(first[1]) != "def" {
		t.Fatalf("first command changed to %q", first)
	}
}

// Many small commands share slabs: each keeps its own bytes however many
// follow, and appending to one never reaches the next.
func TestReadCommandSlabsOwned(t *testing.T) {
	var in []byte
	const n = 1000
	for i := range n {
		in = appendCommand(in, []string{"SET", "k" + strconv.Itoa(i), strings.Repeat("v", i%300)})
	}
	rd := NewReader(bytes.NewReader(in), Limits{})
	var got [][][]byte
	for range n {
		args, err := rd.ReadCommand()
		if err != nil {
			t.Fatal(err)
		}
		_ = append(args, []byte("extra")) // header capacity is clipped
		_ = append(args[2], "!!!"...)     // argument capacity is clipped
		got = append(got, args)
	}
	for i, args := range got {
		if len(args) != 3 || string(args[0]) != "SET" || string(args[1]) != "k"+strconv.Itoa(i) || string(args[2]) != strings.Repeat("v", i%300) {
			t.Fatalf("command %d changed to %q", i, args)
		}
	}
}

func TestReadCommandLargeBulk(t *testing.T) {
	// Larger than blobStep and the read buffer: exercises stepwise growth
	// and handing the buffer over.
	val := bytes.Repeat([]byte("0123456789abcdef"), 50_000) // 800 kB
	var in bytes.Buffer
	for range 2 {
		in.WriteString("*2\r\n$3\r\nSET\r\n$800000\r\n")
		in.Write(val)
		in.WriteString("\r\n")
	}
	in.WriteString("*1\r\n$4\r\nPING\r\n")
	rd := NewReader(&in, Limits{})
	for i := range 2 {
		args, err := rd.ReadCommand()
		if err != nil {
			t.Fatal(err)
		}
		if len(args) != 2 || !bytes.Equal(args[1], val) {
			t.Fatalf("command %d: got %d args, value ok=%v", i, len(args), len(args) == 2 && bytes.Equal(args[1], val))
		}
	}
	if args, err := rd.ReadCommand(); err != nil || string(args[0]) != "PING" {
		t.Fatalf("after large bulks: %q, %v", args, err)
	}
}

// A client that declares a big bulk (within the limit) but sends little
// must not make the reader allocate the declared size.
func TestReadCommandDeclaredLengthNotTrusted(t *testing.T) {
	in := "*1\r\n$100000000\r\n" + strings.Repeat("x", 1000) // then EOF
	l := Limits{MaxBulkLen: 200 << 20, MaxTotalLen: 200 << 20}
	alloc := allocated(t, func() {
		_, err := NewReader(strings.NewReader(in), l).ReadCommand()
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("err = %v, want unexpected EOF", err)
		}
	})
	if alloc > 4<<20 {
		t.Fatalf("allocated %d bytes for a 1 kB body", alloc)
	}
}

// allocated reports how many bytes f allocates.
func allocated(t *testing.T, f func()) uint64 {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestReadCommandLongInlineLine(t *testing.T) {
	// A line longer than the read buffer but within MaxLineLen.
	word := strings.Repeat("w", 30_000)
	in := "ECHO " + word + " " + word + "\r\nPING\r\n"
	got, err := readAll(t, strings.NewReader(in), Limits{})
	if err != io.EOF || !equalCmds(got, cmds(cmd("ECHO", word, word), cmd("PING"))) {
		t.Fatalf("got %d commands, err %v", len(got), err)
	}
	_, err = readAll(t, strings.NewReader(strings.Repeat("x", 70_000)+"\r\n"), Limits{})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("70 kB line: err = %v, want ErrTooLarge", err)
	}
}

func TestBuffered(t *testing.T) {
	rd := NewReader(strings.NewReader("PING\r\nPING\r\n"), Limits{})
	if _, err := rd.ReadCommand(); err != nil {
		t.Fatal(err)
	}
	if n := rd.Buffered(); n != 6 {
		t.Fatalf("Buffered() = %d, want 6", n)
	}
}

func TestParseInt(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"-1", -1, true}, {"123", 123, true},
		{"9223372036854775807", 9223372036854775807, true},
		{"-9223372036854775808", -9223372036854775808, true},
		{"9223372036854775808", 0, false}, {"-9223372036854775809", 0, false},
		{"", 0, false}, {"-", 0, false}, {"+1", 0, false}, {" 1", 0, false}, {"1a", 0, false},
		{"99999999999999999999", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseInt([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseInt(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
