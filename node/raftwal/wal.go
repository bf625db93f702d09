package raftwal

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/internal/crashfs"
)

// Options configure Open.
type Options struct {
	// NoSync skips fdatasync (tests only: loses durability).
	NoSync bool
	// SegmentBytes is the size at which a new segment file is started
	// (0 = 64 MiB). Whole segments are deleted once raft has compacted
	// every entry in them.
	SegmentBytes int64
	// PreallocBytes is how far the last segment's file is filled with
	// zeros ahead of its records (0 = 1 MiB, negative = never). An append
	// into bytes the file already has changes neither its size nor its
	// block map, so its fdatasync writes the data and flushes the disk
	// without a journal commit: on ext4 on the development VM that took an
	// append plus fdatasync from 75-98 to 47-59 us of CPU and from 161-196
	// to 105-156 us of wall time (docs/benchmarks.md, "Preallocated log
	// segments"). The zeros are written once per PreallocBytes of log, by
	// the append that crosses the filled end, in the same fdatasync.
	PreallocBytes int64
	// OnFailure, if set, is called once when a write or sync fails. The
	// log refuses every later write (a failed fdatasync cannot be retried
	// safely); reopening it, i.e. restarting the process, replays what is
	// intact. A server should stop rather than stay up with a log that
	// no longer takes writes.
	OnFailure func(error)
	// Logger receives the one line Open logs when it cuts a torn final
	// write (nil: slog.Default()).
	Logger *slog.Logger
	// OnAppend, if set, is called after each successful StoreLogs with
	// its duration and that of its fdatasync (zero with NoSync), for
	// metrics. It runs under the write lock: it must be quick.
	OnAppend func(total, sync time.Duration)

	fs crashfs.FS // nil: the real file system (tests swap in crashfs.Mem)
}

// Log is a raft.LogStore in one directory. Raft calls StoreLogs and
// DeleteRange from more than one goroutine (its main loop, the snapshot
// goroutine) and GetLog from its replication goroutines; all are safe.
type Log struct {
	dir  string
	opts Options
	fs   crashfs.FS

	// wmu serialises writers (append, delete, segment removal). Writes go
	// to disk without holding mu, so readers are not blocked by fdatasync.
	wmu    sync.Mutex
	segs   []*segment // guarded by wmu; the last one is appended to
	failed error      // guarded by wmu: after a failed write, every later one fails
	// lastSync is the duration of the latest fdatasync (guarded by wmu).
	lastSync time.Duration
	// wbuf and pbuf are StoreLogs' write buffer and entry encoding
	// buffer, kept between calls (under wmu): a busy leader appends
	// thousands of times a second, and each call used to allocate both
	// (about a tenth of the bytes a node allocated under creates). Nothing
	// refers to them once the call returns: the index holds offsets.
	wbuf, pbuf []byte

	mu     sync.RWMutex // guards idx and closed
	idx    index
	closed bool
}

var _ raft.LogStore = (*Log)(nil)

// Open opens the log in dir, creating it if needed, and replays it. A torn
// final write, what a crash during an append leaves, is cut off and
// logged; any other damage (scan.go) makes Open fail with ErrCorrupt,
// naming the segment, the offset and the entries affected, and leaves
// every file as it was.
func Open(dir string, o Options) (*Log, error) {
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 64 << 20
	}
	if o.PreallocBytes == 0 {
		o.PreallocBytes = 1 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	fsys := o.fs
	if fsys == nil {
		fsys = crashfs.OS{}
	}
	if err := fsys.MkdirAll(dir); err != nil {
		return nil, err
	}
	if !o.NoSync {
		// The directory entry of a new log must survive a crash as its
		// records do.
		if err := fsys.SyncDir(filepath.Dir(dir)); err != nil {
			return nil, err
		}
	}
	l := &Log{dir: dir, opts: o, fs: fsys}
	seqs, err := listSegments(fsys, dir)
	if err != nil {
		return nil, err
	}
	if err := l.replayAll(seqs); err != nil {
		l.closeFiles()
		return nil, err
	}
	if len(l.segs) == 0 {
		s, err := createSegment(fsys, dir, 1, o.NoSync)
		if err != nil {
			return nil, fmt.Errorf("raftwal: %w", err)
		}
		l.segs = append(l.segs, s)
	}
	l.dropSegments()
	return l, nil
}

