package raftwal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// What a crash can leave, and so what Open may cut.
//
// The writer appends with one write per StoreLogs or DeleteRange, after
// the last record of the last segment, and fdatasyncs before the call
// returns; it starts a new segment only after the previous one's last
// write was synced (and the directory with it), and it overwrites nothing
// but zeros. The last segment's file may run past its records with zeros
// it wrote itself (wal.go, prealloc), which replay reads as the end of
// the records; a segment is cut back to its last record before the next
// one starts, so only the last one has such a tail. So at any moment at
// most one write W is not durable, and it is the last records of the
// last segment. After kill -9 the file holds all of W or a
// prefix of it (a write interrupted by the signal). After a power loss the
// file's size may be anywhere up to W's end (or the end of the zeros the
// writer filled in with W), each 512-byte sector of W may
// or may not have reached the disk (a lost one reads back as zeros: the
// file system's unwritten extent or hole), and the tail of W may read as
// zeros from any byte on (a size that reached the disk before the data).
// A file system that exposes stale blocks instead of zeros (ext4
// data=writeback) is outside this model: Open refuses what such a crash
// leaves rather than guess.
//
// Hence the rule: the first bad record of the last segment is a torn tail,
// cut with everything after it, only if
//   - it lies in the last write: inside a write whose header (record.go)
//     says it ends at or after the end of the file (zeros past that end
//     are tolerated), or, where no header tells (a write whose own header
//     is the bad record, or a log written before headers existed), no
//     intact write header follows it; and
//   - its damage looks like a crash: the write is shorter than its header
//     says; or a sector the record overlaps reads as zeros from the start
//     of the write on; or the file is zeros from inside the record to its
//     end; or the record runs past the end of the file and no chain of
//     intact records after it ends exactly there (which a damaged length
//     in the middle would leave).
//
// When a header tells where the torn write starts, the whole write is cut,
// so a StoreLogs is all or nothing after a crash. Anything else is damage
// no crash explains (a flipped bit, a lost sector in synced data, a bad
// length in the middle): Open refuses and changes no file. What stays
// ambiguous, and is cut as a crash would be: damage to the last write that
// also looks like a tear (e.g. a flipped bit in the final record, whose
// last byte is usually zero, when nothing follows it). And the reverse,
// on the safe side: a torn write whose own header was lost, holding an
// entry whose data happens to contain a well-formed write header, makes
// Open refuse rather than cut.

const sectorSize = 512

// scannedRecord is one intact record of a segment.
type scannedRecord struct {
	off, size int
	kind      byte
	payload   []byte // aliases the segment's bytes
}

// segmentScan is the outcome of scanning one segment.
type segmentScan struct {
	end int // bytes of the segment to keep
	// torn explains why bytes [end, len) are a torn final write ("" if the
	// segment is intact to its end).
	torn string
	// cut holds the intact records of the torn write (cut with it).
	cut []scannedRecord
}

// damage is a bad record that no crash explains.
type damage struct {
	off       int
	reason    string
	lastEntry uint64 // the last intact entry before it in its write (0: none)
	resync    resyncPoint
}

// resyncPoint is where intact records resume after damage, if they do.
type resyncPoint struct {
	found      bool
	off        int
	firstEntry uint64 // first entry index in the chain (0: none)
	lastEntry  uint64 // last entry index in the chain
	reachesEOF bool   // the chain of intact records ends exactly at EOF
	records    int
}

