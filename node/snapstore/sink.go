package snapstore

import (
	"bufio"
	"fmt"
	"hash"
	"path/filepath"
	"strings"

	"github.com/sessionraft/sessionraft/internal/crashfs"
)

// sink writes one snapshot (raft.SnapshotSink).
type sink struct {
	s    *Store
	tmp  string // "<dir>/<id>.tmp"
	f    crashfs.File
	buf  *bufio.Writer
	crc  hash.Hash64
	size int64
	meta fileMeta
	done bool
}

func (k *sink) ID() string { return k.meta.ID }

func (k *sink) Write(p []byte) (int, error) {
	if k.done {
		return 0, ErrClosed
	}
	n, err := k.buf.Write(p)
	k.size += int64(n)
	return n, err
}

// Cancel drops the snapshot.
func (k *sink) Cancel() error {
	if k.done {
		return nil
	}
	k.done = true
	k.f.Close()
	return k.s.fs.RemoveAll(k.tmp)
}

// Close makes the snapshot durable and visible (the package doc's steps
// 1-4), then reaps old ones. When it returns nil the snapshot survives a
// crash; raft compacts its log only then.
func (k *sink) Close() error {
	if k.done {
		return nil
	}
	k.done = true
	placed, err := k.finish()
	if err != nil {
		if !placed {
			_ = k.s.fs.RemoveAll(k.tmp)
		}
		return fmt.Errorf("snapstore: snapshot %s: %w", k.meta.ID, err)
	}
	// The snapshot is durable; a failure to reap leaves an extra one,
	// reaped by the next Close.
	if err := k.s.reap(); err != nil {
		k.s.o.Logger.Warn("cannot remove old snapshots", "err", err)
	}
	return nil
}

// finish runs steps 1-4; placed reports whether the rename happened (the
// snapshot is then complete, even if a later sync failed).
func (k *sink) finish() (placed bool, err error) {
	if err := k.buf.Flush(); err != nil {
		k.f.Close()
		return false, err
	}
	if !k.s.o.NoSync {
		if err := k.f.Sync(); err != nil {
			k.f.Close()
			return false, err
		}
	}
	if err := k.f.Close(); err != nil {
		return false, err
	}
	k.meta.Size = k.size
	k.meta.CRC = k.crc.Sum(nil)
	b, err := encodeMeta(&k.meta)
	if err != nil {
		return false, err
	}
	mf, err := k.s.fs.Create(filepath.Join(k.tmp, metaFile), filePerm)
	if err != nil {
		return false, err
	}
	_, err = mf.Write(b)
	if err == nil && !k.s.o.NoSync {
		err = mf.Sync()
	}
	if cerr := mf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, err
	}
	if err := k.s.sync(k.tmp); err != nil {
		return false, err
	}
	if err := k.s.fs.Rename(k.tmp, strings.TrimSuffix(k.tmp, tmpSuffix)); err != nil {
		return false, err
	}
	return true, k.s.sync(k.s.dir)
}
