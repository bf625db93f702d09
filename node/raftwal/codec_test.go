package raftwal

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestCodecRoundTrip(t *testing.T) {
	tests := []raft.Log{
		{},
		{Term: 1, Type: raft.LogCommand, Data: []byte("x")},
		{Term: 1 << 62, Type: raft.LogConfiguration, Data: bytes.Repeat([]byte{7}, 1<<16), Extensions: []byte("ext"), AppendedAt: time.Unix(0, 1763860000123456789)},
		{Term: 3, Type: raft.LogBarrier, AppendedAt: time.Unix(-5, 0)},
	}
	for _, in := range tests {
		var out raft.Log
		if err := decodeLog(encodeLog(nil, &in), &out); err != nil {
			t.Fatalf("decode(encode(%+v)): %v", in, err)
		}
		if out.Term != in.Term || out.Type != in.Type || !bytes.Equal(out.Data, in.Data) ||
			!bytes.Equal(out.Extensions, in.Extensions) || !out.AppendedAt.Equal(in.AppendedAt) {
			t.Fatalf("round trip: got %+v, want %+v", out, in)
		}
	}
}

func TestCodecRejectsGarbage(t *testing.T) {
	good := encodeLog(nil, &raft.Log{Term: 2, Data: []byte("abc")})
	for name, b := range map[string][]byte{
		"empty":         nil,
		"bad version":   append([]byte{9}, good[1:]...),
		"truncated":     good[:len(good)-2],
		"trailing":      append(append([]byte(nil), good...), 0),
		"huge data len": {codecVersion, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
	} {
		var l raft.Log
		if err := decodeLog(b, &l); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", name, err)
		}
	}
}

// FuzzDecodeLog: no input panics, and whatever decodes re-encodes to the
// same bytes (the encoding is canonical apart from AppendedAt zero).
func FuzzDecodeLog(f *testing.F) {
	f.Add(encodeLog(nil, &raft.Log{Term: 2, Type: raft.LogCommand, Data: []byte("abc"), Extensions: []byte{1}}))
	f.Add(encodeLog(nil, &raft.Log{AppendedAt: time.Unix(1, 2)}))
	f.Add([]byte{codecVersion, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		var l raft.Log
		if err := decodeLog(b, &l); err != nil {
			return
		}
		var again raft.Log
		if err := decodeLog(encodeLog(nil, &l), &again); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if again.Term != l.Term || again.Type != l.Type || !bytes.Equal(again.Data, l.Data) ||
			!bytes.Equal(again.Extensions, l.Extensions) || !again.AppendedAt.Equal(l.AppendedAt) {
			t.Fatalf("not stable: %+v vs %+v", again, l)
		}
	})
}

// TestDecodeLogCapped: Data and Extensions share the read buffer, capped,
// so a caller appending to Data cannot overwrite Extensions.
func TestDecodeLogCapped(t *testing.T) {
	in := raft.Log{Term: 2, Type: raft.LogCommand, Data: []byte("data"), Extensions: []byte("ext")}
	var out raft.Log
	if err := decodeLog(encodeLog(nil, &in), &out); err != nil {
		t.Fatal(err)
	}
	_ = append(out.Data, "XXXXXXXX"...)
	if string(out.Extensions) != "ext" {
		t.Fatalf("Extensions = %q after an append to Data", out.Extensions)
	}
}
