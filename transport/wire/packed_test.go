package wire

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
)

func fieldsOf(m map[string][]byte) (int, func(func(string, []byte) bool)) {
	names := slices.Sorted(maps.Keys(m))
	return len(names), func(yield func(string, []byte) bool) {
		for _, n := range names {
			if !yield(n, m[n]) {
				return
			}
		}
	}
}

func parseAll(t testing.TB, b string) (Record, [][2]string, error) {
	t.Helper()
	rec, it, err := ParsePacked(b)
	if err != nil {
		return rec, nil, err
	}
	n := it.Len()
	var fs [][2]string
	for {
		name, v, ok := it.Next()
		if !ok {
			break
		}
		fs = append(fs, [2]string{name, v})
	}
	if len(fs) != n {
		t.Fatalf("Len said %d fields, Next gave %d", n, len(fs))
	}
	return rec, fs, nil
}

func TestPackedRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		rec    Record
		fields map[string][]byte
	}{
		{Record{ID: "abc", Subject: "alice", Version: 7, CreatedMS: 1733400000000, LastAccessMS: 1733400000123,
			IdleMS: 1800000, AbsDeadlineMS: 1733486400000, ExpiresAtMS: 1733401800123},
			map[string][]byte{"cart": []byte("4"), "role": []byte("admin"), "empty": {}, "bin": {0, 0xff, '\r', '\n'}}},
		{Record{ID: "x"}, nil}, // no subject, no times, no fields
		{Record{ID: strings.Repeat("i", 300), Subject: strings.Repeat("s", 200), Version: 1<<64 - 1, CreatedMS: -1},
			map[string][]byte{strings.Repeat("n", 130): make([]byte, 70000)}},
	} {
		n, fs := fieldsOf(tc.fields)
		b := AppendPacked([]byte("prefix"), &tc.rec, n, fs)
		if !strings.HasPrefix(string(b), "prefix") {
			t.Fatal("AppendPacked did not append")
		}
		rec, got, err := parseAll(t, string(b[len("prefix"):]))
		if err != nil {
			t.Fatalf("%+v: %v", tc.rec, err)
		}
		if rec != tc.rec {
			t.Fatalf("record %+v, want %+v", rec, tc.rec)
		}
		names := slices.Sorted(maps.Keys(tc.fields))
		if len(got) != len(names) {
			t.Fatalf("%d fields, want %d", len(got), len(names))
		}
		for i, name := range names {
			if got[i][0] != name || got[i][1] != string(tc.fields[name]) {
				t.Fatalf("field %d: %q, want %q", i, got[i][0], name)
			}
		}
	}
}

func TestPackedMalformed(t *testing.T) {
	good := string(AppendPacked(nil, &Record{ID: "id", Subject: "s", Version: 3}, 1,
		func(yield func(string, []byte) bool) { yield("f", []byte("v")) }))
	for name, b := range map[string]string{
		"empty":           "",
		"unknown format":  "\x02" + good[1:],
		"truncated":       good[:len(good)-1],
		"trailing bytes":  good + "x",
		"id too long":     "\x01\x7fid",
		"field count":     good[:len(good)-5] + "\x7f" + good[len(good)-4:],
		"varint overflow": "\x01\x02id\x01s" + strings.Repeat("\xff", 10) + "\x01",
	} {
		if _, _, err := parseAll(t, b); !errors.Is(err, ErrPacked) {
			t.Errorf("%s: err %v, want ErrPacked", name, err)
		}
	}
}

// FuzzParsePacked: no input panics or reads out of bounds, and what
// parses encodes again to something that parses to the same record.
func FuzzParsePacked(f *testing.F) {
	f.Add(string(AppendPacked(nil, &Record{ID: "id", Subject: "s", Version: 3, IdleMS: 5}, 2,
		func(yield func(string, []byte) bool) { _ = yield("a", []byte("1")) && yield("b", nil) })))
	f.Add("\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	f.Add("\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01")
	f.Fuzz(func(t *testing.T, b string) {
		rec, fs, err := parseAll(t, b)
		if err != nil {
			return
		}
		again := AppendPacked(nil, &rec, len(fs), func(yield func(string, []byte) bool) {
			for _, f := range fs {
				if !yield(f[0], []byte(f[1])) {
					return
				}
			}
		})
		rec2, fs2, err := parseAll(t, string(again))
		if err != nil || rec2 != rec || !slices.Equal(fs, fs2) {
			t.Fatalf("re-encoded record differs: %v %+v %+v", err, rec, rec2)
		}
	})
}
