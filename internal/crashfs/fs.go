package crashfs

import (
	"io"
	"io/fs"
)

// FS is the file system as the stores use it. Paths are slash-separated
// and absolute in Mem; OS takes any path os does.
type FS interface {
	MkdirAll(dir string) error
	// ReadDir lists dir's entries, sorted by name.
	ReadDir(dir string) ([]DirEntry, error)
	ReadFile(path string) ([]byte, error)
	// ViewFile returns path's bytes for reading until release is called;
	// they must not be used after it. OS maps the file (on unix), so a
	// read of the bytes faults if the disk fails or the file shrinks
	// meanwhile: read them with runtime/debug.SetPanicOnFault on.
	ViewFile(path string) (data []byte, release func(), err error)
	// Create creates a new, empty file for reading and writing, with
	// permissions perm; it fails if path exists.
	Create(path string, perm fs.FileMode) (File, error)
	// Open opens an existing file for reading only.
	Open(path string) (File, error)
	// OpenRW opens an existing file for reading and writing.
	OpenRW(path string) (File, error)
	// Rename renames a file or directory within one directory.
	Rename(from, to string) error
	Remove(path string) error
	// RemoveAll removes path and everything under it; a missing path is
	// not an error.
	RemoveAll(path string) error
	// SyncDir makes dir's entries (created, renamed and removed names)
	// durable.
	SyncDir(dir string) error
}

// DirEntry is one name in a directory.
type DirEntry struct {
	Name string
	Dir  bool
}

// File is an open file. Write writes at the handle's offset (a file
// written from its start); ReadAt and WriteAt ignore it.
type File interface {
	io.Writer
	io.ReaderAt
	io.WriterAt
	Size() (int64, error)
	Truncate(size int64) error
	// Sync (fsync) makes every write so far durable, with the file's
	// size and timestamps.
	Sync() error
	// Datasync (fdatasync) makes every write so far durable with the
	// file's size, but not its timestamps: one journal commit less than
	// Sync where the platform has it.
	Datasync() error
	Close() error
}
