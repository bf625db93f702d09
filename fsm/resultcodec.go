package fsm

import (
	"encoding/binary"
	"fmt"
)

// resultVersion is the result encoding's format version. Version 2 added
// the ID; DecodeResult accepts only the current version.
const resultVersion = 2

// AppendResult appends r for the trip back to the node that forwarded the
// command. Err travels as a code plus its message (see DecodeResult).
//
//	byte version, byte errcode, string message, uvarint Version,
//	varint Count, string ID, byte hasRecord, [record]
func AppendResult(dst []byte, r *Result) []byte {
	code, msg := errorCode(r.Err)
	dst = append(dst, resultVersion, code)
	dst = appendString(dst, msg)
	dst = binary.AppendUvarint(dst, r.Version)
	dst = binary.AppendVarint(dst, int64(r.Count))
	dst = appendString(dst, r.ID)
	if r.Record == nil {
		return append(dst, 0)
	}
	dst = append(dst, 1)
	return AppendRecord(dst, r.Record)
}

// DecodeResult decodes a result written by AppendResult. The decoded Err
// has the original message and satisfies errors.Is with the same sentinel
// (ErrNotFound, ErrConflict, ...). Errors wrap ErrCorrupt.
func DecodeResult(data []byte) (*Result, error) {
	d := decoder{buf: data}
	if v := d.u8(); v != resultVersion && d.err == nil {
		d.fail(fmt.Errorf("%w: result version %d", ErrCorrupt, v))
	}
	code := d.u8()
	msg := d.str()
	r := &Result{
		Version: d.uvarint(),
		Count:   int(d.varint()),
		ID:      d.str(),
	}
	switch d.u8() {
	case 0:
	case 1:
		r.Record = decodeRecord(&d)
	default:
		d.failf("bad record flag")
	}
	if err := d.finish(); err != nil {
		return nil, err
	}
	r.Err = errorFromCode(code, msg)
	return r, nil
}
