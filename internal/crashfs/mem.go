package crashfs

import (
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Mem is a file system in memory that can lose power. It keeps, for each
// file, the bytes as of its last Sync or Datasync and the writes and
// truncations since; for each directory, the entries as of its last
// SyncDir and the changes since. Every mutating operation (each level
// MkdirAll creates, Create, Write, WriteAt, Truncate, Sync, Datasync,
// Rename, Remove, each name RemoveAll removes, SyncDir) is numbered; the
// one CrashAfter names is the crash point: it takes effect or not (a
// coin), the power goes (Image is fixed), and it and every later
// operation fail with ErrPowerLoss. What a reboot finds (Image):
//   - each file's synced bytes, plus what is left of the writes and
//     truncations since its last sync, torn in a way chosen at random per
//     file (tear.go);
//   - each directory's synced entries, plus each create, remove or rename
//     made in it since its last SyncDir, kept or forgotten at random, each
//     on its own coin; a rename is atomic, both its names follow one coin
//     (ext4 and XFS journal it as one operation).
//
// The same seed crashes and reboots the same way. Paths are absolute and
// slash-separated; renames stay within one directory and never replace a
// name (what the stores do; the rest is not modelled and fails).
type Mem struct {
	mu      sync.Mutex
	rng     *rand.Rand
	root    *memNode
	ops     int // mutating operations so far
	crashAt int // 0: never
	image   *Mem
	// noSyncDir, when it returns true for a directory, makes SyncDir of
	// it an operation that syncs nothing.
	noSyncDir func(dir string) bool
}

// ErrPowerLoss is what every operation of a Mem returns once its power
// is lost.
var ErrPowerLoss = errors.New("crashfs: power lost")

var _ FS = (*Mem)(nil)

type memNode struct {
	dir bool
	// Directories: entries now and as of the last SyncDir, and for each
	// name changed since, the number of the operation that changed it
	// (one number for both names of a rename).
	kids, durableKids map[string]*memNode
	change            map[string]int
	// Files: bytes now, as of the last sync, and the changes since.
	data, durable []byte
	pending       []memOp
}

// memOp is a write (data at off) or a truncation (to off) not yet synced.
type memOp struct {
	trunc bool
	off   int64
	data  []byte
}

// NewMem returns an empty Mem (a root directory) that draws its crash
// outcomes from rng.
func NewMem(rng *rand.Rand) *Mem { return &Mem{rng: rng, root: newDir()} }

func newDir() *memNode {
	return &memNode{dir: true, kids: map[string]*memNode{}, durableKids: map[string]*memNode{}, change: map[string]int{}}
}

// CrashAfter makes the n-th mutating operation from now (n >= 1) the
// crash point.
func (m *Mem) CrashAfter(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.crashAt = m.ops + n
}

// IgnoreSyncDir makes SyncDir of each directory for which skip returns
// true count as an operation but sync nothing: the test of a test (a
// store without that sync must fail its property). An Image does not
// inherit it.
func (m *Mem) IgnoreSyncDir(skip func(dir string) bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.noSyncDir = skip
}

// Crashed reports whether the power was lost.
func (m *Mem) Crashed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.image != nil
}

// Image loses the power now if it was not lost yet, and returns what a
// reboot finds, with no crash point. Files opened before it belong to
// the old machine: they fail with ErrPowerLoss.
func (m *Mem) Image() *Mem {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.image == nil {
		m.image = m.reboot()
	}
	return m.image
}

// step runs one mutating operation under mu, or fails it at and after the
// crash. check validates the operation against the tree as it is and
// returns what makes it; a nil apply with a nil error means there is
// nothing to do (not counted as an operation).
func (m *Mem) step(check func() (apply func(), err error)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.image != nil {
		return ErrPowerLoss
	}
	apply, err := check()
	if err != nil || apply == nil {
		return err
	}
	m.ops++
	if m.ops == m.crashAt {
		if m.rng.IntN(2) == 0 {
			apply()
		}
		m.image = m.reboot()
		return ErrPowerLoss
	}
	apply()
	return nil
}

// read runs a read-only operation under mu, or fails it after the crash.
func (m *Mem) read(f func() error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.image != nil {
		return ErrPowerLoss
	}
	return f()
}

func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(path.Clean(p), "/") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

// lookup returns the node at p, nil if none; the caller holds mu.
func (m *Mem) lookup(p string) *memNode {
	n := m.root
	for _, c := range splitPath(p) {
		if n == nil || !n.dir {
			return nil
		}
		n = n.kids[c]
	}
	return n
}

