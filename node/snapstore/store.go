package snapstore

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/internal/crashfs"
)

// Options configure a Store.
type Options struct {
	// Retain is how many complete snapshots are kept (at least 1; 0 means
	// 2, what the node keeps: the newest and one to fall back to).
	Retain int
	// NoSync skips every fsync (tests and benchmarks only: not crash-safe).
	NoSync bool
	// Logger receives the removal of half-written snapshots and the
	// snapshots skipped as damaged; nil is slog.Default().
	Logger *slog.Logger

	fs crashfs.FS // nil: the real file system (tests swap in crashfs.Mem)
}

// Store is a raft.SnapshotStore in <group>/snapshots (see the package doc).
type Store struct {
	dir string // the snapshots directory
	o   Options
	fs  crashfs.FS
	// lastMS is the millisecond stamp of the last snapshot id, so two
	// snapshots started in one millisecond (raft can take one while it
	// installs another) never share a directory.
	mu     sync.Mutex
	lastMS int64
	// Removed names the half-written snapshots New found and removed.
	Removed []string
}

var _ raft.SnapshotStore = (*Store)(nil)

// New opens the snapshot store of the group whose directory is groupDir,
// creating <groupDir>/snapshots if needed (durably), and removes the
// ".tmp" directories a crash left: no snapshot is being written before
// the store is open, so each is a snapshot that never completed.
func New(groupDir string, o Options) (*Store, error) {
	if o.Retain < 0 {
		return nil, fmt.Errorf("snapstore: retain %d snapshots", o.Retain)
	}
	if o.Retain == 0 {
		o.Retain = 2
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	fsys := o.fs
	if fsys == nil {
		fsys = crashfs.OS{}
	}
	s := &Store{dir: filepath.Join(groupDir, "snapshots"), o: o, fs: fsys}
	if err := fsys.MkdirAll(s.dir); err != nil {
		return nil, fmt.Errorf("snapstore: %w", err)
	}
	if err := s.sync(groupDir); err != nil {
		return nil, fmt.Errorf("snapstore: %w", err)
	}
	ents, err := fsys.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("snapstore: %w", err)
	}
	for _, e := range ents {
		if !e.Dir || !strings.HasSuffix(e.Name, tmpSuffix) {
			continue
		}
		if err := fsys.RemoveAll(filepath.Join(s.dir, e.Name)); err != nil {
			return nil, fmt.Errorf("snapstore: remove a half-written snapshot: %w", err)
		}
		s.Removed = append(s.Removed, e.Name)
	}
	if len(s.Removed) > 0 {
		o.Logger.Warn("removed snapshots a crash left half-written", "dirs", s.Removed)
	}
	return s, nil
}

// sync syncs dir unless NoSync.
func (s *Store) sync(dir string) error {
	if s.o.NoSync {
		return nil
	}
	return s.fs.SyncDir(dir)
}

// Create starts a snapshot in "<id>.tmp"; it becomes a snapshot only when
// the sink's Close returns nil.
func (s *Store) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, _ raft.Transport) (raft.SnapshotSink, error) {
	if version != raft.SnapshotVersionMax {
		return nil, fmt.Errorf("%w: %d", ErrVersion, version)
	}
	// The name FileSnapshotStore gives: List orders by term, index, then
	// name, so the milliseconds order two snapshots of one index.
	s.mu.Lock()
	s.lastMS = max(s.lastMS+1, time.Now().UnixMilli())
	id := fmt.Sprintf("%d-%d-%d", term, index, s.lastMS)
	s.mu.Unlock()
	tmp := filepath.Join(s.dir, id+tmpSuffix)
	if err := s.fs.MkdirAll(tmp); err != nil {
		return nil, fmt.Errorf("snapstore: %w", err)
	}
	f, err := s.fs.Create(filepath.Join(tmp, stateFile), filePerm)
	if err != nil {
		_ = s.fs.RemoveAll(tmp)
		return nil, fmt.Errorf("snapstore: %w", err)
	}
	k := &sink{
		s:   s,
		tmp: tmp,
		f:   f,
		crc: crc64.New(crcTable),
		meta: fileMeta{SnapshotMeta: raft.SnapshotMeta{
			Version:            version,
			ID:                 id,
			Index:              index,
			Term:               term,
			Configuration:      configuration,
			ConfigurationIndex: configurationIndex,
			// Peers, the pre-version-1 peer list, is left empty: raft
			// reads it only from version 0 snapshots.
		}},
	}
	k.buf = bufio.NewWriterSize(io.MultiWriter(f, k.crc), 256<<10)
	return k, nil
}

