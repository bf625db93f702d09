package fsm

import (
	"encoding/binary"
	"fmt"
)

// Record encodings. Records travel between nodes (read forwarding) and
// into snapshots, so they carry their own version byte.
//
// Version 1 is a session: the header, then its field list. Every record
// an older binary wrote is one, and a session is still written so, byte
// for byte: an older node reads the sessions a newer one forwards.
//
// Version 2 is any other record (kind.go): the same header, a kind byte,
// then the kind's body: a plain hash's field list (at least one field), a
// string's value as a length-prefixed byte string, a set's member list
// (at least one member). A hash is never written as version 2 unless it
// is plain, so each record has exactly one encoding.
const (
	recordVersion     = 1
	recordVersionKind = 2
)

// AppendRecord appends the canonical encoding of r: fields in name order,
// so equal records always encode to equal bytes.
func AppendRecord(dst []byte, r *Record) []byte {
	session := r.Session()
	if session {
		dst = append(dst, recordVersion)
	} else {
		dst = append(dst, recordVersionKind)
	}
	dst = appendString(dst, r.ID())
	dst = appendString(dst, r.Subject())
	dst = binary.AppendUvarint(dst, r.Version)
	dst = binary.AppendVarint(dst, r.Created)
	dst = binary.AppendVarint(dst, r.LastAccess)
	dst = binary.AppendVarint(dst, r.IdleTimeout)
	dst = binary.AppendVarint(dst, r.AbsDeadline)
	switch {
	case session && r.payload() == nil:
		return append(dst, 0) // no fields: a count of 0
	case session:
		return append(dst, r.payload()...)
	case r.Kind() == KindString:
		dst = append(dst, byte(KindString))
		return appendBytes(dst, r.payload()[2:])
	default: // plain hash, set: the kind byte and the body as stored
		return append(dst, r.payload()[1:]...)
	}
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

// setRecordData gives r its data when d has met no error and no part is too
// long for a record, and fails d otherwise.
func (d *decoder) setRecordData(r *Record, data recordData) {
	if d.err == nil && (data.idLen > maxPartLen || data.subjectLen > maxPartLen || len(data.payload()) > maxPartLen) {
		d.failf("record part longer than 4 GiB")
	}
	if d.err != nil {
		return
	}
	r.setRecordData(data)
}

func decodeRecord(d *decoder) *Record {
	v := d.u8()
	if v != recordVersion && v != recordVersionKind && d.err == nil {
		d.fail(fmt.Errorf("%w: record version %d", ErrCorrupt, v))
	}
	// The id and subject are copied into the record's data (Record.data)
	// with its payload; the bytes read here are the caller's and only
	// live until then.
	id, subject := d.raw(d.length()), d.raw(d.length())
	r := &Record{
		Version:     d.uvarint(),
		Created:     d.varint(),
		LastAccess:  d.varint(),
		IdleTimeout: d.varint(),
		AbsDeadline: d.varint(),
	}
	if v == recordVersion {
		d.setRecordData(r, d.fieldListAfter(id, subject))
		return r
	}
	var data recordData
	switch k := Kind(d.u8()); k {
	case KindHash:
		data = d.fieldListAfter(id, subject, kindTag, byte(KindHash))
		if len(data.payload()) == 0 && d.err == nil {
			d.failf("plain hash without fields")
		}
	case KindString:
		data = stringData(id, subject, d.raw(d.length()))
	case KindSet:
		list := d.memberListBytes() // rare: copied once more below
		data = newRecordData(id, subject, len(list))
		data.buf = append(data.buf, list...)
	default:
		if d.err == nil {
			d.failf("record kind %d", k)
		}
	}
	d.setRecordData(r, data)
	return r
}
