package node

import (
	"encoding/binary"
	"slices"
	"testing"

	"github.com/sessionraft/sessionraft/fsm"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, id := range []string{"a", "0", "Z7xRLcuqedaoD_68o2OJ2Q", "with space", "\x00\xff"} {
		c := encodeCursor(id)
		if c == cursorStart {
			t.Fatalf("id %q encodes as the start cursor", id)
		}
		if got, err := decodeCursor([]byte(c)); err != nil || got != id {
			t.Fatalf("%q -> %q -> %q, %v", id, c, got, err)
		}
	}
	if got, err := decodeCursor([]byte("0")); err != nil || got != "" {
		t.Fatalf("start cursor: %q, %v", got, err)
	}
	for _, bad := range []string{"", "!!", "a"} {
		if _, err := decodeCursor([]byte(bad)); err == nil {
			t.Errorf("cursor %q accepted", bad)
		}
	}
}

func rec(id string, size int) *fsm.Record {
	return fsm.NewRecord(id, "").WithFields(map[string][]byte{"f": make([]byte, size)})
}

// Merging the groups' pages never skips an id: a group that has more
// stops the merged page at its last id.
func TestMergePages(t *testing.T) {
	a := fsm.Page{Records: []*fsm.Record{rec("a1", 1), rec("a5", 1)}, More: true, Next: "a5"}
	b := fsm.Page{Records: []*fsm.Record{rec("a2", 1), rec("a7", 1)}}
	p := mergePages([]fsm.Page{a, b}, 10)
	if ids := recIDs(p.recs); !slices.Equal(ids, []string{"a1", "a2", "a5"}) || p.next != "a5" {
		t.Fatalf("merged %v next %q", ids, p.next)
	}
	p = mergePages([]fsm.Page{b}, 1)
	if ids := recIDs(p.recs); !slices.Equal(ids, []string{"a2"}) || p.next != "a2" {
		t.Fatalf("limit 1: %v next %q", ids, p.next)
	}
	p = mergePages([]fsm.Page{b}, 10)
	if len(p.recs) != 2 || p.next != "" {
		t.Fatalf("last page: %d records, next %q", len(p.recs), p.next)
	}
	big := fsm.Page{Records: []*fsm.Record{rec("b1", maxListBytes), rec("b2", 1)}}
	if p := mergePages([]fsm.Page{big}, 10); len(p.recs) != 1 || p.next != "b1" {
		t.Fatalf("byte bound: %d records, next %q", len(p.recs), p.next)
	}
}

func recIDs(recs []*fsm.Record) []string {
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.ID())
	}
	return ids
}

func FuzzListPageRPC(f *testing.F) {
	req := binary.AppendUvarint(nil, 100)
	req = binary.AppendUvarint(req, 2)
	req = append(req, "abalice"...)
	f.Add(req)
	f.Add(appendListPage(nil, fsm.Page{Records: []*fsm.Record{rec("x", 3)}, More: true, Next: "x"}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if limit, after, subject, err := parseListPageReq(b); err == nil {
			if limit < 1 || limit > maxListLimit || len(after)+len(subject) > len(b) {
				t.Fatalf("parsed limit %d after %q subject %q from %d bytes", limit, after, subject, len(b))
			}
		}
		if p, err := decodeListPage(b); err == nil {
			again, err := decodeListPage(appendListPage(nil, p))
			if err != nil || again.More != p.More || again.Next != p.Next || len(again.Records) != len(p.Records) {
				t.Fatalf("page does not round-trip: %v", err)
			}
		}
	})
}
