//go:build unix

package crashfs

import (
	"os"
	"syscall"
)

// ViewFile maps path read-only instead of copying it.
//
// Why: raftwal reads every segment (64 MiB each) at Open. A copy puts the
// segment in freshly allocated memory, and the first touch of each page of
// it is a page fault: on the development VM those cost about 25 us per 4
// KiB page, so copying a group's 104 MB log cost more CPU than restoring
// its snapshot. A mapping of the page cache is faulted in 64 KiB at a time
// and copies nothing.
func (OS) ViewFile(path string) ([]byte, func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close() // the mapping outlives the descriptor
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	size := st.Size()
	if size == 0 {
		return nil, func() {}, nil
	}
	if size != int64(int(size)) {
		return nil, nil, &os.PathError{Op: "mmap", Path: path, Err: syscall.EFBIG}
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		// Some file systems (FUSE, network ones) cannot map files: read
		// the file as before.
		b, err := os.ReadFile(path)
		return b, func() {}, err
	}
	return data, func() { _ = syscall.Munmap(data) }, nil
}