// parentOf returns p's directory node and base name; the caller holds mu.
func (m *Mem) parentOf(op, p string) (*memNode, string, error) {
	d := m.lookup(path.Dir(p))
	if d == nil || !d.dir {
		return nil, "", &fs.PathError{Op: op, Path: p, Err: fs.ErrNotExist}
	}
	return d, path.Base(p), nil
}

// setKid changes one entry of d, as operation id; the caller holds mu.
func setKid(d *memNode, name string, n *memNode, id int) {
	if n == nil {
		delete(d.kids, name)
	} else {
		d.kids[name] = n
	}
	d.change[name] = id
}

// MkdirAll creates each missing directory of dir as an operation of its
// own, parents first.
func (m *Mem) MkdirAll(dir string) error {
	parts := splitPath(dir)
	for i := range parts {
		p := "/" + strings.Join(parts[:i+1], "/")
		err := m.step(func() (func(), error) {
			switch n := m.lookup(p); {
			case n != nil && n.dir:
				return nil, nil
			case n != nil:
				return nil, &fs.PathError{Op: "mkdir", Path: p, Err: fs.ErrExist}
			}
			d, name, err := m.parentOf("mkdir", p)
			if err != nil {
				return nil, err
			}
			return func() { setKid(d, name, newDir(), m.ops) }, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (m *Mem) ReadDir(dir string) ([]DirEntry, error) {
	var out []DirEntry
	err := m.read(func() error {
		d := m.lookup(dir)
		if d == nil || !d.dir {
			return &fs.PathError{Op: "open", Path: dir, Err: fs.ErrNotExist}
		}
		for name, k := range d.kids {
			out = append(out, DirEntry{Name: name, Dir: k.dir})
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

func (m *Mem) ReadFile(p string) ([]byte, error) {
	var b []byte
	err := m.read(func() error {
		n := m.lookup(p)
		if n == nil || n.dir {
			return &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
		}
		b = slices.Clone(n.data)
		return nil
	})
	return b, err
}

// ViewFile is ReadFile: a copy, nothing to release.
func (m *Mem) ViewFile(p string) ([]byte, func(), error) {
	b, err := m.ReadFile(p)
	return b, func() {}, err
}

// Create creates an empty file; perm is not modelled.
func (m *Mem) Create(p string, _ fs.FileMode) (File, error) {
	n := &memNode{}
	err := m.step(func() (func(), error) {
		d, name, err := m.parentOf("open", p)
		if err != nil {
			return nil, err
		}
		if d.kids[name] != nil {
			return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrExist}
		}
		return func() { setKid(d, name, n, m.ops) }, nil
	})
	if err != nil {
		return nil, err
	}
	return &memFile{fs: m, n: n, path: p}, nil
}

func (m *Mem) Open(p string) (File, error) { return m.open(p, true) }

func (m *Mem) OpenRW(p string) (File, error) { return m.open(p, false) }

func (m *Mem) open(p string, readOnly bool) (File, error) {
	var f *memFile
	err := m.read(func() error {
		n := m.lookup(p)
		if n == nil || n.dir {
			return &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
		}
		f = &memFile{fs: m, n: n, path: p, readOnly: readOnly}
		return nil
	})
	return f, err
}

func (m *Mem) Rename(from, to string) error {
	return m.step(func() (func(), error) {
		d, a, err := m.parentOf("rename", from)
		d2, b, err2 := m.parentOf("rename", to)
		switch {
		case err != nil || err2 != nil:
			return nil, errors.Join(err, err2)
		case d != d2:
			return nil, errors.New("crashfs: a rename across directories is not modelled")
		case d.kids[a] == nil:
			return nil, &fs.PathError{Op: "rename", Path: from, Err: fs.ErrNotExist}
		case d.kids[b] != nil:
			return nil, &fs.PathError{Op: "rename", Path: to, Err: fs.ErrExist} // replacing is not modelled
		}
		n := d.kids[a]
		return func() {
			setKid(d, a, nil, m.ops)
			setKid(d, b, n, m.ops)
		}, nil
	})
}

// Remove removes a file or an empty directory.
func (m *Mem) Remove(p string) error {
	return m.step(func() (func(), error) {
		d, name, err := m.parentOf("remove", p)
		if err != nil {
			return nil, err
		}
		switch n := d.kids[name]; {
		case n == nil:
			return nil, &fs.PathError{Op: "remove", Path: p, Err: fs.ErrNotExist}
		case n.dir && len(n.kids) > 0:
			return nil, &fs.PathError{Op: "remove", Path: p, Err: errors.New("directory not empty")}
		}
		return func() { setKid(d, name, nil, m.ops) }, nil
	})
}

// RemoveAll removes the files under p one by one, then the directories,
// deepest first, each a separate operation (a crash can stop it
// anywhere), in name order.
func (m *Mem) RemoveAll(p string) error {
	var names []string
	err := m.read(func() error {
		if n := m.lookup(p); n != nil && n.dir {
			for name := range n.kids {
				names = append(names, name)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		if err := m.RemoveAll(path.Join(p, name)); err != nil {
			return err
		}
	}
	return m.step(func() (func(), error) {
		d, name, err := m.parentOf("remove", p)
		if err != nil || d.kids[name] == nil {
			return nil, nil // nothing there
		}
		return func() { setKid(d, name, nil, m.ops) }, nil
	})
}

func (m *Mem) SyncDir(dir string) error {
	return m.step(func() (func(), error) {
		d := m.lookup(dir)
		if d == nil || !d.dir {
			return nil, &fs.PathError{Op: "open", Path: dir, Err: fs.ErrNotExist}
		}
		if m.noSyncDir != nil && m.noSyncDir(dir) {
			return func() {}, nil
		}
		return func() {
			d.durableKids = cloneKids(d.kids)
			d.change = map[string]int{}
		}, nil
	})
}

func cloneKids(in map[string]*memNode) map[string]*memNode {
	out := make(map[string]*memNode, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

// memFile is an open file of a Mem. Its fields other than off are fixed
// or guarded by fs.mu; off is the handle's, used by one writer.
type memFile struct {
	fs       *Mem
	n        *memNode
	path     string
	readOnly bool
	closed   bool
	off      int64 // where Write writes
}

// usable fails the operation op on a closed handle, or on a read-only
// one if op writes; the caller holds fs.mu.
func (f *memFile) usable(op string, write bool) error {
	switch {
	case f.closed:
		return &fs.PathError{Op: op, Path: f.path, Err: fs.ErrClosed}
	case write && f.readOnly:
		return &fs.PathError{Op: op, Path: f.path, Err: fs.ErrPermission}
	}
	return nil
}

func (f *memFile) Write(p []byte) (int, error) {
	n, err := f.WriteAt(p, f.off)
	f.off += int64(n)
	return n, err
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	p = slices.Clone(p)
	err := f.fs.step(func() (func(), error) {
		if err := f.usable("write", true); err != nil {
			return nil, err
		}
		return func() {
			f.n.data = writeAt(f.n.data, off, p)
			f.n.pending = append(f.n.pending, memOp{off: off, data: p})
		}, nil
	})
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

func (f *memFile) Truncate(size int64) error {
	return f.fs.step(func() (func(), error) {
		if err := f.usable("truncate", true); err != nil {
			return nil, err
		}
		return func() {
			f.n.data = resize(f.n.data, size)
			f.n.pending = append(f.n.pending, memOp{trunc: true, off: size})
		}, nil
	})
}

// Sync and Datasync are the same in the model: timestamps are not kept.
func (f *memFile) Sync() error { return f.Datasync() }

func (f *memFile) Datasync() error {
	return f.fs.step(func() (func(), error) {
		if err := f.usable("sync", false); err != nil {
			return nil, err
		}
		return func() {
			f.n.durable = slices.Clone(f.n.data)
			f.n.pending = nil
		}, nil
	})
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	var k int
	err := f.fs.read(func() error {
		if err := f.usable("read", false); err != nil {
			return err
		}
		if off >= int64(len(f.n.data)) {
			return io.EOF
		}
		k = copy(p, f.n.data[off:])
		if k < len(p) {
			return io.EOF
		}
		return nil
	})
	return k, err
}

func (f *memFile) Size() (int64, error) {
	var size int64
	err := f.fs.read(func() error {
		if err := f.usable("stat", false); err != nil {
			return err
		}
		size = int64(len(f.n.data))
		return nil
	})
	return size, err
}

// Close closes the handle; it works after a power loss too, so that the
// stores' clean-up paths run as they would.
func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	f.closed = true
	return nil
}

func writeAt(b []byte, off int64, p []byte) []byte {
	b = resize(b, max(int64(len(b)), off+int64(len(p))))
	copy(b[off:], p)
	return b
}

func resize(b []byte, size int64) []byte {
	if size <= int64(len(b)) {
		return b[:size:size]
	}
	return append(b, make([]byte, size-int64(len(b)))...)
}