// replayAll replays the segments seqs in order, then cuts a torn tail.
//
// The segments are read through crashfs's ViewFile, a mapping of each
// file. A scan's records alias it: each segment's is released once it is
// replayed, except the last one's, released on return (a torn write's
// records there are still read by cutTornTail). A read of a mapping that
// the disk cannot serve faults instead of returning an error, so faults
// are turned into panics here and the panic into an error.
func (l *Log) replayAll(seqs []uint64) (err error) {
	releaseLast := func() {}
	defer func() { releaseLast() }()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			fault, ok := r.(interface{ Addr() uintptr })
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("raftwal: reading the segments of %s: %w (a memory fault at %#x: the disk failed or a file shrank while it was read)",
				l.dir, syscall.EIO, fault.Addr())
		}
	}()
	var lastEntry uint64 // the last entry record replayed, for damage reports
	var torn segmentScan
	for i, seq := range seqs {
		last := i == len(seqs)-1
		sc, release, err := l.replay(seq, last, &lastEntry)
		if release != nil {
			if last {
				releaseLast = release
			} else {
				release() // only the last segment can hold a torn write
			}
		}
		if err != nil {
			return err
		}
		torn = sc
	}
	// Only now, with every segment read and found sound, is a torn tail
	// cut: a refusal above leaves the files as they were.
	if torn.torn != "" {
		if err := l.cutTornTail(torn); err != nil {
			return fmt.Errorf("raftwal: %w", err)
		}
	}
	return nil
}

// replay reads one segment's records into the index. It returns the scan
// of the segment, whose torn tail (only possible in the last one) the
// caller cuts once every segment is known to be sound, and the release of
// the segment's bytes, which the scan's records alias.
func (l *Log) replay(seq uint64, last bool, lastEntry *uint64) (segmentScan, func(), error) {
	path := segmentPath(l.dir, seq)
	data, release, err := l.fs.ViewFile(path)
	if err != nil {
		return segmentScan{}, nil, fmt.Errorf("raftwal: %w", err)
	}
	defer func() {
		if r := recover(); r != nil {
			release() // a read of the mapping faulted: replayAll reports it
			panic(r)
		}
	}()
	sc, err := l.replayData(seq, path, data, last, lastEntry)
	return sc, release, err
}

// replayData is replay on the segment's bytes.
func (l *Log) replayData(seq uint64, path string, data []byte, last bool, lastEntry *uint64) (segmentScan, error) {
	f, err := l.fs.OpenRW(path)
	if err != nil {
		return segmentScan{}, fmt.Errorf("raftwal: %w", err)
	}
	s := &segment{seq: seq, path: path, f: f}
	l.segs = append(l.segs, s)
	sc, dmg, err := scanSegment(data, last, func(r scannedRecord) error {
		if err := l.applyRecord(s, r); err != nil {
			return fmt.Errorf("%w: %s, byte offset %d: %v; no file was changed", ErrCorrupt, path, r.off, err)
		}
		if r.kind == kindEntry {
			*lastEntry, _ = entryIndex(r.payload)
		}
		return nil
	})
	if err != nil {
		return sc, err
	}
	if dmg != nil {
		return sc, damageError(path, dmg, max(*lastEntry, dmg.lastEntry))
	}
	// The file may run past its records with zeros (preallocated, or an
	// append that never reached the disk): appends go on at sc.end. A torn
	// tail is measured from the file's end, for the line cutTornTail logs.
	s.size, s.alloc = int64(sc.end), int64(len(data))
	if sc.torn != "" {
		s.size = s.alloc
	}
	return sc, nil
}

// damageError names what a bad record affects, for the operator who must
// replace this replica's log from its peers.
func damageError(path string, d *damage, lastEntry uint64) error {
	affected := fmt.Sprintf("entries after %d are unreadable", lastEntry)
	if r := d.resync; r.found && r.firstEntry > lastEntry+1 {
		affected = fmt.Sprintf("entries %d..%d are damaged (intact records resume at byte offset %d with entry %d, up to entry %d)",
			lastEntry+1, r.firstEntry-1, r.off, r.firstEntry, r.lastEntry)
	} else if r.found && r.firstEntry != 0 {
		affected = fmt.Sprintf("the damaged record holds no entry (entries up to %d precede it; intact records resume at byte offset %d with entries %d..%d)",
			lastEntry, r.off, r.firstEntry, r.lastEntry)
	}
	return fmt.Errorf("%w: %s, byte offset %d: %s; %s. This is not a torn final write, so nothing was cut and no file was changed; replace this replica's log from its peers",
		ErrCorrupt, path, d.off, d.reason, affected)
}

