package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// sampleBatch holds every command type in the canonical form DecodeBatch
// produces (nil for empty maps and lists).
func sampleBatch() *Batch {
	return &Batch{Time: -t0, Cmds: []Command{
		withReq(cCreate("s1", "u1", flds("a", "1", "", "", "bin", "\x00\xff"), 30*sec, 3600*sec), "req-1"),
		cCreate("s2", "", nil, 0, 0),
		cSet("s1", 42, flds("b", "2"), "a", "zz"),
		cSet("s1", 0, nil),
		{Type: CmdSet, Set: &Set{ID: "s1", AbsTTL: 90 * sec}},
		cTouch([]string{"s1", "s2"}, []int64{t0, -1}),
		cTouch(nil, nil),
		cDestroy("s1", "s2", "s3"),
		cRotate("s1", "s9", 7),
		cRevoke("u1", "s9"),
		cExpire("x"),
		{Type: IgnorableFlag | 1},
	}}
}

func TestBatchRoundTrip(t *testing.T) {
	for _, b := range []*Batch{sampleBatch(), {}, {Time: 1, Cmds: nil}} {
		got, err := DecodeBatch(EncodeBatch(b))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, b) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, b)
		}
	}
}

func TestCommandRoundTrip(t *testing.T) {
	for i, c := range sampleBatch().Cmds {
		prefix := []byte("prefix")
		data := AppendCommand(prefix, &c)
		if string(data[:len(prefix)]) != "prefix" {
			t.Fatal("AppendCommand clobbered dst")
		}
		got, err := DecodeCommand(data[len(prefix):])
		if err != nil {
			t.Fatalf("cmd %d: %v", i, err)
		}
		if !reflect.DeepEqual(*got, c) {
			t.Errorf("cmd %d:\n got %+v\nwant %+v", i, *got, c)
		}
	}
	// Two commands back to back are not one command.
	c := cDestroy("a")
	two := AppendCommand(AppendCommand(nil, &c), &c)
	if _, err := DecodeCommand(two); !errors.Is(err, ErrCorrupt) {
		t.Errorf("trailing command: %v", err)
	}
}

func TestEncodeNilPayload(t *testing.T) {
	got, err := DecodeBatch(EncodeBatch(&Batch{Cmds: []Command{{Type: CmdCreate}, {Type: CmdRotate}}}))
	if err != nil {
		t.Fatal(err)
	}
	if got.Cmds[0].Create == nil || !reflect.DeepEqual(*got.Cmds[0].Create, Create{}) || got.Cmds[1].Rotate == nil {
		t.Errorf("nil payloads should encode as zero values: %+v", got.Cmds)
	}
}

