package fsm

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
)

// Snapshot format, version 4:
//
//	"SRSNAP", byte version
//	uvarint applied index, varint clock, uvarint records,
//	uvarint dedup entries, uvarint tombstones
//	uint32 big-endian CRC-32C of the bytes above (the header)
//	records × (uvarint len, AppendRecord bytes), in strictly ascending id order
//	dedup entries × (uvarint len, entry bytes), in insertion (= time) order
//	tombstones × (uvarint len, string id, varint end), in strictly
//	ascending (end, id) order
//	uint32 big-endian CRC-32C of every byte before it
//
// Records and tombstones are sorted so that replicas with equal state
// write equal snapshots, and so Restore can reject duplicates by a
// comparison. Tombstones that have ended but are not pruned yet are
// written too: pruning is bounded per batch, and a restored replica must
// go on pruning exactly like its source.
//
// Version 4 added the Redis keys (kind.go): records of every kind, in
// record encoding version 2 unless they are sessions, and tombstones that
// coexist with records or with other tombstones of their id (Redis
// commands write over tombstones, see tombstone.go). Older binaries refuse
// it by its version instead of failing on its first Redis key.
//
// Version 3 added the header checksum: with the counts verified before
// any record is read, Restore sizes its maps for them up front instead of
// growing (and rehashing) them from small, which is faster and leaves
// them fuller. Version 2 (the same without the header checksum) is still
// read, with maps grown as before; version 2 added the tombstones and the
// dedup entries' id, and nothing older was ever released.
const (
	snapMagic   = "SRSNAP"
	snapVersion = 4
	// snapVersionSessions is version 3: every record a session, written
	// in record encoding version 1. Still read.
	snapVersionSessions = 3
	// snapVersionNoHeaderCRC is version 2, still read.
	snapVersionNoHeaderCRC = 2
	// maxPresize bounds the table sizes a header may ask for: the header
	// checksum catches corruption, not a forged header, and a forged count
	// must not reserve gigabytes. A million (the records of one group of a
	// node with several million) costs about 30 MB per table if forged;
	// larger tables grow from there as in version 2.
	maxPresize = 1 << 20
	// maxFrame bounds one record, dedup entry or tombstone in a snapshot;
	// far above any record the default limits admit, it only stops absurd
	// lengths.
	maxFrame = 1 << 30
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Snapshot is a point-in-time copy of the FSM, cheap to take and written
// out later, concurrently with further Applies.
type Snapshot struct {
	applied  uint64
	clock    int64
	recs     []*Record
	dedup    []*dedupEntry
	tombs    []tombstone
	released bool
}

// Snapshot captures the state between two entries. It must run on the
// apply goroutine (raft calls FSM.Snapshot there). Records are immutable,
// so it copies pointers only: O(n) and no deep copies.
func (f *FSM) Snapshot() (*Snapshot, error) {
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	st := f.state.Load()
	return &Snapshot{
		applied: st.applied.Load(),
		clock:   st.clock.Load(),
		recs:    st.records(),
		dedup:   st.dedup.entries(),
		tombs:   st.tombs.entries(),
	}, nil
}

// AppliedIndex is the raft index the snapshot was taken at.
func (s *Snapshot) AppliedIndex() uint64 { return s.applied }

// Release drops the snapshot's references. WriteTo fails afterwards.
func (s *Snapshot) Release() {
	s.recs, s.dedup, s.tombs, s.released = nil, nil, nil, true
}

// WriteTo streams the snapshot to w (buffered) and returns the bytes
// written. It must not be called concurrently on the same Snapshot.
func (s *Snapshot) WriteTo(w io.Writer) (int64, error) {
	if s.released {
		return 0, errors.New("fsm: snapshot written after Release")
	}
	slices.SortFunc(s.recs, byID)
	slices.SortFunc(s.tombs, cmpTomb)

	cw := &crcWriter{w: w}
	bw := bufio.NewWriterSize(cw, 64<<10)
	buf := append(make([]byte, 0, 4096), snapMagic...)
	buf = append(buf, snapVersion)
	buf = binary.AppendUvarint(buf, s.applied)
	buf = binary.AppendVarint(buf, s.clock)
	buf = binary.AppendUvarint(buf, uint64(len(s.recs)))
	buf = binary.AppendUvarint(buf, uint64(len(s.dedup)))
	buf = binary.AppendUvarint(buf, uint64(len(s.tombs)))
	buf = binary.BigEndian.AppendUint32(buf, crc32.Checksum(buf, crcTable))
	bw.Write(buf) // bufio keeps the first error; checked at Flush

	for _, r := range s.recs {
		buf = appendFramed(buf[:0], func(b []byte) []byte { return AppendRecord(b, r) })
		bw.Write(buf)
	}
	for _, e := range s.dedup {
		buf = appendFramed(buf[:0], func(b []byte) []byte { return appendDedupEntry(b, e) })
		bw.Write(buf)
	}
	for _, e := range s.tombs {
		buf = appendFramed(buf[:0], func(b []byte) []byte { return appendTombstone(b, e) })
		bw.Write(buf)
	}
	if err := bw.Flush(); err != nil {
		return cw.n, err
	}
	trailer := binary.BigEndian.AppendUint32(nil, cw.crc)
	n, err := w.Write(trailer)
	return cw.n + int64(n), err
}

type crcWriter struct {
	w   io.Writer
	crc uint32
	n   int64
}

func (c *crcWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.crc = crc32.Update(c.crc, crcTable, p[:n])
	c.n += int64(n)
	return n, err
}

// Restore replaces the whole state with a snapshot read from r. It builds
// the new state on the side and installs it only after the checksum
// verifies, so a failed restore leaves the FSM exactly as it was. Bad
// magic, unknown versions, malformed or truncated data and checksum
// mismatches all fail with an error wrapping ErrCorrupt. Restore does not
// close r.
func (f *FSM) Restore(r io.Reader) error {
	st, err := readSnapshot(r, f.limits.DedupWindow)
	if err != nil {
		return fmt.Errorf("fsm: restore: %w", err)
	}
	f.applyMu.Lock()
	f.state.Store(st)
	f.applyMu.Unlock()
	return nil
}

func readSnapshot(r io.Reader, window int64) (*state, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	cr := &crcReader{r: br}

	var magic [len(snapMagic) + 1]byte
	if _, err := io.ReadFull(cr, magic[:]); err != nil {
		return nil, readErr(err)
	}
	if string(magic[:len(snapMagic)]) != snapMagic {
		return nil, fmt.Errorf("%w: not a snapshot (bad magic)", ErrCorrupt)
	}
	version := magic[len(snapMagic)]
	if version != snapVersion && version != snapVersionSessions && version != snapVersionNoHeaderCRC {
		return nil, fmt.Errorf("%w: unknown snapshot version %d", ErrCorrupt, version)
	}
	var hdr [5]uint64
	for i := range hdr {
		v, err := cr.uvarint()
		if err != nil {
			return nil, err
		}
		hdr[i] = v
	}
	applied, clock, nrec, ndedup, ntomb := hdr[0], decodeZigzag(hdr[1]), hdr[2], hdr[3], hdr[4]

	// Size the tables from the header once its checksum says the counts
	// are what the writer wrote. Without that (version 2) only up to a
	// modest bound: a few corrupt bytes must not reserve megabytes, and
	// maps grow on their own.
	limit := uint64(1 << 16)
	if version != snapVersionNoHeaderCRC {
		want := cr.crc
		var sum [4]byte
		if _, err := io.ReadFull(cr, sum[:]); err != nil {
			return nil, readErr(err)
		}
		if got := binary.BigEndian.Uint32(sum[:]); got != want {
			return nil, fmt.Errorf("%w: header checksum mismatch (stored %08x, computed %08x)", ErrCorrupt, got, want)
		}
		limit = maxPresize
	}
	st := newStateSized(int(min(nrec, limit)), int(min(ndedup, limit)), int(min(ntomb, limit)), window)
	var (
		frame []byte
		prev  string
		err   error
		recs  = make([]*Record, 0, min(nrec, limit))
	)
	for i := uint64(0); i < nrec; i++ {
		if frame, err = cr.frame(frame); err != nil {
			return nil, err
		}
		rec, err := DecodeRecord(frame)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
		if version < snapVersion && !rec.Session() {
			return nil, fmt.Errorf("%w: record %d is a %s key in a version %d snapshot", ErrCorrupt, i, rec.Kind(), version)
		}
		// Strictly ascending ids: no duplicates, and no empty id.
		if rec.ID() <= prev {
			// Only a prefix of the id: this error is logged, and ids are
			// bearer tokens.
			return nil, fmt.Errorf("%w: record %d id %q... out of order", ErrCorrupt, i, rec.ID()[:min(len(rec.ID()), 6)])
		}
		prev = rec.ID()
		recs = append(recs, rec)
	}
	st.insertAll(recs)
	var (
		prevT int64
		arena stringArena
	)
	for i := uint64(0); i < ndedup; i++ {
		if frame, err = cr.frame(frame); err != nil {
			return nil, err
		}
		d := decoder{buf: frame}
		e := decodeDedupEntry(&d, arena.str)
		if err := d.finish(); err != nil {
			return nil, fmt.Errorf("dedup entry %d: %w", i, err)
		}
		o := e.outcome()
		switch {
		case e.reqID == "":
			return nil, fmt.Errorf("%w: dedup entry %d has no request id", ErrCorrupt, i)
		case i > 0 && e.t < prevT:
			return nil, fmt.Errorf("%w: dedup entry %d out of time order", ErrCorrupt, i)
		case st.dedup.m.get(e.reqID) != nil:
			return nil, fmt.Errorf("%w: dedup entry %d repeats a request id", ErrCorrupt, i)
		case o.code == codeNone && o.msg != "":
			return nil, fmt.Errorf("%w: dedup entry %d has a message but no error", ErrCorrupt, i)
		case o.code != codeNone && o.id != "":
			return nil, fmt.Errorf("%w: dedup entry %d has an error and an id", ErrCorrupt, i)
		}
		prevT = e.t
		st.dedup.pushNew(e) // absent: checked above
	}
	var prevTomb tombstone
	for i := uint64(0); i < ntomb; i++ {
		if frame, err = cr.frame(frame); err != nil {
			return nil, err
		}
		d := decoder{buf: frame}
		e := decodeTombstone(&d)
		if err := d.finish(); err != nil {
			return nil, fmt.Errorf("tombstone %d: %w", i, err)
		}
		// A sorted slice is a valid min-heap, so pushing in order costs
		// no swaps. Before version 4 every record was a session and
		// Apply guaranteed more: an id has at most one tombstone that has
		// not ended, and a record never coexists with a live tombstone of
		// its id. Since Redis commands write over tombstones (tombstone.go)
		// neither holds; the map keeps the latest end, as add does.
		prevEnd, seen := st.tombs.m[e.id]
		switch {
		case e.id == "":
			return nil, fmt.Errorf("%w: tombstone %d has no id", ErrCorrupt, i)
		case i > 0 && cmpTomb(prevTomb, e) >= 0:
			return nil, fmt.Errorf("%w: tombstone %d out of order", ErrCorrupt, i)
		case version < snapVersion && seen && prevEnd > clock:
			return nil, fmt.Errorf("%w: tombstone %d supersedes one that has not ended", ErrCorrupt, i)
		case version < snapVersion && e.until > clock && st.lookup(e.id) != nil:
			return nil, fmt.Errorf("%w: tombstone %d buries a live record", ErrCorrupt, i)
		}
		prevTomb = e
		st.tombs.m[e.id] = e.until
		st.tombs.push(e)
	}
	st.tombs.peak = len(st.tombs.m)

	want := cr.crc
	var trailer [4]byte
	if _, err := io.ReadFull(br, trailer[:]); err != nil {
		return nil, readErr(err)
	}
	if got := binary.BigEndian.Uint32(trailer[:]); got != want {
		return nil, fmt.Errorf("%w: checksum mismatch (stored %08x, computed %08x)", ErrCorrupt, got, want)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: data after the checksum", ErrCorrupt)
	}
	st.deadlines.trim()
	st.applied.Store(applied)
	st.clock.Store(clock)
	return st, nil
}

func decodeZigzag(u uint64) int64 {
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v
}

// readErr turns running out of input into ErrCorrupt (a truncated
// snapshot); other read errors pass through.
func readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: truncated snapshot", ErrCorrupt)
	}
	return err
}

