package fsm

import (
	"encoding/binary"
	"fmt"
)

// recordVersion is the record encoding's format version. Records travel
// between nodes (read forwarding) and into snapshots, so they carry their
// own version byte.
const recordVersion = 1

// AppendRecord appends the canonical encoding of r: fields in name order,
// so equal records always encode to equal bytes.
func AppendRecord(dst []byte, r *Record) []byte {
	dst = append(dst, recordVersion)
	dst = appendString(dst, r.ID)
	dst = appendString(dst, r.Subject)
	dst = binary.AppendUvarint(dst, r.Version)
	dst = binary.AppendVarint(dst, r.Created)
	dst = binary.AppendVarint(dst, r.LastAccess)
	dst = binary.AppendVarint(dst, r.IdleTimeout)
	dst = binary.AppendVarint(dst, r.AbsDeadline)
	if r.fields == nil {
		return append(dst, 0) // no fields: a count of 0
	}
	return append(dst, r.fields...)
}

// DecodeRecord decodes a record written by AppendRecord; data must hold
// exactly one record. Fields is nil when there are none. Errors wrap
// ErrCorrupt.
func DecodeRecord(data []byte) (*Record, error) {
	d := decoder{buf: data}
	r := decodeRecord(&d)
	if err := d.finish(); err != nil {
		return nil, err
	}
	return r, nil
}

func decodeRecord(d *decoder) *Record {
	if v := d.u8(); v != recordVersion && d.err == nil {
		d.fail(fmt.Errorf("%w: record version %d", ErrCorrupt, v))
	}
	r := &Record{
		ID:          d.str(),
		Subject:     d.str(),
		Version:     d.uvarint(),
		Created:     d.varint(),
		LastAccess:  d.varint(),
		IdleTimeout: d.varint(),
		AbsDeadline: d.varint(),
		fields:      d.fieldListBytes(),
	}
	return r
}
