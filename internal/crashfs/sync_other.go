//go:build !linux

package crashfs

import "os"

func datasync(f *os.File) error { return f.Sync() }
