package crashfs

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// newTestMem returns a Mem with a durable directory /d.
func newTestMem(t *testing.T, seed uint64) *Mem {
	t.Helper()
	m := NewMem(rand.New(rand.NewPCG(seed, 7)))
	must(t, m.MkdirAll("/d"))
	must(t, m.SyncDir("/"))
	return m
}

func writeFile(t *testing.T, m *Mem, p string, b []byte, sync bool) File {
	t.Helper()
	f, err := m.Create(p, 0o600)
	must(t, err)
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if sync {
		must(t, f.Datasync())
	}
	return f
}

func exists(m *Mem, p string) bool {
	_, err := m.ReadFile(p)
	return err == nil
}

// TestMemSyncedSurvives: what the file and directory syncs made durable is
// in every reboot, whatever the seed.
func TestMemSyncedSurvives(t *testing.T) {
	data := bytes.Repeat([]byte("abcdefgh"), 300)
	for seed := range uint64(200) {
		m := newTestMem(t, seed)
		writeFile(t, m, "/d/f", data, true)
		must(t, m.SyncDir("/d"))
		img := m.Image()
		if b, err := img.ReadFile("/d/f"); err != nil || !bytes.Equal(b, data) {
			t.Fatalf("seed %d: synced file after a reboot: %d bytes, %v", seed, len(b), err)
		}
	}
}

// TestMemTear: after a reboot an unsynced append is torn in each of the
// documented ways, and what it leaves is the synced bytes, then written
// bytes or zeros, never anything else.
func TestMemTear(t *testing.T) {
	synced := bytes.Repeat([]byte{1}, 700)
	tail := bytes.Repeat([]byte{2}, 1500)
	seen := map[string]bool{}
	for seed := range uint64(500) {
		m := newTestMem(t, seed)
		f := writeFile(t, m, "/d/f", synced, true)
		must(t, m.SyncDir("/d"))
		if _, err := f.Write(tail); err != nil {
			t.Fatal(err)
		}
		b, err := m.Image().ReadFile("/d/f")
		must(t, err)
		if len(b) < len(synced) || !bytes.Equal(b[:len(synced)], synced) {
			t.Fatalf("seed %d: the synced bytes were torn (%d bytes left)", seed, len(b))
		}
		if len(b) > len(synced)+len(tail) {
			t.Fatalf("seed %d: %d bytes, more than written", seed, len(b))
		}
		rest := b[len(synced):]
		zeros, kept := 0, 0
		for _, c := range rest {
			switch c {
			case 0:
				zeros++
			case 2:
				kept++
			default:
				t.Fatalf("seed %d: garbage byte %d in the torn tail", seed, c)
			}
		}
		switch {
		case len(rest) == 0:
			seen["nothing"] = true
		case kept == len(tail):
			seen["everything"] = true
		case zeros == 0:
			seen["a prefix"] = true
		case kept > 0:
			seen["some bytes and zeros"] = true
		default:
			seen["zeros only"] = true
		}
	}
	for _, want := range []string{"nothing", "everything", "a prefix", "some bytes and zeros", "zeros only"} {
		if !seen[want] {
			t.Errorf("500 seeds never left %s of an unsynced append (seen: %v)", want, seen)
		}
	}
}

// TestMemUnsyncedEntries: a create, a remove or a rename not followed by
// SyncDir of its directory may or may not survive; a rename's two names
// follow one coin.
func TestMemUnsyncedEntries(t *testing.T) {
	var created, lost, renamed, notRenamed int
	for seed := range uint64(200) {
		m := newTestMem(t, seed)
		writeFile(t, m, "/d/old", []byte("x"), true)
		must(t, m.SyncDir("/d"))
		writeFile(t, m, "/d/new", []byte("y"), true)
		must(t, m.Rename("/d/old", "/d/moved"))
		img := m.Image()
		if exists(img, "/d/new") {
			created++
		} else {
			lost++
		}
		switch old, moved := exists(img, "/d/old"), exists(img, "/d/moved"); {
		case old && !moved:
			notRenamed++
		case moved && !old:
			renamed++
		default:
			t.Fatalf("seed %d: after a torn rename old=%v moved=%v: not atomic", seed, old, moved)
		}
	}
	if created == 0 || lost == 0 || renamed == 0 || notRenamed == 0 {
		t.Fatalf("200 seeds: unsynced create kept %d lost %d, rename kept %d lost %d: want both ways each", created, lost, renamed, notRenamed)
	}
}

