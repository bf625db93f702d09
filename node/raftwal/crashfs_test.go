package raftwal

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

// memFS is a file system in memory that can lose power. It keeps, for each
// file, the bytes as of the last Datasync and the operations since, and
// for each directory the entries as of the last SyncDir. The operation
// numbered crashAt is the crash point: it takes effect or not (a coin),
// the machine "loses power" (Image is fixed), and that operation and every
// later one fail with errPowerLoss. Image is what a reboot finds:
//   - each file's synced bytes, plus what is left of the writes and
//     truncations made since its last Datasync, torn in one of these ways,
//     chosen at random per file: all lost; all kept (kill -9); a prefix
//     kept, cut at any byte; a prefix kept and zeros after it up to some
//     size (a size that reached the disk before the data); each 512-byte
//     sector kept or zeroed, then the size cut anywhere;
//   - each directory's synced entries, plus each entry created or removed
//     since the last SyncDir, kept or forgotten at random.
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
}

var errPowerLoss = errors.New("memfs: power lost")

type memNode struct {
	dir bool
	// Directories.
	kids, durableKids map[string]*memNode
	// Files.
	data, durable []byte
	pending       []memOp
}

// memOp is a write (data at off) or a truncation (to size) not yet synced.
type memOp struct {
	trunc bool
	off   int64
	data  []byte
}

func newMemFS(rng *rand.Rand) *memFS {
	return &memFS{rng: rng, root: newDir()}
}

func newDir() *memNode {
	return &memNode{dir: true, kids: map[string]*memNode{}, durableKids: map[string]*memNode{}}
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

// crashed reports whether the power was lost.
func (m *memFS) crashed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.image != nil
}

// Image loses the power now if it was not lost yet, and returns what a
// reboot finds, with a fresh crash point (never).
func (m *memFS) Image() *memFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.image == nil {
		m.image = m.reboot()
	}
	return m.image
}

// lookup returns the node at p, nil if there is none.
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

func splitPath(p string) []string {
	var parts []string
	for _, c := range strings.Split(path.Clean(p), "/") {
		if c != "" {
			parts = append(parts, c)
		}
	}
	return parts
}

func (m *memFS) MkdirAll(dir string) error {
	m.mu.Lock()
	n := m.root
	var missing []string
	for i, c := range splitPath(dir) {
		k, ok := n.kids[c]
		if !ok {
			missing = splitPath(dir)[i:]
			break
		}
		if !k.dir {
			m.mu.Unlock()
			return &fs.PathError{Op: "mkdir", Path: dir, Err: fs.ErrExist}
		}
		n = k
	}
	m.mu.Unlock()
	if len(missing) == 0 {
		return nil
	}
	return m.step(func() {
		for _, c := range missing {
			k := newDir()
			n.kids[c] = k
			n = k
		}
	})
}

