//go:build !linux

package raftwal

import "os"

func datasync(f *os.File) error { return f.Sync() }
