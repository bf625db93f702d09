package crashfs

import (
	"io/fs"
	"os"
	"path/filepath"
)

// OS is the real file system.
type OS struct{}

var _ FS = OS{}

// MkdirAll creates dir and its missing parents with mode 0750.
func (OS) MkdirAll(dir string) error { return os.MkdirAll(dir, 0o750) }

func (OS) ReadDir(dir string) ([]DirEntry, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make([]DirEntry, len(ents))
	for i, e := range ents {
		out[i] = DirEntry{Name: e.Name(), Dir: e.IsDir()}
	}
	return out, nil
}

func (OS) ReadFile(path string) ([]byte, error) { return os.ReadFile(path) }

func (OS) Create(path string, perm fs.FileMode) (File, error) {
	return openOS(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
}

func (OS) Open(path string) (File, error) { return openOS(path, os.O_RDONLY, 0) }

func (OS) OpenRW(path string) (File, error) { return openOS(path, os.O_RDWR, 0) }

func openOS(path string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(path, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (OS) Rename(from, to string) error { return os.Rename(from, to) }

func (OS) Remove(path string) error { return os.Remove(path) }

func (OS) RemoveAll(path string) error { return os.RemoveAll(path) }

func (OS) SyncDir(dir string) error {
	d, err := os.Open(filepath.Clean(dir))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// osFile adds Size and Datasync to *os.File.
type osFile struct{ *os.File }

func (f osFile) Size() (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (f osFile) Datasync() error { return datasync(f.File) }
