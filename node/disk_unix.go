//go:build unix

package node

import "golang.org/x/sys/unix"

// fsSpace returns the bytes available to this (unprivileged) process and
// the size of the file system holding path. One statfs call: cheap enough
// to run every few seconds.
func fsSpace(path string) (free, total uint64, err error) {
	var s unix.Statfs_t
	if err := unix.Statfs(path, &s); err != nil {
		return 0, 0, err
	}
	return s.Bavail * uint64(s.Bsize), s.Blocks * uint64(s.Bsize), nil
}
