package raftwal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

const (
	kindEntry  byte = 1
	kindDelete byte = 2

	headerSize = 9 // length u32, crc u32, kind u8
	// maxRecord bounds one record, so a corrupt length cannot make Open
	// allocate gigabytes. Raft entries are bounded far below this by the
	// node's batch limits.
	maxRecord = 256 << 20

	// Every write (one StoreLogs or DeleteRange) starts with a write
	// header: a deletion record of the single index markerTag|n, where n is
	// the write's length in bytes, header included. Replay uses it to know
	// which bytes one write covers, hence which damage a crash during the
	// last write can explain (scan.go). It is an ordinary deletion record
	// so that logs written now still open with a binary from before it
	// (which applies it as a deletion past the end of the log: nothing);
	// raft indexes never come near markerTag (StoreLogs refuses indexes
	// from maxIndex on).
	markerTag  uint64 = 0xFFFF << 48
	markerSize        = headerSize + 16
	maxIndex   uint64 = 1<<63 - 1
	// minWrite is the smallest write: a header and one record, of at
	// least a header and an index.
	minWrite = markerSize + headerSize + 8
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendRecord appends one record with payload parts p to dst.
func appendRecord(dst []byte, kind byte, p ...[]byte) []byte {
	n := 0
	for _, b := range p {
		n += len(b)
	}
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(n))
	dst = binary.LittleEndian.AppendUint32(dst, 0) // crc, filled below
	dst = append(dst, kind)
	for _, b := range p {
		dst = append(dst, b...)
	}
	crc := crc32.Checksum(dst[start+8:], castagnoli)
	binary.LittleEndian.PutUint32(dst[start+4:], crc)
	return dst
}

// parseRecord reads the record at the start of b. ok is false when b does
// not start with a complete, intact record (the end of the log after a
// crash, or corruption); size is the record's length in bytes when ok.
func parseRecord(b []byte) (kind byte, payload []byte, size int, ok bool) {
	if len(b) < headerSize {
		return 0, nil, 0, false
	}
	n := binary.LittleEndian.Uint32(b)
	if n > maxRecord || uint64(len(b)-headerSize) < uint64(n) {
		return 0, nil, 0, false
	}
	size = headerSize + int(n)
	if crc32.Checksum(b[8:size], castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return 0, nil, 0, false
	}
	kind = b[8]
	if kind != kindEntry && kind != kindDelete {
		return 0, nil, 0, false
	}
	return kind, b[headerSize:size], size, true
}

// putMarker writes the header of a write of n bytes into b[:markerSize].
func putMarker(b []byte, n int) {
	v := markerTag | uint64(n)
	binary.LittleEndian.PutUint32(b, 16)
	b[8] = kindDelete
	binary.BigEndian.PutUint64(b[headerSize:], v)
	binary.BigEndian.PutUint64(b[headerSize+8:], v)
	binary.LittleEndian.PutUint32(b[4:], crc32.Checksum(b[8:markerSize], castagnoli))
}

// markerLen reports whether an intact record is a write header, and the
// length of the write it announces.
func markerLen(kind byte, payload []byte) (int, bool) {
	if kind != kindDelete || len(payload) != 16 {
		return 0, false
	}
	v := binary.BigEndian.Uint64(payload)
	if v != binary.BigEndian.Uint64(payload[8:]) || v&markerTag != markerTag {
		return 0, false
	}
	return int(v &^ markerTag), true
}

// deletePayload and parseDelete encode a deletion of min..max.
func deletePayload(min, max uint64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, min), max)
}

func parseDelete(p []byte) (min, max uint64, err error) {
	if len(p) != 16 {
		return 0, 0, fmt.Errorf("%w: deletion record of %d bytes", ErrCorrupt, len(p))
	}
	return binary.BigEndian.Uint64(p), binary.BigEndian.Uint64(p[8:]), nil
}

// entryIndex reads the index that leads an entry record's payload.
func entryIndex(p []byte) (uint64, error) {
	if len(p) < 8 {
		return 0, fmt.Errorf("%w: entry record of %d bytes", ErrCorrupt, len(p))
	}
	return binary.BigEndian.Uint64(p), nil
}
