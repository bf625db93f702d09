package raftwal

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// codecVersion leads every encoded entry so the format can change later.
const codecVersion = 1

// encodeLog appends the encoding of l to dst:
//
//	version(1) | term uvarint | type(1) | appendedAt varint (unix ns, 0 = zero)
//	| len(data) uvarint | data | len(ext) uvarint | ext
//
// The index is the bbolt key, not part of the value.
func encodeLog(dst []byte, l *raft.Log) []byte {
	dst = append(dst, codecVersion)
	dst = binary.AppendUvarint(dst, l.Term)
	dst = append(dst, byte(l.Type))
	var at int64
	if !l.AppendedAt.IsZero() {
		at = l.AppendedAt.UnixNano()
	}
	dst = binary.AppendVarint(dst, at)
	dst = binary.AppendUvarint(dst, uint64(len(l.Data)))
	dst = append(dst, l.Data...)
	dst = binary.AppendUvarint(dst, uint64(len(l.Extensions)))
	dst = append(dst, l.Extensions...)
	return dst
}

// decodeLog fills l from b (the index is set by the caller). Data and
// Extensions point into b, which the caller hands over: GetLog reads each
// entry into a buffer of its own, so a second copy would only cost time
// (raft's startup reads every entry after the snapshot through it).
func decodeLog(b []byte, l *raft.Log) error {
	if len(b) < 1 || b[0] != codecVersion {
		return fmt.Errorf("%w: unknown version", ErrCorrupt)
	}
	b = b[1:]
	term, n := binary.Uvarint(b)
	if n <= 0 {
		return fmt.Errorf("%w: term", ErrCorrupt)
	}
	b = b[n:]
	if len(b) < 1 {
		return fmt.Errorf("%w: type", ErrCorrupt)
	}
	typ := raft.LogType(b[0])
	b = b[1:]
	at, n := binary.Varint(b)
	if n <= 0 {
		return fmt.Errorf("%w: appended-at", ErrCorrupt)
	}
	b = b[n:]
	data, b, err := takeBytes(b, "data")
	if err != nil {
		return err
	}
	ext, b, err := takeBytes(b, "extensions")
	if err != nil {
		return err
	}
	if len(b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(b))
	}
	l.Term, l.Type, l.Data, l.Extensions = term, typ, data, ext
	l.AppendedAt = time.Time{}
	if at != 0 {
		l.AppendedAt = time.Unix(0, at)
	}
	return nil
}

// takeBytes reads a uvarint length and that many bytes, as a slice of b
// capped at its end (so an append to it cannot overwrite what follows); a
// zero length gives nil, as raft-boltdb's decoder does.
func takeBytes(b []byte, what string) ([]byte, []byte, error) {
	size, n := binary.Uvarint(b)
	if n <= 0 || size > uint64(len(b)-n) {
		return nil, nil, fmt.Errorf("%w: %s length", ErrCorrupt, what)
	}
	b = b[n:]
	if size == 0 {
		return nil, b, nil
	}
	return b[:size:size], b[size:], nil
}

func indexKey(i uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), i)
}
