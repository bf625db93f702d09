package snapstore

import (
	"io"
	"os"
	"path/filepath"
)

// fileSystem is the handful of file operations the store uses. Production
// uses osFS; the power-loss test uses a model that, at a simulated crash,
// keeps only what fsync and directory syncs made durable
// (crashfs_test.go).
type fileSystem interface {
	MkdirAll(dir string) error
	// ReadDir lists dir's entries.
	ReadDir(dir string) ([]dirEntry, error)
	// Create creates a new, empty file for writing; it fails if path
	// exists.
	Create(path string) (writeFile, error)
	// Open opens an existing file for reading.
	Open(path string) (readFile, error)
	// Rename renames a file or directory within one directory.
	Rename(from, to string) error
	// RemoveAll removes path and everything under it.
	RemoveAll(path string) error
	// SyncDir makes dir's entries (created, renamed and removed names)
	// durable.
	SyncDir(dir string) error
}

type dirEntry struct {
	name string
	dir  bool
}

// writeFile is a file being written from its start.
type writeFile interface {
	io.Writer
	// Sync makes every write so far durable, with the file's size.
	Sync() error
	Close() error
}

type readFile interface {
	io.ReaderAt
	Size() (int64, error)
	Close() error
}

// osFS is the real file system.
type osFS struct{}

func (osFS) MkdirAll(dir string) error { return os.MkdirAll(dir, 0o750) }

func (osFS) ReadDir(dir string) ([]dirEntry, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make([]dirEntry, len(ents))
	for i, e := range ents {
		out[i] = dirEntry{name: e.Name(), dir: e.IsDir()}
	}
	return out, nil
}

func (osFS) Create(path string) (writeFile, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
}

func (osFS) Open(path string) (readFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return osReadFile{f}, nil
}

func (osFS) Rename(from, to string) error { return os.Rename(from, to) }

func (osFS) RemoveAll(path string) error { return os.RemoveAll(path) }

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(filepath.Clean(dir))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

type osReadFile struct{ *os.File }

func (f osReadFile) Size() (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
