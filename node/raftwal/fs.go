package raftwal

import (
	"os"
	"path/filepath"
)

// fileSystem is the handful of file operations the log uses. Production
// uses osFS; the crash tests use a model that, at a simulated power loss,
// keeps only what fdatasync and directory syncs made durable (crashfs_test.go).
type fileSystem interface {
	MkdirAll(dir string) error
	// List returns the names (not paths) of dir's entries.
	List(dir string) ([]string, error)
	ReadFile(path string) ([]byte, error)
	// Create creates a new, empty file; it fails if path exists.
	Create(path string) (file, error)
	// OpenFile opens an existing file for reading and writing.
	OpenFile(path string) (file, error)
	Remove(path string) error
	// SyncDir makes dir's entries (created and removed files) durable.
	SyncDir(dir string) error
}

// file is an open segment.
type file interface {
	ReadAt(p []byte, off int64) (int, error)
	WriteAt(p []byte, off int64) (int, error)
	// Datasync makes every write so far durable, with the file's size.
	Datasync() error
	Truncate(size int64) error
	Close() error
}

// osFS is the real file system.
type osFS struct{}

func (osFS) MkdirAll(dir string) error { return os.MkdirAll(dir, 0o750) }

func (osFS) List(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, nil
}

func (osFS) ReadFile(path string) ([]byte, error) { return os.ReadFile(path) }

func (osFS) Create(path string) (file, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) OpenFile(path string) (file, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Remove(path string) error { return os.Remove(path) }

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(filepath.Clean(dir))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// osFile adds Datasync to *os.File.
type osFile struct{ *os.File }

func (f osFile) Datasync() error { return datasync(f.File) }
