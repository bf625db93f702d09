package mux

import (
	"bytes"
	"errors"
	"testing"
)

func TestHeaderRoundTrip(t *testing.T) {
	for _, h := range []header{
		{kind: kindRaft, group: 0, addr: "127.0.0.1:7000"},
		{kind: kindRaft, group: 65535, addr: "node-1.example:7000"},
		{kind: kindRPC, addr: "[::1]:1"},
		{kind: kindRaft, group: 7, addr: "10.0.0.1:7000", id: "n1"},
		{kind: kindRPC, addr: "x:1", id: string(bytes.Repeat([]byte{'i'}, maxIDLen))},
	} {
		b, err := appendHeader(nil, h)
		if err != nil {
			t.Fatalf("appendHeader(%+v): %v", h, err)
		}
		// Trailing bytes must stay unread: they belong to the stream.
		r := bytes.NewReader(append(b, "rest"...))
		got, err := readHeader(r)
		if err != nil {
			t.Fatalf("readHeader: %v", err)
		}
		if got != h {
			t.Fatalf("round trip: got %+v want %+v", got, h)
		}
		if r.Len() != 4 {
			t.Fatalf("readHeader consumed %d trailing bytes", 4-r.Len())
		}
	}
}

func TestHeaderRejects(t *testing.T) {
	good, _ := appendHeader(nil, header{kind: kindRaft, group: 3, addr: "a:1"})
	mut := func(i int, v byte) []byte {
		b := bytes.Clone(good)
		b[i] = v
		return b
	}
	cases := map[string][]byte{
		"empty":       nil,
		"bad magic":   mut(0, 'X'),
		"bad ver":     mut(4, 9),
		"v2 no id":    mut(4, headerVersionID),
		"v2 zero id":  append(mut(4, headerVersionID), 0),
		"v2 short id": append(mut(4, headerVersionID), 3, 'a'),
		"bad kind":    mut(5, 'Z'),
		"short":       good[:len(good)-1],
		"zero addr":   {'S', 'R', 'M', 'X', 1, 'P', 0, 0},
		"huge addr":   {'S', 'R', 'M', 'X', 1, 'P', 0xff, 0xff},
		"http probe":  []byte("GET / HTTP/1.1\r\n\r\n"),
	}
	for name, b := range cases {
		if _, err := readHeader(bytes.NewReader(b)); !errors.Is(err, ErrBadHeader) {
			t.Errorf("%s: err = %v, want ErrBadHeader", name, err)
		}
	}
	if _, err := appendHeader(nil, header{kind: kindRPC}); err == nil {
		t.Error("appendHeader accepted an empty address")
	}
	if _, err := appendHeader(nil, header{kind: kindRPC, addr: "a:1", id: string(bytes.Repeat([]byte{'i'}, maxIDLen+1))}); err == nil {
		t.Error("appendHeader accepted an over-long node id")
	}
	if _, err := appendHeader(nil, header{kind: 'Q', addr: "a:1"}); err == nil {
		t.Error("appendHeader accepted an unknown kind")
	}
}

func FuzzHeader(f *testing.F) {
	for _, h := range []header{{kind: kindRaft, group: 9, addr: "127.0.0.1:7000"}, {kind: kindRPC, addr: "x:1"}, {kind: kindRPC, addr: "x:1", id: "n2"}} {
		b, _ := appendHeader(nil, h)
		f.Add(b)
	}
	f.Add([]byte("SRMX\x01R"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		h, err := readHeader(r)
		if err != nil {
			return
		}
		// Anything accepted re-encodes to exactly the bytes consumed.
		n := len(data) - r.Len()
		b, err := appendHeader(nil, h)
		if err != nil {
			t.Fatalf("accepted header %+v does not re-encode: %v", h, err)
		}
		if !bytes.Equal(b, data[:n]) {
			t.Fatalf("re-encoded %x, consumed %x", b, data[:n])
		}
	})
}
