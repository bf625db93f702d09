package snapstore

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

// memFS is a file system in memory that can lose power, the snapshot
// store's counterpart of raftwal's model (node/raftwal/crashfs_test.go),
// with directories that are renamed and removed whole. It keeps, for each
// file, the bytes as of its last Sync and the writes since; for each
// directory, the entries as of its last SyncDir and the changes since.
// The mutating operation numbered crashAt is the crash point: it takes
// effect or not (a coin), the power goes (the image is fixed), and it and
// every later operation fail with errPowerLoss. What a reboot finds:
//   - each file's synced bytes, plus what is left of the writes since its
//     last Sync, chosen at random per file: nothing; everything (kill -9);
//     a prefix cut at any byte; a prefix, then zeros up to some size (the
//     size reached the disk before the data); each 512-byte sector kept or
//     zeroed, then the size cut anywhere;
//   - each directory's synced entries, plus each create, remove or rename
//     made in it since its last SyncDir, kept or forgotten at random, each
//     on its own coin (a rename is atomic: both its names follow one coin;
//     ext4 and XFS journal it as one operation).
//
// Torn bytes are never garbage: a disk writes a sector whole or not at
// all, and a file system shows an unwritten block as zeros.
type memFS struct {
	mu      sync.Mutex
	rng     *rand.Rand
	root    *memNode
	ops     int // mutating operations so far
	crashAt int // 0: never
	image   *memFS
	// noSyncDir, when it returns true for a directory, makes SyncDir of it
	// do nothing (the test of the test: a store without that sync must
	// fail the property).
	noSyncDir func(dir string) bool
}

var errPowerLoss = errors.New("memfs: power lost")

type memNode struct {
	dir bool
	// Directories: entries now and as of the last SyncDir, and for each
	// name changed since, the change (one id for both names of a rename).
	kids, durableKids map[string]*memNode
	change            map[string]int
	// Files.
	data    []byte
	durable int // bytes synced (files are written from the start, appended to)
}

func newMemFS(rng *rand.Rand) *memFS { return &memFS{rng: rng, root: newDir()} }

func newDir() *memNode {
	return &memNode{dir: true, kids: map[string]*memNode{}, durableKids: map[string]*memNode{}, change: map[string]int{}}
}

// step runs a mutating operation, or fails it at and after the crash.
func (m *memFS) step(apply func()) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.image != nil {
		return errPowerLoss
	}
	m.ops++
	if m.ops == m.crashAt {
		if m.rng.IntN(2) == 0 {
			apply()
		}
		m.image = m.reboot()
		return errPowerLoss
	}
	apply()
	return nil
}

func (m *memFS) crashed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.image != nil
}

