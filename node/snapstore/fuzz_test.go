package snapstore

import (
	"bytes"
	"hash/crc64"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/internal/crashfs"
)

// FuzzDecodeMeta: any meta.json bytes decode to a snapshot that passes
// every check or to an error; never a panic, and what decodes encodes and
// decodes back the same.
func FuzzDecodeMeta(f *testing.F) {
	m := &fileMeta{SnapshotMeta: raft.SnapshotMeta{Version: 1, ID: "2-10-1", Index: 10, Term: 2, Size: 5,
		Configuration: testConf, ConfigurationIndex: 9}, CRC: make([]byte, 8)}
	b, _ := encodeMeta(m)
	f.Add(b)
	f.Add([]byte(`{"Version":1,"ID":"2-10-1","CRC":null}`))
	f.Add([]byte(`{"Version":0,"ID":"2-10-1","CRC":"AAAAAAAAAAA="}`))
	f.Add([]byte(`{"Version":1,"ID":"2-10-1","Size":-1,"CRC":"AAAAAAAAAAA="}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMeta("2-10-1", b)
		if err != nil {
			return
		}
		if m.ID != "2-10-1" || len(m.CRC) != 8 || m.Size < 0 || m.Version > raft.SnapshotVersionMax {
			t.Fatalf("accepted %+v", m)
		}
		enc, err := encodeMeta(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := decodeMeta("2-10-1", enc)
		if err != nil || m2.Index != m.Index || m2.Term != m.Term || !bytes.Equal(m2.CRC, m.CRC) || m2.Size != m.Size {
			t.Fatalf("round trip: %+v -> %+v, %v", m, m2, err)
		}
	})
}

// FuzzOpen: a snapshot directory with any meta.json and state.bin is
// either not listed and not opened, or opens to exactly state.bin's bytes
// whose CRC-64 its metadata holds.
func FuzzOpen(f *testing.F) {
	state := []byte("some state")
	m := &fileMeta{SnapshotMeta: raft.SnapshotMeta{Version: 1, ID: "1-5-1", Index: 5, Term: 1, Size: int64(len(state))}}
	h := crc64.New(crcTable)
	h.Write(state)
	m.CRC = h.Sum(nil)
	good, _ := encodeMeta(m)
	f.Add(good, state)
	f.Add(good, []byte("some stat"))
	f.Add([]byte("{}"), state)
	f.Fuzz(func(t *testing.T, meta, data []byte) {
		fsys := crashfs.NewMem(rand.New(rand.NewPCG(1, 2)))
		s, err := New("/g", Options{fs: fsys, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		put := func(p string, b []byte) {
			w, err := fsys.Create(p, filePerm)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(b)
		}
		fsys.MkdirAll("/g/snapshots/1-5-1")
		put("/g/snapshots/1-5-1/meta.json", meta)
		put("/g/snapshots/1-5-1/state.bin", data)
		list, err := s.List()
		if err != nil {
			t.Fatal(err)
		}
		got, rc, err := s.Open("1-5-1")
		if err != nil {
			return
		}
		defer rc.Close()
		if len(list) != 1 {
			t.Fatalf("opens but listed %v", list)
		}
		b, err := io.ReadAll(rc)
		if err != nil || !bytes.Equal(b, data) || got.Size != int64(len(data)) {
			t.Fatalf("read %d bytes (%v), wrote %d", len(b), err, len(data))
		}
		dm, err := decodeMeta("1-5-1", meta)
		if err != nil {
			t.Fatalf("opened with metadata that does not decode: %v", err)
		}
		h := crc64.New(crcTable)
		h.Write(data)
		if !bytes.Equal(h.Sum(nil), dm.CRC) {
			t.Fatal("opened although the data's CRC differs from the metadata's")
		}
	})
}
