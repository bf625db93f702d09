//go:build unix

package raftwal

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/sessionraft/sessionraft/internal/crashfs"
)

// shrinkingFS maps a segment as crashfs.OS does, then truncates the file
// under the mapping: reading the mapping faults, as it would if the disk
// failed under it.
type shrinkingFS struct{ crashfs.OS }

func (f shrinkingFS) ViewFile(path string) ([]byte, func(), error) {
	data, release, err := f.OS.ViewFile(path)
	if err == nil && len(data) > 0 {
		err = os.Truncate(path, 0)
	}
	return data, release, err
}

// A segment whose mapping cannot be read makes Open fail with an I/O
// error, not crash the process.
func TestOpenFaultIsAnError(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, dir, Options{NoSync: true}, 1, 200, 10)
	_, err := Open(dir, Options{NoSync: true, Logger: quiet, fs: shrinkingFS{}})
	if !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), "memory fault") {
		t.Fatalf("Open over a segment that faults: %v, want EIO naming the fault", err)
	}
}
