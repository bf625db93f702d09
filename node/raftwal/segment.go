package raftwal

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/sessionraft/sessionraft/internal/crashfs"
)

// segment is one file of the log.
type segment struct {
	seq      uint64
	path     string
	f        crashfs.File
	size     int64  // bytes of valid records; appends go here
	alloc    int64  // the file's length or more: size, then zeros (Options.PreallocBytes)
	maxIndex uint64 // highest entry index ever written to it (0: none)
}

func segmentPath(dir string, seq uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%016d.wal", seq))
}

// listSegments returns the sequence numbers of dir's segment files, in
// order.
func listSegments(fs crashfs.FS, dir string) ([]uint64, error) {
	ents, err := fs.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var seqs []uint64
	for _, e := range ents {
		name := e.Name
		if !strings.HasSuffix(name, ".wal") {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(name, ".wal"), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: unexpected file %s", ErrCorrupt, filepath.Join(dir, name))
		}
		seqs = append(seqs, seq)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	return seqs, nil
}

// createSegment creates a new, empty segment and makes its directory entry
// durable, so that records synced into it survive a crash.
func createSegment(fs crashfs.FS, dir string, seq uint64, noSync bool) (*segment, error) {
	path := segmentPath(dir, seq)
	f, err := fs.Create(path, 0o600)
	if err != nil {
		return nil, err
	}
	if !noSync {
		if err := fs.SyncDir(dir); err != nil {
			f.Close()
			return nil, err
		}
	}
	return &segment{seq: seq, path: path, f: f}, nil
}