// List returns the complete snapshots, newest first, at most Retain.
func (s *Store) List() ([]*raft.SnapshotMeta, error) {
	all, err := s.complete()
	if err != nil {
		return nil, err
	}
	var out []*raft.SnapshotMeta
	for _, m := range all {
		if len(out) == s.o.Retain {
			break
		}
		out = append(out, &m.SnapshotMeta)
	}
	return out, nil
}

// complete returns every snapshot whose metadata decodes and whose data
// has the recorded size, newest first; it logs the others.
func (s *Store) complete() ([]*fileMeta, error) {
	ents, err := s.fs.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("snapstore: %w", err)
	}
	var out []*fileMeta
	for _, e := range ents {
		if !e.Dir || strings.HasSuffix(e.Name, tmpSuffix) {
			continue
		}
		m, f, err := s.openState(e.Name)
		if err != nil {
			s.o.Logger.Warn("skipping a snapshot that is not complete", "snapshot", e.Name, "err", err)
			continue
		}
		f.Close()
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Term != b.Term {
			return a.Term > b.Term
		}
		if a.Index != b.Index {
			return a.Index > b.Index
		}
		return a.ID > b.ID
	})
	return out, nil
}

// openState reads snapshot id's metadata and opens its data, checking the
// size (not the CRC).
func (s *Store) openState(id string) (*fileMeta, crashfs.File, error) {
	if id == "" || id != filepath.Base(id) || id == "." || id == ".." {
		return nil, nil, fmt.Errorf("%w: %q", fs.ErrNotExist, id)
	}
	b, err := s.readAll(filepath.Join(s.dir, id, metaFile))
	if err != nil {
		return nil, nil, err
	}
	m, err := decodeMeta(id, b)
	if err != nil {
		return nil, nil, err
	}
	f, err := s.fs.Open(filepath.Join(s.dir, id, stateFile))
	if err != nil {
		return nil, nil, err
	}
	size, err := f.Size()
	if err == nil && size != m.Size {
		err = fmt.Errorf("%w: %s: %s holds %d bytes, its metadata says %d", ErrDamaged, id, stateFile, size, m.Size)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return m, f, nil
}

// maxMeta bounds meta.json: a configuration of thousands of servers fits.
const maxMeta = 4 << 20

func (s *Store) readAll(path string) ([]byte, error) {
	f, err := s.fs.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	if size > maxMeta {
		return nil, fmt.Errorf("%w: %s is %d bytes", ErrDamaged, path, size)
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b, nil
}

// Open returns snapshot id's metadata and data, after checking the data's
// CRC-64 against the metadata over the whole file.
func (s *Store) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	m, f, err := s.openState(id)
	if err != nil {
		return nil, nil, err
	}
	crc := crc64.New(crcTable)
	if _, err := io.Copy(crc, io.NewSectionReader(f, 0, m.Size)); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("snapstore: %s: read %s: %w", id, stateFile, err)
	}
	if got := crc.Sum(nil); !bytes.Equal(got, m.CRC) {
		f.Close()
		return nil, nil, fmt.Errorf("%w: %s: %s has CRC-64 %x, its metadata says %x", ErrDamaged, id, stateFile, got, m.CRC)
	}
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, m.Size), 256<<10)
	return &m.SnapshotMeta, readCloser{r, f}, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// reap removes the complete snapshots beyond Retain. Each is first renamed
// to "<id>.tmp" and the directory synced, so a crash while its files are
// removed leaves a name New removes, never a snapshot with its data gone.
func (s *Store) reap() error {
	all, err := s.complete()
	if err != nil || len(all) <= s.o.Retain {
		return err
	}
	var old []string
	for _, m := range all[s.o.Retain:] {
		from := filepath.Join(s.dir, m.ID)
		if err := s.fs.Rename(from, from+tmpSuffix); err != nil {
			return err
		}
		old = append(old, from+tmpSuffix)
	}
	if err := s.sync(s.dir); err != nil {
		return err
	}
	for _, p := range old {
		if err := s.fs.RemoveAll(p); err != nil {
			return err
		}
	}
	return nil
}
