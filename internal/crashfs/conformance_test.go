package crashfs

import (
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"path"
	"slices"
	"testing"
)

// TestConformance runs the same operations on the real file system and on
// the model (with no crash), so the model the stores' power-loss tests
// trust answers as the real one does.
func TestConformance(t *testing.T) {
	t.Run("OS", func(t *testing.T) { exercise(t, OS{}, t.TempDir()) })
	t.Run("Mem", func(t *testing.T) { exercise(t, NewMem(rand.New(rand.NewPCG(1, 1))), "/root") })
}

func exercise(t *testing.T, fsys FS, root string) {
	t.Helper()
	dir := path.Join(root, "a", "b")
	must(t, fsys.MkdirAll(dir))
	must(t, fsys.MkdirAll(dir)) // exists: fine
	must(t, fsys.SyncDir(dir))

	p := path.Join(dir, "f")
	f, err := fsys.Create(p, 0o600)
	must(t, err)
	if _, err := fsys.Create(p, 0o600); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create of an existing file: %v, want ErrExist", err)
	}
	for _, chunk := range []string{"hello ", "world"} {
		if n, err := f.Write([]byte(chunk)); err != nil || n != len(chunk) {
			t.Fatalf("Write(%q) = %d, %v", chunk, n, err)
		}
	}
	if _, err := f.WriteAt([]byte("W"), 6); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("!"), 13); err != nil { // past the end: a hole of zeros
		t.Fatal(err)
	}
	must(t, f.Datasync())
	must(t, f.Sync())
	wantSize(t, f, 14)
	must(t, f.Truncate(11))
	wantSize(t, f, 11)
	buf := make([]byte, 20)
	n, err := f.ReadAt(buf, 0)
	if n != 11 || !errors.Is(err, io.EOF) || string(buf[:n]) != "hello World" {
		t.Fatalf("ReadAt = %d %q, %v", n, buf[:n], err)
	}
	if _, err := f.ReadAt(buf, 11); !errors.Is(err, io.EOF) {
		t.Fatalf("ReadAt at the end: %v, want EOF", err)
	}
	must(t, f.Close())
	if _, err := f.Write([]byte("x")); err == nil {
		t.Fatal("Write after Close succeeded")
	}

	b, err := fsys.ReadFile(p)
	if err != nil || string(b) != "hello World" {
		t.Fatalf("ReadFile = %q, %v", b, err)
	}
	v, release, err := fsys.ViewFile(p)
	if err != nil || string(v) != "hello World" {
		t.Fatalf("ViewFile = %q, %v", v, err)
	}
	release()
	if _, _, err := fsys.ViewFile(path.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ViewFile of a missing file: %v, want ErrNotExist", err)
	}
	r, err := fsys.Open(p)
	must(t, err)
	if _, err := r.Write([]byte("x")); err == nil {
		t.Fatal("Write on a file opened read-only succeeded")
	}
	wantSize(t, r, 11)
	must(t, r.Close())
	rw, err := fsys.OpenRW(p)
	must(t, err)
	if _, err := rw.WriteAt([]byte("H"), 0); err != nil {
		t.Fatal(err)
	}
	must(t, rw.Close())
	if b, _ := fsys.ReadFile(p); string(b) != "Hello World" {
		t.Fatalf("after OpenRW and WriteAt: %q", b)
	}
	if _, err := fsys.Open(path.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open of a missing file: %v, want ErrNotExist", err)
	}

	must(t, fsys.MkdirAll(path.Join(dir, "sub", "deep")))
	g, err := fsys.Create(path.Join(dir, "sub", "deep", "g"), 0o640)
	must(t, err)
	must(t, g.Close())
	if v, release, err := fsys.ViewFile(path.Join(dir, "sub", "deep", "g")); err != nil || len(v) != 0 {
		t.Fatalf("ViewFile of an empty file = %q, %v", v, err)
	} else {
		release()
	}
	must(t, fsys.Rename(path.Join(dir, "sub"), path.Join(dir, "sub2")))
	ents, err := fsys.ReadDir(dir)
	must(t, err)
	if want := []DirEntry{{Name: "f"}, {Name: "sub2", Dir: true}}; !slices.Equal(ents, want) {
		t.Fatalf("ReadDir = %v, want %v", ents, want)
	}
	if err := fsys.Remove(path.Join(dir, "sub2")); err == nil {
		t.Fatal("Remove of a directory that is not empty succeeded")
	}
	must(t, fsys.RemoveAll(path.Join(dir, "sub2")))
	must(t, fsys.RemoveAll(path.Join(dir, "sub2"))) // gone: fine
	must(t, fsys.Remove(p))
	if err := fsys.Remove(p); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("second Remove: %v, want ErrNotExist", err)
	}
	must(t, fsys.SyncDir(dir))
	if ents, err := fsys.ReadDir(dir); err != nil || len(ents) != 0 {
		t.Fatalf("ReadDir after removals = %v, %v", ents, err)
	}
	if _, err := fsys.ReadDir(path.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadDir of a missing directory: %v, want ErrNotExist", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantSize(t *testing.T, f File, want int64) {
	t.Helper()
	if got, err := f.Size(); err != nil || got != want {
		t.Fatalf("Size = %d, %v, want %d", got, err, want)
	}
}