func TestDecodeBatchErrors(t *testing.T) {
	valid := EncodeBatch(sampleBatch())
	cmd := func(typ CmdType, ver byte, payload ...byte) []byte {
		return append([]byte{byte(typ), ver, byte(len(payload))}, payload...)
	}
	batch := func(cmds ...[]byte) []byte {
		b := []byte{byte(CmdBatch), EnvelopeVersion, 0, byte(len(cmds))}
		for _, c := range cmds {
			b = append(b, c...)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrCorrupt},
		{"top-level command", AppendCommand(nil, &Command{Type: CmdDestroy, Destroy: &Destroy{}}), ErrUnknownCmd},
		{"top-level ignorable", []byte{byte(IgnorableFlag | 2), 1}, ErrUnknownCmd},
		{"envelope version", []byte{byte(CmdBatch), EnvelopeFlagsVersion + 1, 0, 0}, ErrUnknownCmd},
		{"unknown batch flag", []byte{byte(CmdBatch), EnvelopeFlagsVersion, 0, 2, 0}, ErrUnknownCmd},
		{"flags truncated", []byte{byte(CmdBatch), EnvelopeFlagsVersion, 0}, ErrCorrupt},
		{"trailing bytes", append(append([]byte(nil), valid...), 0), ErrCorrupt},
		{"unknown type", batch(cmd(100, 1)), ErrUnknownCmd},
		{"nested batch", batch(cmd(CmdBatch, 1)), ErrUnknownCmd},
		{"type zero", batch(cmd(0, 1)), ErrUnknownCmd},
		{"future command version", batch(cmd(CmdDestroy, 2, 0, 0)), ErrUnknownCmd},
		{"payload too short", batch(cmd(CmdDestroy, 1, 0)), ErrCorrupt},
		{"payload too long", batch(cmd(CmdDestroy, 1, 0, 0, 0)), ErrCorrupt},
		{"payload length beyond input", []byte{byte(CmdBatch), 1, 0, 1, byte(CmdDestroy), 1, 100}, ErrCorrupt},
		{"huge count", []byte{byte(CmdBatch), 1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}, ErrCorrupt},
		{"huge id count", batch(cmd(CmdDestroy, 1, 0, 0xff, 0xff, 0x03)), ErrCorrupt},
		{"duplicate field", batch(cmd(CmdCreate, 1, 0, 1, 'x', 0, 2, 1, 'a', 0, 1, 'a', 0, 0, 0)), ErrCorrupt},
		{"bad varint", batch(cmd(CmdRotate, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)), ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeBatch(tc.data); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	// The hand-built helpers above do produce valid input.
	if _, err := DecodeBatch(batch(cmd(CmdDestroy, 1, 0, 0))); err != nil {
		t.Fatalf("valid hand-built batch: %v", err)
	}
	if _, err := DecodeBatch(batch(cmd(IgnorableFlag|9, 5, 1, 2, 3))); err != nil {
		t.Fatalf("ignorable command: %v", err)
	}
	for n := range len(valid) {
		if _, err := DecodeBatch(valid[:n]); err == nil {
			t.Fatalf("prefix of %d/%d bytes decoded", n, len(valid))
		}
	}
}

func TestResultRoundTrip(t *testing.T) {
	rec := mkRecord("s1", "u", encFields(fl("a", "1")), Record{Version: 3, Created: t0, LastAccess: t0 + 1, IdleTimeout: 2, AbsDeadline: 4})
	for _, tc := range []struct {
		err      error
		sentinel error
	}{
		{nil, nil},
		{fmt.Errorf("%w: id %q", ErrNotFound, "s1"), ErrNotFound},
		{ErrExists, ErrExists},
		{fmt.Errorf("%w: version 3", ErrConflict), ErrConflict},
		{fmt.Errorf("%w: big", ErrTooLarge), ErrTooLarge},
		{fmt.Errorf("%w: empty id", ErrInvalid), ErrInvalid},
		{fmt.Errorf("x: %w", ErrCorrupt), ErrCorrupt},
		{fmt.Errorf("%w: type 9", ErrUnknownCmd), ErrUnknownCmd},
		{errors.New("something else"), nil},
	} {
		in := &Result{Err: tc.err, Version: 9, Count: 3, ID: "s1", Record: rec}
		out, err := DecodeResult(AppendResult(nil, in))
		if err != nil {
			t.Fatal(err)
		}
		if (out.Err == nil) != (tc.err == nil) || tc.err != nil && out.Err.Error() != tc.err.Error() {
			t.Errorf("err %v → %v", tc.err, out.Err)
		}
		if tc.sentinel != nil && !errors.Is(out.Err, tc.sentinel) {
			t.Errorf("decoded %v is not %v", out.Err, tc.sentinel)
		}
		for _, s := range codeSentinels {
			if s != nil && s != tc.sentinel && errors.Is(out.Err, s) {
				t.Errorf("decoded %v also matches %v", out.Err, s)
			}
		}
		if out.Version != 9 || out.Count != 3 || out.ID != "s1" || !sameRecord(out.Record, rec) {
			t.Errorf("got %+v", out)
		}
	}
	out, err := DecodeResult(AppendResult(nil, &Result{Count: -1}))
	if err != nil || out.Record != nil || out.Count != -1 || out.ID != "" {
		t.Errorf("no record: %+v %v", out, err)
	}
	// The layout, byte for byte: version, code, message, Version, Count,
	// ID, record flag.
	if got, want := AppendResult(nil, &Result{Version: 5, Count: 1, ID: "ab"}), []byte{2, 0, 0, 5, 2, 2, 'a', 'b', 0}; !bytes.Equal(got, want) {
		t.Errorf("encoding %v, want %v", got, want)
	}
	// Other versions, including the ID-less version 1, are corrupt.
	for _, v := range []byte{0, 1, 3} {
		if _, err := DecodeResult([]byte{v, 0, 0, 0, 0, 0, 0}); !errors.Is(err, ErrCorrupt) {
			t.Errorf("version %d: %v", v, err)
		}
	}
	// An error code from a newer binary keeps its code and message.
	data := []byte{resultVersion, 42, 3, 'n', 'e', 'w', 0, 0, 0, 0}
	out, err = DecodeResult(data)
	if err != nil || out.Err == nil || out.Err.Error() != "new" {
		t.Fatalf("unknown code: %+v %v", out, err)
	}
	if again := AppendResult(nil, out); string(again) != string(data) {
		t.Errorf("unknown code not preserved: %x", again)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range []*Record{
		mkRecord("s1", "u", encFields(fl("a", "1", "b", "")), Record{Version: 3, Created: t0, LastAccess: t0 + 1, IdleTimeout: 2, AbsDeadline: -4}),
		{},
	} {
		data := AppendRecord(nil, r)
		got, err := DecodeRecord(data)
		if err != nil {
			t.Fatal(err)
		}
		if !sameRecord(got, r) {
			t.Errorf("got %s, want %s", dump(got), dump(r))
		}
		for n := range len(data) {
			if _, err := DecodeRecord(data[:n]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("prefix %d: %v", n, err)
			}
		}
		bad := append([]byte{recordVersion + 1}, data[1:]...)
		if _, err := DecodeRecord(bad); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("record version: %v", err)
		}
	}
}

func TestEncodingIsCanonical(t *testing.T) {
	// Same map, different insertion order, same bytes.
	a, b := map[string][]byte{}, map[string][]byte{}
	for i := range 50 {
		a[fmt.Sprint(i)] = []byte{byte(i)}
		b[fmt.Sprint(49-i)] = []byte{byte(49 - i)}
	}
	ca, cb := cCreate("x", "", a, 0, 0), cCreate("x", "", b, 0, 0)
	if string(AppendCommand(nil, &ca)) != string(AppendCommand(nil, &cb)) {
		t.Fatal("command encoding depends on map order")
	}
	// A record built from either map has the same field order, and encodes
	// its fields exactly as the command did.
	ra, rb := (mkRecord("x", "", nil, Record{})).WithFields(a), (mkRecord("x", "", nil, Record{})).WithFields(b)
	if string(AppendRecord(nil, ra)) != string(AppendRecord(nil, rb)) {
		t.Fatal("record encoding depends on map order")
	}
	if string(ra.payload()) != string(appendFields(nil, a)) {
		t.Fatal("record fields encode unlike command fields")
	}
}
