package fsm

import (
	"encoding/binary"
	"fmt"
)

// Result encodings, for the trip back to the node that forwarded the
// command. Version 2 added the ID. Version 3 adds a transaction's outcome
// (Result.Txn); a result without one is still written as version 2, byte
// for byte, so that an older node reading a newer leader's answers to its
// SESSION.* commands understands them.
const (
	resultVersion    = 2
	resultVersionTxn = 3
)

// AppendResult appends r for the trip back to the node that forwarded the
// command. Err travels as a code plus its message (see DecodeResult).
//
//	byte version, byte errcode, string message, uvarint Version,
//	varint Count, string ID, byte hasRecord, [record]
//	version 3 only: byte aborted, uvarint len(Results), each result
//	framed (uvarint length, result)
//
// A transaction's results hold no transactions, so results nest one level
// deep at most.
func AppendResult(dst []byte, r *Result) []byte {
	code, msg := errorCode(r.Err)
	if r.Txn != nil {
		dst = append(dst, resultVersionTxn, code)
	} else {
		dst = append(dst, resultVersion, code)
	}
	dst = appendString(dst, msg)
	dst = binary.AppendUvarint(dst, r.Version)
	dst = binary.AppendVarint(dst, int64(r.Count))
	dst = appendString(dst, r.ID)
	if r.Record == nil {
		dst = append(dst, 0)
	} else {
		dst = append(dst, 1)
		dst = AppendRecord(dst, r.Record)
	}
	if r.Txn == nil {
		return dst
	}
	dst = appendBool(dst, r.Txn.Aborted)
	dst = binary.AppendUvarint(dst, uint64(len(r.Txn.Results)))
	for i := range r.Txn.Results {
		dst = appendFramed(dst, func(b []byte) []byte { return AppendResult(b, &r.Txn.Results[i]) })
	}
	return dst
}

// DecodeResult decodes a result written by AppendResult (version 2 or 3).
// The decoded Err has the original message and satisfies errors.Is with
// the same sentinel (ErrNotFound, ErrConflict, ...). Errors wrap
// ErrCorrupt.
func DecodeResult(data []byte) (*Result, error) {
	d := decoder{buf: data}
	r := decodeResult(&d, true)
	if err := d.finish(); err != nil {
		return nil, err
	}
	return r, nil
}

// decodeResult reads one result; a transaction's is allowed only at the
// top, which bounds the recursion.
func decodeResult(d *decoder, top bool) *Result {
	v := d.u8()
	if v != resultVersion && v != resultVersionTxn && d.err == nil {
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
		r.Record = decodeRecord(d)
	default:
		d.failf("bad record flag")
	}
	if v == resultVersionTxn {
		if !top {
			d.failf("nested transaction result")
		}
		x := &TxnResult{Aborted: d.bool()}
		if n := d.count(2); n > 0 {
			x.Results = make([]Result, n)
			for i := range x.Results {
				inner := decoder{buf: d.raw(d.length())}
				if ir := decodeResult(&inner, false); inner.finish() == nil {
					x.Results[i] = *ir
				} else {
					d.fail(inner.err)
				}
			}
		}
		if d.err == nil {
			r.Txn = x
		}
	}
	r.Err = errorFromCode(code, msg)
	return r
}
