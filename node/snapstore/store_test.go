package snapstore

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

var testConf = raft.Configuration{Servers: []raft.Server{
	{ID: "n1", Address: "127.0.0.1:7001", Suffrage: raft.Voter},
	{ID: "n2", Address: "127.0.0.1:7002", Suffrage: raft.Nonvoter},
}}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func write(t *testing.T, s raft.SnapshotStore, term, index uint64, data []byte) string {
	t.Helper()
	// FileSnapshotStore encodes the legacy peer list with a transport.
	_, trans := raft.NewInmemTransport("")
	defer trans.Close()
	sink, err := s.Create(raft.SnapshotVersionMax, index, term, testConf, index-1, trans)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	return sink.ID()
}

func read(t *testing.T, s raft.SnapshotStore, id string) (*raft.SnapshotMeta, []byte) {
	t.Helper()
	m, rc, err := s.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return m, b
}

// TestRaftCompatible: snapshots written by hashicorp/raft's
// FileSnapshotStore read here and the other way round (data directories
// from before this store, and tools still on raft's), metadata included.
func TestRaftCompatible(t *testing.T) {
	dir := t.TempDir()
	theirs, err := raft.NewFileSnapshotStore(dir, 2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a := []byte(strings.Repeat("raft's ", 1000))
	idA := write(t, theirs, 3, 10, a)
	ours, err := New(dir, Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	m, got := read(t, ours, idA)
	if !bytes.Equal(got, a) || m.Index != 10 || m.Term != 3 || m.ConfigurationIndex != 9 || len(m.Configuration.Servers) != 2 {
		t.Fatalf("raft's snapshot read as %+v, %d bytes", m, len(got))
	}
	b := []byte(strings.Repeat("ours ", 1000))
	idB := write(t, ours, 3, 20, b)
	list, err := theirs.List()
	if err != nil || len(list) != 2 || list[0].ID != idB {
		t.Fatalf("raft lists %v, %v", list, err)
	}
	m, got = read(t, theirs, idB)
	if !bytes.Equal(got, b) || m.Index != 20 || m.Size != int64(len(b)) || m.Configuration.Servers[1].Suffrage != raft.Nonvoter {
		t.Fatalf("our snapshot read by raft as %+v, %d bytes", m, len(got))
	}
}

// TestRetainAndReap: Close keeps the newest Retain snapshots, removes the
// rest whole, and leaves no ".tmp" behind; List is newest first.
func TestRetainAndReap(t *testing.T) {
	dir := t.TempDir()
	s, err := New(dir, Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := uint64(1); i <= 4; i++ {
		ids = append(ids, write(t, s, 1, i*10, []byte{byte(i)}))
	}
	list, err := s.List()
	if err != nil || len(list) != 2 || list[0].ID != ids[3] || list[1].ID != ids[2] {
		t.Fatalf("List = %v, %v; want %s, %s", list, err, ids[3], ids[2])
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "snapshots"))
	if len(ents) != 2 {
		t.Fatalf("%d entries in snapshots/, want 2: %v", len(ents), ents)
	}
	// A cancelled snapshot leaves nothing.
	sink, err := s.Create(raft.SnapshotVersionMax, 50, 1, testConf, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	sink.Write([]byte("x"))
	if err := sink.Cancel(); err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Write([]byte("y")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Cancel: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "snapshots")); len(ents) != 2 {
		t.Fatalf("after Cancel: %v", ents)
	}
}

// TestIncompleteSnapshots: New removes a half-written snapshot; List skips
// (and Open refuses with ErrDamaged) a snapshot whose metadata is garbage
// or has no CRC, whose data has the wrong size, and Open refuses one
// whose data fails its CRC; an id that is not a snapshot's name is not
// found.
func TestIncompleteSnapshots(t *testing.T) {
	dir := t.TempDir()
	s, err := New(dir, Options{Logger: quiet(), Retain: 5})
	if err != nil {
		t.Fatal(err)
	}
	snaps := filepath.Join(dir, "snapshots")
	good := write(t, s, 1, 10, []byte("good data"))
	damage := map[string]func(id string){
		"garbage meta": func(id string) { os.WriteFile(filepath.Join(snaps, id, metaFile), []byte("{not json"), 0o640) },
		"no CRC": func(id string) {
			b, _ := os.ReadFile(filepath.Join(snaps, id, metaFile))
			b = bytes.Replace(b, []byte(`"CRC":"`), []byte(`"CRC":null,"X":"`), 1)
			os.WriteFile(filepath.Join(snaps, id, metaFile), b, 0o640)
		},
		"short data": func(id string) { os.Truncate(filepath.Join(snaps, id, stateFile), 3) },
		"no data":    func(id string) { os.Remove(filepath.Join(snaps, id, stateFile)) },
	}
	idx := uint64(20)
	for name, f := range damage {
		id := write(t, s, 1, idx, []byte("newer data"))
		idx += 10
		f(id)
		list, err := s.List()
		if err != nil || len(list) != 1 || list[0].ID != good {
			t.Fatalf("%s: List = %v, %v; want only %s", name, list, err, good)
		}
		if _, _, err := s.Open(id); err == nil {
			t.Fatalf("%s: Open succeeded", name)
		}
		os.RemoveAll(filepath.Join(snaps, id))
	}
	id := write(t, s, 1, idx, []byte("newer data"))
	os.WriteFile(filepath.Join(snaps, id, stateFile), []byte("NEWER DATA"), 0o640)
	if _, _, err := s.Open(id); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "CRC") {
		t.Fatalf("Open of flipped data: %v", err)
	}
	for _, bad := range []string{"", "..", "../snapshots/" + good, good + "/x"} {
		if _, _, err := s.Open(bad); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Open(%q): %v", bad, err)
		}
	}
	if _, err := s.Create(2, 1, 1, testConf, 1, nil); !errors.Is(err, ErrVersion) {
		t.Fatalf("Create version 2: %v", err)
	}
	// A crash while writing: the ".tmp" directory goes at the next New.
	os.MkdirAll(filepath.Join(snaps, "1-99-1.tmp"), 0o750)
	os.WriteFile(filepath.Join(snaps, "1-99-1.tmp", stateFile), []byte("half"), 0o640)
	s, err = New(dir, Options{Logger: quiet()})
	if err != nil || len(s.Removed) != 1 || s.Removed[0] != "1-99-1.tmp" {
		t.Fatalf("New: %v, removed %v", err, s.Removed)
	}
	if _, err := os.Stat(filepath.Join(snaps, "1-99-1.tmp")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the .tmp directory is still there: %v", err)
	}
}

// TestSameMillisecond: two snapshots of one term and index started
// together (raft can take one while it installs another) get their own
// directories and both complete.
func TestSameMillisecond(t *testing.T) {
	s, err := New(t.TempDir(), Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Create(raft.SnapshotVersionMax, 7, 1, testConf, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Create(raft.SnapshotVersionMax, 7, 1, testConf, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID() == b.ID() {
		t.Fatalf("both snapshots are %s", a.ID())
	}
	a.Write([]byte("a"))
	b.Write([]byte("b"))
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	list, err := s.List()
	if err != nil || len(list) != 2 {
		t.Fatalf("List = %v, %v", list, err)
	}
	if _, got := read(t, s, b.ID()); string(got) != "b" {
		t.Fatalf("second snapshot reads %q", got)
	}
}