// TestMemIgnoreSyncDir: with a directory's sync ignored, a synced create in
// it can vanish (what the stores' test-of-the-test relies on).
func TestMemIgnoreSyncDir(t *testing.T) {
	for seed := range uint64(100) {
		m := newTestMem(t, seed)
		m.IgnoreSyncDir(func(dir string) bool { return dir == "/d" })
		writeFile(t, m, "/d/f", []byte("x"), true)
		must(t, m.SyncDir("/d"))
		if !exists(m.Image(), "/d/f") {
			return
		}
	}
	t.Fatal("100 seeds: an ignored SyncDir always kept the create")
}

// TestMemTruncate: a synced truncation survives; an unsynced one may or
// may not, and never cuts below what it truncated to.
func TestMemTruncate(t *testing.T) {
	data := bytes.Repeat([]byte{3}, 2000)
	var cut, whole int
	for seed := range uint64(200) {
		m := newTestMem(t, seed)
		f := writeFile(t, m, "/d/f", data, true)
		must(t, m.SyncDir("/d"))
		must(t, f.Truncate(1000))
		if seed%2 == 0 {
			must(t, f.Datasync())
		}
		b, err := m.Image().ReadFile("/d/f")
		must(t, err)
		switch {
		case !bytes.Equal(b, data[:len(b)]):
			t.Fatalf("seed %d: torn truncation left bytes that were never written", seed)
		case seed%2 == 0 && len(b) != 1000:
			t.Fatalf("seed %d: a synced truncation to 1000 left %d bytes", seed, len(b))
		case len(b) < 1000:
			t.Fatalf("seed %d: an unsynced truncation to 1000 left %d bytes", seed, len(b))
		case len(b) == 1000:
			cut++
		case len(b) == 2000:
			whole++
		}
	}
	if cut == 0 || whole == 0 {
		t.Fatalf("unsynced truncations: %d cut, %d not: want both", cut, whole)
	}
}

// TestMemCrashPoint: the numbered operation fails with ErrPowerLoss, and
// so does every later one, reads included; the image has no crash point.
func TestMemCrashPoint(t *testing.T) {
	m := newTestMem(t, 1)
	f := writeFile(t, m, "/d/f", []byte("a"), false)
	m.CrashAfter(2)
	if _, err := f.Write([]byte("b")); err != nil {
		t.Fatalf("operation 1 before the crash point: %v", err)
	}
	if m.Crashed() {
		t.Fatal("crashed before the crash point")
	}
	if err := f.Datasync(); !errors.Is(err, ErrPowerLoss) {
		t.Fatalf("the crash point: %v, want ErrPowerLoss", err)
	}
	if !m.Crashed() {
		t.Fatal("not crashed after the crash point")
	}
	for name, err := range map[string]error{
		"Write":    func() error { _, err := f.Write([]byte("c")); return err }(),
		"ReadAt":   func() error { _, err := f.ReadAt(make([]byte, 1), 0); return err }(),
		"ReadFile": func() error { _, err := m.ReadFile("/d/f"); return err }(),
		"ReadDir":  func() error { _, err := m.ReadDir("/d"); return err }(),
		"Create":   func() error { _, err := m.Create("/d/g", 0o600); return err }(),
		"MkdirAll": m.MkdirAll("/e"),
		"SyncDir":  m.SyncDir("/d"),
	} {
		if !errors.Is(err, ErrPowerLoss) {
			t.Errorf("%s after the power loss: %v, want ErrPowerLoss", name, err)
		}
	}
	img := m.Image()
	if img != m.Image() {
		t.Fatal("Image changed after the power loss")
	}
	for range 50 {
		if _, err := img.Create("/d/x", 0o600); err != nil {
			t.Fatalf("the image fails an operation: %v", err)
		}
		must(t, img.Remove("/d/x"))
	}
}

// TestMemDeterministic: one seed, one crash, one image.
func TestMemDeterministic(t *testing.T) {
	run := func() []string {
		m := newTestMem(t, 42)
		var out []string
		for i := range 20 {
			f, err := m.Create(fmt.Sprintf("/d/f%02d", i), 0o600)
			must(t, err)
			if _, err := f.Write(bytes.Repeat([]byte{byte(i + 1)}, 100*i+1)); err != nil {
				t.Fatal(err)
			}
			if i%3 == 0 {
				must(t, f.Datasync())
			}
		}
		img := m.Image()
		ents, err := img.ReadDir("/d")
		must(t, err)
		for _, e := range ents {
			b, err := img.ReadFile("/d/" + e.Name)
			must(t, err)
			out = append(out, fmt.Sprintf("%s:%x", e.Name, b))
		}
		return out
	}
	if a, b := run(), run(); !slices.Equal(a, b) {
		t.Fatalf("one seed, two images:\n%v\n%v", a, b)
	}
}