func (m *memFS) List(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.image != nil {
		return nil, errPowerLoss
	}
	n := m.lookup(dir)
	if n == nil || !n.dir {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: fs.ErrNotExist}
	}
	var names []string
	for name := range n.kids {
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

func (m *memFS) ReadFile(p string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.image != nil {
		return nil, errPowerLoss
	}
	n := m.lookup(p)
	if n == nil || n.dir {
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	return slices.Clone(n.data), nil
}

func (m *memFS) Create(p string) (file, error) {
	m.mu.Lock()
	parent := m.lookup(path.Dir(p))
	exists := parent != nil && parent.kids[path.Base(p)] != nil
	m.mu.Unlock()
	switch {
	case parent == nil || !parent.dir:
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	case exists:
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrExist}
	}
	n := &memNode{}
	if err := m.step(func() { parent.kids[path.Base(p)] = n }); err != nil {
		return nil, err
	}
	return &memFile{fs: m, n: n}, nil
}

func (m *memFS) OpenFile(p string) (file, error) {
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

func (m *memFS) Remove(p string) error {
	m.mu.Lock()
	parent := m.lookup(path.Dir(p))
	exists := parent != nil && parent.kids[path.Base(p)] != nil
	m.mu.Unlock()
	if !exists {
		return &fs.PathError{Op: "remove", Path: p, Err: fs.ErrNotExist}
	}
	return m.step(func() { delete(parent.kids, path.Base(p)) })
}

func (m *memFS) SyncDir(dir string) error {
	m.mu.Lock()
	n := m.lookup(dir)
	m.mu.Unlock()
	if n == nil || !n.dir {
		return &fs.PathError{Op: "open", Path: dir, Err: fs.ErrNotExist}
	}
	return m.step(func() { n.durableKids = maps(n.kids) })
}

func maps(in map[string]*memNode) map[string]*memNode {
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

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	if f.closed {
		return 0, fs.ErrClosed
	}
	p = slices.Clone(p)
	err := f.fs.step(func() {
		f.n.data = writeAt(f.n.data, off, p)
		f.n.pending = append(f.n.pending, memOp{off: off, data: p})
	})
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

func (f *memFile) Truncate(size int64) error {
	if f.closed {
		return fs.ErrClosed
	}
	return f.fs.step(func() {
		f.n.data = resize(f.n.data, size)
		f.n.pending = append(f.n.pending, memOp{trunc: true, off: size})
	})
}

func (f *memFile) Datasync() error {
	if f.closed {
		return fs.ErrClosed
	}
	return f.fs.step(func() {
		f.n.durable = slices.Clone(f.n.data)
		f.n.pending = nil
	})
}

func (f *memFile) Close() error {
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

// reboot builds what a reboot after a power loss now finds (see memFS).
func (m *memFS) reboot() *memFS {
	img := &memFS{rng: m.rng}
	torn := map[*memNode]*memNode{}
	var walk func(n *memNode) *memNode
	walk = func(n *memNode) *memNode {
		if c, ok := torn[n]; ok {
			return c
		}
		if !n.dir {
			c := &memNode{data: m.tear(n)}
			c.durable = slices.Clone(c.data)
			torn[n] = c
			return c
		}
		c := newDir()
		torn[n] = c
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
		sort.Strings(sorted) // the same seed tears the same way
		for _, name := range sorted {
			now, then := n.kids[name], n.durableKids[name]
			k := then
			if now != then && m.rng.IntN(2) == 0 {
				k = now // the unsynced create or remove reached the disk
			}
			if k != nil {
				c.kids[name] = walk(k)
			}
		}
		c.durableKids = maps(c.kids)
		return c
	}
	img.root = walk(m.root)
	return img
}

// Tear modes: what is left of a file's unsynced writes.
const (
	tearDrop    = iota // nothing
	tearKeep           // everything (kill -9)
	tearPrefix         // a prefix, cut at any byte
	tearZeros          // a prefix, then zeros up to some size
	tearSectors        // each 512-byte sector kept or zeroed, size cut anywhere
	tearModes
)

// tear returns what is left of file n after a power loss.
func (m *memFS) tear(n *memNode) []byte {
	if len(n.pending) == 0 {
		return slices.Clone(n.durable)
	}
	mode := m.rng.IntN(tearModes)
	b := slices.Clone(n.durable)
	lo := int64(len(b)) // the synced size: no cut goes below it...
	for _, op := range n.pending {
		if op.trunc {
			if mode == tearKeep || mode != tearDrop && m.rng.IntN(2) == 0 {
				b = resize(b, op.off)
				lo = min(lo, op.off) // ...unless a truncation reached the disk
			}
			continue
		}
		end := op.off + int64(len(op.data))
		for a := op.off; a < end; {
			z := min((a/sectorSize+1)*sectorSize, end)
			keep := mode == tearKeep || mode == tearPrefix || mode == tearZeros || mode == tearSectors && m.rng.IntN(2) == 0
			switch {
			case keep:
				b = writeAt(b, a, op.data[a-op.off:z-op.off])
			case mode == tearSectors && z > int64(len(b)):
				b = resize(b, z) // the size got there, the data did not
			}
			a = z
		}
	}
	if int64(len(b)) <= lo {
		return b
	}
	cut := lo + m.rng.Int64N(int64(len(b))-lo+1)
	if m.rng.IntN(2) == 0 {
		cut = int64(len(b)) // the size reached the disk whole
	}
	switch mode {
	case tearPrefix, tearSectors:
		b = b[:cut]
	case tearZeros:
		size := cut + m.rng.Int64N(int64(len(b))-cut+1)
		b = resize(b[:cut], size)
	}
	return b
}