// scanSegment reads data, one segment's bytes, and hands its intact
// records to apply in order, a write's records once the whole write is
// read (so a torn write is never applied). last says whether it is the
// log's last segment, the only one a crash can leave torn. An error from
// apply stops the scan and is returned as is.
func scanSegment(data []byte, last bool, apply func(scannedRecord) error) (segmentScan, *damage, error) {
	var sc segmentScan
	var pending []scannedRecord // the records of the write being read
	off := 0
	writeStart, writeEnd := -1, -1 // the write being read, per its header
	for off < len(data) {
		if last && writeEnd < 0 && data[off] == 0 && allZero(data[off:]) {
			// The records end at a write's boundary and only zeros
			// follow: the file's preallocated space (Options.PreallocBytes),
			// or an append none of whose bytes reached the disk. Appends go
			// on from here; nothing is cut.
			sc.end = off
			return sc, nil, nil
		}
		kind, payload, size, ok := parseRecord(data[off:])
		reason := ""
		if !ok {
			reason = describeBad(data[off:])
		} else if n, isMarker := markerLen(kind, payload); isMarker {
			switch {
			case writeEnd >= 0:
				reason = "write header inside another write"
			case n < minWrite:
				reason = fmt.Sprintf("write header announces %d bytes", n)
			default:
				writeStart, writeEnd = off, off+n
				off += size
				continue
			}
		} else if writeEnd >= 0 && off+size > writeEnd {
			reason = fmt.Sprintf("record of %d bytes crosses the end of its write at offset %d", size, writeEnd)
		}
		if reason != "" {
			sc, dmg := sc.badRecord(data, last, off, ok, reason, writeStart, writeEnd, pending)
			return sc, dmg, nil
		}
		r := scannedRecord{off: off, size: size, kind: kind, payload: payload}
		off += size
		if writeEnd < 0 { // a log written before write headers
			if err := apply(r); err != nil {
				return sc, nil, err
			}
			continue
		}
		pending = append(pending, r)
		if off == writeEnd {
			for _, r := range pending {
				if err := apply(r); err != nil {
					return sc, nil, err
				}
			}
			pending = pending[:0]
			writeStart, writeEnd = -1, -1
		}
	}
	if writeEnd >= 0 {
		// The file ends inside a write: it never completed, so it was never
		// synced, and only the last segment can hold one.
		reason := fmt.Sprintf("the file ends %d bytes into a write of %d bytes", len(data)-writeStart, writeEnd-writeStart)
		if !last {
			return sc, &damage{off: writeStart, reason: reason + " in a segment that is not the last", lastEntry: lastEntryOf(pending)}, nil
		}
		sc.cutAt(writeStart, pending, reason)
		return sc, nil, nil
	}
	sc.end = len(data)
	return sc, nil, nil
}

// lastEntryOf is the index of the last entry record in recs (0: none).
func lastEntryOf(recs []scannedRecord) uint64 {
	for k := len(recs) - 1; k >= 0; k-- {
		if i, err := entryIndex(recs[k].payload); recs[k].kind == kindEntry && err == nil {
			return i
		}
	}
	return 0
}

// badRecord decides what the bad record at off is (see the comment at the
// top of the file). intact says the record's checksum holds and only its
// place is wrong (which a crash cannot cause).
func (sc segmentScan) badRecord(data []byte, last bool, off int, intact bool, reason string, writeStart, writeEnd int, pending []scannedRecord) (segmentScan, *damage) {
	bad := func(why string) (segmentScan, *damage) {
		return sc, &damage{off: off, reason: reason + why, lastEntry: lastEntryOf(pending), resync: resync(data, off+1)}
	}
	if !last {
		return bad(", in a segment that is not the last (it was complete and synced before the next one began)")
	}
	recEnd := off + recordExtent(data[off:])
	if writeEnd >= 0 {
		if len(data) > writeEnd && !allZero(data[writeEnd:]) {
			return bad(fmt.Sprintf(", inside a write that ends at offset %d with more data after it (a later write began, so this one was synced)", writeEnd))
		}
		end := min(recEnd, writeEnd)
		switch {
		case len(data) < writeEnd:
			sc.cutAt(writeStart, pending, reason+fmt.Sprintf(" in the last write (%d of its %d bytes present)", len(data)-writeStart, writeEnd-writeStart))
			return sc, nil
		case !intact && zeroSector(data[:writeEnd], writeStart, off, end):
			sc.cutAt(writeStart, pending, reason+" in the last write, over a sector of zeros (not written before the crash)")
			return sc, nil
		case !intact && allZero(data[end-1:]):
			sc.cutAt(writeStart, pending, reason+" in the last write, which ends in zeros from inside the record on (not written before the crash)")
			return sc, nil
		}
		return bad(" in the last write, which is complete: not what a crash leaves")
	}
	if m, ok := laterMarker(data, off+1); ok {
		return bad(fmt.Sprintf(" before an intact write header at offset %d (a later write began, so this one was synced)", m))
	}
	if intact {
		return bad("")
	}
	if zeroSector(data, off, off, recEnd) {
		sc.cutAt(off, nil, reason+", over a sector of zeros (not written before the crash)")
		return sc, nil
	}
	if allZero(data[recEnd-1:]) {
		sc.cutAt(off, nil, reason+", with zeros from inside the record to the end of the file (not written before the crash)")
		return sc, nil
	}
	if pastEOF(data[off:]) {
		if r := resync(data, off+1); r.reachesEOF {
			return sc, &damage{off: off, reason: reason + fmt.Sprintf(", but intact records from offset %d run to the end of the file (the length is damaged)", r.off), resync: r}
		}
		sc.cutAt(off, nil, reason)
		return sc, nil
	}
	return bad(", with non-zero data after it")
}