// crcReader checksums everything read through it.
type crcReader struct {
	r   *bufio.Reader
	crc uint32
	one [1]byte
}

func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.crc = crc32.Update(c.crc, crcTable, p[:n])
	return n, err
}

func (c *crcReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err != nil {
		return 0, err
	}
	c.one[0] = b
	c.crc = crc32.Update(c.crc, crcTable, c.one[:])
	return b, nil
}

func (c *crcReader) uvarint() (uint64, error) {
	var x uint64
	for i := 0; i < binary.MaxVarintLen64; i++ {
		b, err := c.ReadByte()
		if err != nil {
			return 0, readErr(err)
		}
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				break
			}
			return x | uint64(b)<<(7*i), nil
		}
		x |= uint64(b&0x7f) << (7 * i)
	}
	return 0, fmt.Errorf("%w: varint overflows 64 bits", ErrCorrupt)
}

// frame reads one length-prefixed frame into buf. It reads in chunks so a
// hostile length costs memory only as far as data actually arrives.
func (c *crcReader) frame(buf []byte) ([]byte, error) {
	n, err := c.uvarint()
	if err != nil {
		return buf, err
	}
	if n > maxFrame {
		return buf, fmt.Errorf("%w: frame of %d bytes", ErrCorrupt, n)
	}
	buf = buf[:0]
	for n > 0 {
		chunk := int(min(n, 1<<20))
		buf = slices.Grow(buf, chunk)
		if _, err := io.ReadFull(c, buf[len(buf):len(buf)+chunk]); err != nil {
			return buf, readErr(err)
		}
		buf = buf[:len(buf)+chunk]
		n -= uint64(chunk)
	}
	return buf, nil
}