// Image loses the power now if it was not lost yet and returns what a
// reboot finds (with no crash point).
func (m *memFS) Image() *memFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.image == nil {
		m.image = m.reboot()
	}
	return m.image
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
func (m *memFS) lookup(p string) *memNode {
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
func (m *memFS) parentOf(p string) (*memNode, string, error) {
	d := m.lookup(path.Dir(p))
	if d == nil || !d.dir {
		return nil, "", &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	return d, path.Base(p), nil
}

// setKid changes one entry of d, as change id.
func (m *memFS) setKid(d *memNode, name string, n *memNode, id int) {
	if n == nil {
		delete(d.kids, name)
	} else {
		d.kids[name] = n
	}
	d.change[name] = id
}

func (m *memFS) MkdirAll(dir string) error {
	for i := range splitPath(dir) {
		p := "/" + strings.Join(splitPath(dir)[:i+1], "/")
		m.mu.Lock()
		if m.image != nil {
			m.mu.Unlock()
			return errPowerLoss
		}
		n := m.lookup(p)
		d, name, err := m.parentOf(p)
		m.mu.Unlock()
		switch {
		case n != nil && n.dir:
			continue
		case n != nil:
			return &fs.PathError{Op: "mkdir", Path: p, Err: fs.ErrExist}
		case err != nil:
			return err
		}
		if err := m.step(func() { m.setKid(d, name, newDir(), m.ops) }); err != nil {
			return err
		}
	}
	return nil
}

func (m *memFS) ReadDir(dir string) ([]dirEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.image != nil {
		return nil, errPowerLoss
	}
	d := m.lookup(dir)
	if d == nil || !d.dir {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: fs.ErrNotExist}
	}
	var out []dirEntry
	for name, k := range d.kids {
		out = append(out, dirEntry{name: name, dir: k.dir})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

func (m *memFS) Create(p string) (writeFile, error) {
	m.mu.Lock()
	d, name, err := m.parentOf(p)
	if err == nil && d.kids[name] != nil {
		err = &fs.PathError{Op: "open", Path: p, Err: fs.ErrExist}
	}
	m.mu.Unlock()
	if err != nil {
		return nil, err
	}
	n := &memNode{}
	if err := m.step(func() { m.setKid(d, name, n, m.ops) }); err != nil {
		return nil, err
	}
	return &memFile{fs: m, n: n}, nil
}

func (m *memFS) Open(p string) (readFile, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.image != nil {
		return nil, errPowerLoss
	}
	n := m.lookup(p)
	if n == nil || n.dir {
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	return &memFile{fs: m, n: n}, nil
}

func (m *memFS) Rename(from, to string) error {
	m.mu.Lock()
	d, a, err := m.parentOf(from)
	d2, b, err2 := m.parentOf(to)
	var n *memNode
	switch {
	case err != nil || err2 != nil:
		err = errors.Join(err, err2)
	case d != d2:
		err = errors.New("memfs: rename across directories is not modelled")
	case d.kids[a] == nil:
		err = &fs.PathError{Op: "rename", Path: from, Err: fs.ErrNotExist}
	case d.kids[b] != nil:
		err = &fs.PathError{Op: "rename", Path: to, Err: fs.ErrExist} // the store never replaces
	default:
		n = d.kids[a]
	}
	m.mu.Unlock()
	if err != nil {
		return err
	}
	return m.step(func() {
		m.setKid(d, a, nil, m.ops)
		m.setKid(d, b, n, m.ops)
	})
}

// RemoveAll removes the files under p one by one, then the directories,
// deepest first, each a separate operation (a crash can stop it anywhere).
func (m *memFS) RemoveAll(p string) error {
	m.mu.Lock()
	n := m.lookup(p)
	m.mu.Unlock()
	if n == nil {
		return nil
	}
	if n.dir {
		m.mu.Lock()
		names := make([]string, 0, len(n.kids))
		for name := range n.kids {
			names = append(names, name)
		}
		m.mu.Unlock()
		sort.Strings(names)
		for _, name := range names {
			if err := m.RemoveAll(path.Join(p, name)); err != nil {
				return err
			}
		}
	}
	m.mu.Lock()
	d, name, err := m.parentOf(p)
	m.mu.Unlock()
	if err != nil {
		return err
	}
	return m.step(func() { m.setKid(d, name, nil, m.ops) })
}

func (m *memFS) SyncDir(dir string) error {
	m.mu.Lock()
	d := m.lookup(dir)
	m.mu.Unlock()
	if d == nil || !d.dir {
		return &fs.PathError{Op: "open", Path: dir, Err: fs.ErrNotExist}
	}
	if m.noSyncDir != nil && m.noSyncDir(dir) {
		return m.step(func() {})
	}
	return m.step(func() {
		d.durableKids = cloneKids(d.kids)
		d.change = map[string]int{}
	})
}

func cloneKids(in map[string]*memNode) map[string]*memNode {
	out := make(map[string]*memNode, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

type memFile struct {
	fs     *memFS
	n      *memNode
	closed bool
}

func (f *memFile) Write(p []byte) (int, error) {
	if f.closed {
		return 0, fs.ErrClosed
	}
	p = slices.Clone(p)
	if err := f.fs.step(func() { f.n.data = append(f.n.data, p...) }); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (f *memFile) Sync() error {
	if f.closed {
		return fs.ErrClosed
	}
	return f.fs.step(func() { f.n.durable = len(f.n.data) })
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed || f.fs.image != nil {
		return 0, errPowerLoss
	}
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	k := copy(p, f.n.data[off:])
	if k < len(p) {
		return k, io.EOF
	}
	return k, nil
}

func (f *memFile) Size() (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.fs.image != nil {
		return 0, errPowerLoss
	}
	return int64(len(f.n.data)), nil
}

func (f *memFile) Close() error {
	f.closed = true
	return nil
}

// reboot builds what a reboot now finds (see memFS); the caller holds mu.
func (m *memFS) reboot() *memFS {
	img := &memFS{rng: m.rng}
	copied := map[*memNode]*memNode{}
	var walk func(n *memNode) *memNode
	walk = func(n *memNode) *memNode {
		if c, ok := copied[n]; ok {
			return c
		}
		if !n.dir {
			c := &memNode{data: m.tear(n)}
			c.durable = len(c.data)
			copied[n] = c
			return c
		}
		c := newDir()
		copied[n] = c
		names := map[string]bool{}
		for name := range n.kids {
			names[name] = true
		}
		for name := range n.durableKids {
			names[name] = true
		}
		sorted := make([]string, 0, len(names))
		for name := range names {
			sorted = append(sorted, name)
		}
		sort.Strings(sorted) // the same seed reboots the same way
		coins := map[int]bool{}
		for _, name := range sorted {
			now, then := n.kids[name], n.durableKids[name]
			k := then
			if now != then {
				id := n.change[name]
				kept, ok := coins[id]
				if !ok {
					kept = m.rng.IntN(2) == 0
					coins[id] = kept
				}
				if kept {
					k = now
				}
			}
			if k != nil {
				c.kids[name] = walk(k)
			}
		}
		c.durableKids = cloneKids(c.kids)
		return c
	}
	img.root = walk(m.root)
	return img
}

const sectorSize = 512

// tear returns what is left of file n's bytes after a power loss.
func (m *memFS) tear(n *memNode) []byte {
	b := slices.Clone(n.data[:n.durable])
	tail := n.data[n.durable:]
	if len(tail) == 0 {
		return b
	}
	full := len(n.data)
	switch m.rng.IntN(5) {
	case 0: // nothing
	case 1: // everything
		b = append(b, tail...)
	case 2: // a prefix
		b = append(b, tail[:m.rng.IntN(len(tail)+1)]...)
	case 3: // a prefix, then zeros
		k := m.rng.IntN(len(tail) + 1)
		b = append(b, tail[:k]...)
		b = append(b, make([]byte, m.rng.IntN(len(tail)-k+1))...)
	case 4: // sectors kept or zeroed, size cut anywhere
		b = slices.Clone(n.data)
		for a := n.durable; a < full; {
			z := min((a/sectorSize+1)*sectorSize, full)
			if m.rng.IntN(2) == 0 {
				clear(b[a:z])
			}
			a = z
		}
		b = b[:n.durable+m.rng.IntN(len(tail)+1)]
	}
	return b
}