// cutAt makes bytes from off on a torn tail; cut are the torn write's
// intact records.
func (sc *segmentScan) cutAt(off int, cut []scannedRecord, why string) {
	sc.cut = cut
	sc.end = off
	sc.torn = why
}

// describeBad says why b does not start with an intact record.
func describeBad(b []byte) string {
	if len(b) < headerSize {
		return fmt.Sprintf("record header cut short by the end of the file (%d of %d bytes)", len(b), headerSize)
	}
	n := binary.LittleEndian.Uint32(b)
	switch {
	case n > maxRecord:
		return fmt.Sprintf("record length %d over the limit of %d", n, maxRecord)
	case uint64(len(b)-headerSize) < uint64(n):
		return fmt.Sprintf("record of %d bytes runs past the end of the file (%d bytes left)", headerSize+int(n), len(b))
	case crc32.Checksum(b[8:headerSize+int(n)], castagnoli) != binary.LittleEndian.Uint32(b[4:]):
		return "checksum mismatch"
	default:
		return fmt.Sprintf("unknown record kind %d", b[8])
	}
}

// recordExtent is how many bytes of b the record at its start claims,
// clipped to b: just the header when the length is impossible.
func recordExtent(b []byte) int {
	if len(b) < headerSize {
		return len(b)
	}
	n := binary.LittleEndian.Uint32(b)
	if n > maxRecord {
		return headerSize
	}
	return int(min(uint64(len(b)), headerSize+uint64(n)))
}

// pastEOF: the record at the start of b is cut by the end of the file.
// A torn write can shorten a length (zeros) but not make one impossible.
func pastEOF(b []byte) bool {
	if len(b) < headerSize {
		return true
	}
	n := binary.LittleEndian.Uint32(b)
	return n <= maxRecord && uint64(len(b)-headerSize) < uint64(n)
}

// zeroSector reports whether a sector overlapping [from, to) reads as
// zeros from w (the start of the write) to the end of data: a sector of
// that write that did not reach the disk.
func zeroSector(data []byte, w, from, to int) bool {
	for s := from &^ (sectorSize - 1); s < to; s += sectorSize {
		a, b := max(s, w), min(s+sectorSize, len(data))
		if a < b && allZero(data[a:b]) {
			return true
		}
	}
	return false
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// laterMarker finds an intact write header at or after from.
func laterMarker(data []byte, from int) (int, bool) {
	for p := from; p+markerSize <= len(data); p++ {
		if data[p] != 16 || data[p+1]|data[p+2]|data[p+3] != 0 || data[p+8] != kindDelete || data[p+9] != 0xff || data[p+10] != 0xff {
			continue
		}
		if kind, payload, _, ok := parseRecord(data[p : p+markerSize]); ok {
			if _, isMarker := markerLen(kind, payload); isMarker {
				return p, true
			}
		}
	}
	return 0, false
}

// resync finds where intact records resume at or after from: the first
// offset that starts a chain of at least two intact records, or of one
// that ends exactly at the end of the file. It is only for damage reports
// and the past-EOF check, so it bounds the checksumming it does.
func resync(data []byte, from int) resyncPoint {
	budget := 4*len(data) + 1<<20
	for p := from; p+headerSize <= len(data); p++ {
		n := binary.LittleEndian.Uint32(data[p:])
		if (data[p+8] != kindEntry && data[p+8] != kindDelete) || uint64(n) > uint64(len(data)-p-headerSize) {
			continue
		}
		if budget -= int(n); budget < 0 {
			break
		}
		r := resyncPoint{off: p}
		q := p
		for q < len(data) {
			kind, payload, size, ok := parseRecord(data[q:])
			if !ok {
				break
			}
			budget -= size
			r.records++
			if _, isMarker := markerLen(kind, payload); !isMarker && kind == kindEntry && len(payload) >= 8 {
				i := binary.BigEndian.Uint64(payload)
				if r.firstEntry == 0 {
					r.firstEntry = i
				}
				r.lastEntry = i
			}
			q += size
		}
		r.reachesEOF = q == len(data)
		if r.records >= 2 || r.records == 1 && r.reachesEOF {
			r.found = true
			return r
		}
	}
	return resyncPoint{}
}