// cutTornTail truncates the last segment to the end of its sound records.
func (l *Log) cutTornTail(sc segmentScan) error {
	s := l.segs[len(l.segs)-1]
	cut := s.size - int64(sc.end)
	// The records cut alias the segment's mapping (replayAll), which the
	// truncation below makes unreadable: name them first.
	var first, last uint64
	for _, r := range sc.cut {
		if i, err := entryIndex(r.payload); r.kind == kindEntry && err == nil {
			first, last = cmp.Or(first, i), i
		}
	}
	dropped := "none"
	if first != 0 {
		dropped = fmt.Sprintf("%d..%d", first, last)
	}
	if err := s.f.Truncate(int64(sc.end)); err != nil {
		return err
	}
	if !l.opts.NoSync {
		if err := s.f.Datasync(); err != nil {
			return err
		}
	}
	s.size, s.alloc = int64(sc.end), int64(sc.end)
	l.opts.Logger.Warn("raftwal: cut a torn final write (a crash during an append; the write was never acknowledged)",
		"segment", s.path, "offset", sc.end, "bytes", cut, "why", sc.torn, "intact_entries_cut", dropped)
	return nil
}

func (l *Log) applyRecord(s *segment, r scannedRecord) error {
	switch r.kind {
	case kindEntry:
		i, err := entryIndex(r.payload)
		if err != nil {
			return err
		}
		s.maxIndex = max(s.maxIndex, i)
		return l.idx.add(i, loc{seg: s, off: int64(r.off), n: r.size})
	default:
		min, max, err := parseDelete(r.payload)
		if err != nil {
			return err
		}
		if err := l.idx.checkDelete(min, max); err != nil {
			return err
		}
		l.idx.remove(min, max)
		return nil
	}
}

// FirstIndex returns the first index in the log, 0 if it is empty.
func (l *Log) FirstIndex() (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.idx.first, nil
}

// LastIndex returns the last index in the log, 0 if it is empty.
func (l *Log) LastIndex() (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.idx.last, nil
}

// GetLog reads entry i; raft.ErrLogNotFound if the log does not hold it.
// The record's checksum is verified on every read: damage that appeared
// after Open is ErrChecksum, never data handed to raft.
func (l *Log) GetLog(i uint64, out *raft.Log) error {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	at, ok := l.idx.get(i)
	if !ok {
		l.mu.RUnlock()
		return raft.ErrLogNotFound
	}
	// Read under the lock: segment removal takes it exclusively before
	// closing files, so at.seg.f is open.
	buf := make([]byte, at.n)
	n, err := at.seg.f.ReadAt(buf, at.off)
	l.mu.RUnlock()
	if err != nil && !errors.Is(err, io.EOF) { // a short read is damage, told below
		return fmt.Errorf("raftwal: read entry %d: %w", i, err)
	}
	kind, payload, size, ok := parseRecord(buf[:n])
	switch {
	case !ok:
		return fmt.Errorf("%w: entry %d, %s, byte offset %d: %s", ErrChecksum, i, at.seg.path, at.off, describeBad(buf[:n]))
	case size != len(buf) || kind != kindEntry || len(payload) < 8 || binary.BigEndian.Uint64(payload) != i:
		return fmt.Errorf("%w: entry %d, %s, byte offset %d: the record there is not that entry", ErrChecksum, i, at.seg.path, at.off)
	}
	if err := decodeLog(payload[8:], out); err != nil {
		return fmt.Errorf("raftwal: entry %d: %w", i, err)
	}
	out.Index = i
	return nil
}

// BytesFrom returns the bytes of the records of entries i and after (of
// every entry if i is at or before the first): what the log holds past a
// snapshot at i-1. Unlike Bytes it counts only entries the log still
// holds; a compacted prefix stays on disk until its whole segment goes.
func (l *Log) BytesFrom(i uint64) int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	locs := l.idx.locs
	if i > l.idx.first {
		locs = locs[min(i-l.idx.first, uint64(len(locs))):]
	}
	var n int64
	for _, at := range locs {
		n += int64(at.n)
	}
	return n
}

// Bytes returns the bytes of the log's records (its segment files less
// the zeros preallocated after them): an upper bound on what reading
// every entry allocates.
func (l *Log) Bytes() int64 {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	var n int64
	for _, s := range l.segs {
		n += s.size
	}
	return n
}

// StoreLog appends one entry.
func (l *Log) StoreLog(e *raft.Log) error { return l.StoreLogs([]*raft.Log{e}) }

