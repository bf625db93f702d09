package fsm

import (
	"encoding/binary"
	"fmt"
)

// Result encodings, for the trip back to the node that forwarded the
// command. Version 2 added the ID. Version 3 adds what the Redis commands
// return (Value, Int, Results, Aborted); a result without any of them is
// still written as version 2, byte for byte, so that an older node reading
// a newer leader's answers to its SESSION.* commands understands them.
const (
	resultVersion      = 2
	resultVersionRedis = 3
)

// Flags of a version 3 result.
const (
	resHasRecord = 1 << iota
	resHasValue
	resHasResults
	resAborted
	resFlagsKnown = resHasRecord | resHasValue | resHasResults | resAborted
)

// AppendResult appends r for the trip back to the node that forwarded the
// command. Err travels as a code plus its message (see DecodeResult).
//
//	version 2: byte version, byte errcode, string message, uvarint Version,
//	varint Count, string ID, byte hasRecord, [record]
//	version 3: byte version, byte errcode, string message, uvarint Version,
//	varint Count, string ID, varint Int, byte flags, [bytes Value],
//	[uvarint len(Results), each result], [record]
//
// A transaction's results hold no transactions, so results nest one level
// deep at most.
func AppendResult(dst []byte, r *Result) []byte {
	code, msg := errorCode(r.Err)
	redis := r.Value != nil || r.Int != 0 || r.Results != nil || r.Aborted
	if redis {
		dst = append(dst, resultVersionRedis, code)
	} else {
		dst = append(dst, resultVersion, code)
	}
	dst = appendString(dst, msg)
	dst = binary.AppendUvarint(dst, r.Version)
	dst = binary.AppendVarint(dst, int64(r.Count))
	dst = appendString(dst, r.ID)
	if !redis {
		if r.Record == nil {
			return append(dst, 0)
		}
		dst = append(dst, 1)
		return AppendRecord(dst, r.Record)
	}
	dst = binary.AppendVarint(dst, r.Int)
	var flags byte
	if r.Record != nil {
		flags |= resHasRecord
	}
	if r.Value != nil {
		flags |= resHasValue
	}
	if r.Results != nil {
		flags |= resHasResults
	}
	if r.Aborted {
		flags |= resAborted
	}
	dst = append(dst, flags)
	if r.Value != nil {
		dst = appendBytes(dst, r.Value)
	}
	if r.Results != nil {
		dst = binary.AppendUvarint(dst, uint64(len(r.Results)))
		for i := range r.Results {
			dst = appendFramed(dst, func(b []byte) []byte { return AppendResult(b, &r.Results[i]) })
		}
	}
	if r.Record != nil {
		dst = AppendRecord(dst, r.Record)
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

// decodeResult reads one result; nested results are allowed only at the
// top (a transaction's), which bounds the recursion.
func decodeResult(d *decoder, top bool) *Result {
	v := d.u8()
	if v != resultVersion && v != resultVersionRedis && d.err == nil {
		d.fail(fmt.Errorf("%w: result version %d", ErrCorrupt, v))
	}
	code := d.u8()
	msg := d.str()
	r := &Result{
		Version: d.uvarint(),
		Count:   int(d.varint()),
		ID:      d.str(),
	}
	if v == resultVersion {
		switch d.u8() {
		case 0:
		case 1:
			r.Record = decodeRecord(d)
		default:
			d.failf("bad record flag")
		}
		r.Err = errorFromCode(code, msg)
		return r
	}
	r.Int = d.varint()
	flags := d.u8()
	if flags&^resFlagsKnown != 0 {
		d.failf("bad result flags %#x", flags)
	}
	if flags&resHasValue != 0 {
		r.Value = d.bytes()
	}
	if flags&resHasResults != 0 {
		if !top {
			d.failf("nested results")
		}
		n := d.count(2)
		r.Results = make([]Result, n)
		for i := range r.Results {
			inner := decoder{buf: d.raw(d.length())}
			if x := decodeResult(&inner, false); inner.finish() == nil {
				r.Results[i] = *x
			} else {
				d.fail(inner.err)
			}
		}
	}
	r.Aborted = flags&resAborted != 0
	if flags&resHasRecord != 0 {
		r.Record = decodeRecord(d)
	}
	// Written by AppendResult, a version 3 result has at least one of
	// them: anything else would re-encode as version 2.
	if d.err == nil && r.Value == nil && r.Int == 0 && r.Results == nil && !r.Aborted {
		d.failf("version 3 result with nothing of version 3")
	}
	r.Err = errorFromCode(code, msg)
	return r
}