// StoreLogs appends entries with one write and one fdatasync; they are
// durable and readable when it returns. The first entry follows the last
// one, or leaves a gap: a follower that installed a snapshot continues
// after the snapshot's index while its log may still end before it
// (hashicorp/raft keeps such a log). Every entry before a gap is covered
// by that snapshot, so the gap drops them, durably, in the same write;
// the log stays contiguous.
func (l *Log) StoreLogs(entries []*raft.Log) error {
	if len(entries) == 0 {
		return nil
	}
	var start time.Time
	if l.opts.OnAppend != nil {
		start = time.Now()
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	l.mu.RLock()
	first, last, empty := l.idx.first, l.idx.last, l.idx.empty()
	l.mu.RUnlock()
	if !empty && entries[0].Index <= last {
		return fmt.Errorf("%w: index %d, expected %d", ErrNotContiguous, entries[0].Index, last+1)
	}
	for k := 1; k < len(entries); k++ {
		if entries[k].Index != entries[k-1].Index+1 {
			return fmt.Errorf("%w: index %d after %d", ErrNotContiguous, entries[k].Index, entries[k-1].Index)
		}
	}
	if last := entries[len(entries)-1].Index; last >= maxIndex {
		return fmt.Errorf("%w: index %d (the log holds indexes below %d)", ErrUnsupported, last, maxIndex)
	}
	size := markerSize
	for _, e := range entries {
		n := 8 + len(e.Data) + len(e.Extensions) + 32
		if n > maxRecord {
			return fmt.Errorf("%w: entry %d is %d bytes, the limit is %d", ErrTooLarge, e.Index, n, maxRecord)
		}
		size += headerSize + n
	}
	gap := !empty && entries[0].Index > last+1
	if err := l.rotateIfFull(); err != nil {
		return err
	}
	s := l.segs[len(l.segs)-1]
	payload := l.pbuf[:0]
	buf := l.wbuf[:0]
	if cap(buf) < size+markerSize {
		buf = make([]byte, 0, size+markerSize)
	}
	buf = buf[:markerSize] // the write's header, filled by write
	if gap {
		buf = appendRecord(buf, kindDelete, deletePayload(first, last))
	}
	offs := make([]loc, len(entries))
	for k, e := range entries {
		payload = binary.BigEndian.AppendUint64(payload[:0], e.Index)
		payload = encodeLog(payload, e)
		at := len(buf)
		buf = appendRecord(buf, kindEntry, payload)
		offs[k] = loc{seg: s, off: s.size + int64(at), n: len(buf) - at}
	}
	// Keep the buffers for the next call unless one grew past what a
	// usual append needs (a follower catching up sends far more).
	if cap(buf) <= maxKeptBuf {
		l.wbuf = buf
	}
	if cap(payload) <= maxKeptBuf {
		l.pbuf = payload
	}
	if err := l.write(s, buf); err != nil {
		return err
	}
	l.mu.Lock()
	if gap {
		l.idx.remove(first, last)
	}
	for k, e := range entries {
		if err := l.idx.add(e.Index, offs[k]); err != nil {
			l.mu.Unlock()
			return err // checked above; cannot happen
		}
		s.maxIndex = max(s.maxIndex, e.Index)
	}
	l.mu.Unlock()
	if gap {
		l.dropSegments()
	}
	if l.opts.OnAppend != nil {
		l.opts.OnAppend(time.Since(start), l.lastSync)
	}
	return nil
}

// DeleteRange deletes min..max, which must be a prefix or a suffix of the
// log (raft compacts a prefix after a snapshot and truncates a conflicting
// suffix on a follower). The deletion is durable when it returns.
func (l *Log) DeleteRange(min, max uint64) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	l.mu.RLock()
	err := l.idx.checkDelete(min, max)
	none := l.idx.empty() || min > l.idx.last || max < l.idx.first
	l.mu.RUnlock()
	if err != nil || none {
		// Nothing to delete, nothing to write (and a record of one index
		// from markerTag on would read as a write header).
		return err
	}
	if err := l.rotateIfFull(); err != nil {
		return err
	}
	s := l.segs[len(l.segs)-1]
	buf := appendRecord(make([]byte, markerSize, 2*markerSize), kindDelete, deletePayload(min, max))
	if err := l.write(s, buf); err != nil {
		return err
	}
	l.mu.Lock()
	l.idx.remove(min, max)
	l.mu.Unlock()
	l.dropSegments()
	return nil
}

// write fills in the write header that buf starts with, appends buf to s
// with one write and syncs it. A failed write or sync leaves the file in
// an unknown state (and a failed fdatasync cannot be retried safely), so
// the log refuses every later write until it is reopened, which replays
// only intact records.
func (l *Log) write(s *segment, buf []byte) error {
	putMarker(buf, len(buf))
	if _, err := s.f.WriteAt(buf, s.size); err != nil {
		return l.fail(fmt.Errorf("raftwal: append: %w", err))
	}
	l.prealloc(s, s.size+int64(len(buf)))
	if !l.opts.NoSync {
		t := time.Now()
		if err := s.f.Datasync(); err != nil {
			return l.fail(fmt.Errorf("raftwal: sync: %w", err))
		}
		l.lastSync = time.Since(t)
	}
	s.size += int64(len(buf))
	return nil
}

// maxKeptBuf bounds the buffers StoreLogs keeps between calls.
const maxKeptBuf = 1 << 20

// zeros is what prealloc writes, shared and never written to.
var zeros = make([]byte, 64<<10)

// prealloc fills s's file with zeros from end, where an append just
// ended, when that append ran past the bytes the file had: up to the next
// multiple of PreallocBytes, but not far past the segment's size (the
// segment rotates there). The caller's fdatasync makes the zeros durable
// with the append. A crash may leave any part of them; zeros after the
// last record are what a torn append can leave anyway (scan.go).
//
// The zeros only make later fdatasyncs cheaper, so failing to write them
// (a full disk) fails nothing: the append stands or falls with its own
// write and sync, and an append that runs past the bytes meant for the
// zeros tries again.
func (l *Log) prealloc(s *segment, end int64) {
	if end <= s.alloc {
		return
	}
	s.alloc = end
	step := l.opts.PreallocBytes
	if step <= 0 {
		return
	}
	to := min((end/step+1)*step, max(l.opts.SegmentBytes, end))
	// alloc bounds the file's length from above whatever part of the
	// zeros a failure leaves, so that rotateIfFull cuts all of them.
	s.alloc = to
	for off := end; off < to; {
		n, err := s.f.WriteAt(zeros[:min(int64(len(zeros)), to-off)], off)
		if err != nil {
			return
		}
		off += int64(n)
	}
}

// fail puts the log in the failed state (see Options.OnFailure).
func (l *Log) fail(err error) error {
	if l.failed == nil && l.opts.OnFailure != nil {
		l.opts.OnFailure(err)
	}
	l.failed = err
	return err
}

func (l *Log) writable() error {
	l.mu.RLock()
	closed := l.closed
	l.mu.RUnlock()
	switch {
	case closed:
		return ErrClosed
	case l.failed != nil:
		return fmt.Errorf("%w: an earlier write failed: %v", ErrClosed, l.failed)
	}
	return nil
}

// rotateIfFull starts a new segment once the current one is full.
func (l *Log) rotateIfFull() error {
	cur := l.segs[len(l.segs)-1]
	if cur.size < l.opts.SegmentBytes {
		return nil
	}
	// A segment other than the last ends at its last record: replay
	// reads zeros after the records only in the last one (scan.go), so
	// lost data at the end of a finished segment is never taken for
	// unused space.
	if cur.alloc > cur.size {
		if err := cur.f.Truncate(cur.size); err != nil {
			return l.fail(fmt.Errorf("raftwal: trim a full segment: %w", err))
		}
		if !l.opts.NoSync {
			if err := cur.f.Datasync(); err != nil {
				return l.fail(fmt.Errorf("raftwal: trim a full segment: %w", err))
			}
		}
		cur.alloc = cur.size
	}
	s, err := createSegment(l.fs, l.dir, cur.seq+1, l.opts.NoSync)
	if err != nil {
		return l.fail(fmt.Errorf("raftwal: new segment: %w", err))
	}
	l.segs = append(l.segs, s)
	return nil
}

// dropSegments deletes the leading segments (never the last) whose
// entries all precede the first index. Only a prefix of the segment list
// goes, in order, with the directory synced after each removal, so the
// files left on disk (even after a crash) are always a suffix of the
// sequence and replay in their original order. It runs after the record
// that made the segments unnecessary is durable, so a failure here is not
// the caller's: the segment stays in the list and the next call retries.
func (l *Log) dropSegments() {
	l.mu.Lock()
	n := 0
	for n < len(l.segs)-1 && (l.idx.empty() || l.segs[n].maxIndex < l.idx.first) {
		n++
	}
	drop := l.segs[:n]
	l.mu.Unlock()
	removed := 0
	for _, s := range drop {
		if err := l.fs.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			break
		}
		if !l.opts.NoSync && l.fs.SyncDir(l.dir) != nil {
			break
		}
		s.f.Close()
		removed++
	}
	if removed > 0 {
		l.mu.Lock()
		l.segs = l.segs[removed:]
		l.mu.Unlock()
	}
}

// Close closes the log's files. Later calls fail with ErrClosed.
func (l *Log) Close() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	return l.closeFiles()
}

func (l *Log) closeFiles() error {
	var errs []error
	for _, s := range l.segs {
		errs = append(errs, s.f.Close())
	}
	return errors.Join(errs...)
}
