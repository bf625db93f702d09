package fsm

import "encoding/binary"

// Helpers shared by the Redis commands (cmd_setstring.go and the others):
// making and changing records of every kind, and the body encodings they
// have in common.

// keyRecord returns a new record for a Redis key written at index and log
// time t: no subject, no idle timeout, deadline d (0: none). data is its
// data, built for key and no subject.
func keyRecord(index uint64, t int64, data recordData, d int64) *Record {
	r := &Record{Version: index, Created: t, LastAccess: t, AbsDeadline: d}
	r.setRecordData(data)
	return r
}

// keyData starts the data of a key's record: old's id and subject if it
// exists, else key's and none; with room for n payload bytes.
func keyData(key string, old *Record, n int) recordData {
	if old == nil {
		return newRecordData(key, "", n)
	}
	return newRecordData(old.ID(), old.Subject(), n)
}

// changed returns a copy of old with the data, built for old's id and
// subject, written at index and t: a write counts as an access, as Set's
// does. Subject, creation time, idle timeout and deadline stay.
func changed(old *Record, index uint64, t int64, data recordData) *Record {
	r := written(old, index, t)
	r.setRecordData(data)
	return r
}

// written returns a copy of old written at index and t, sharing its id,
// subject and payload.
func written(old *Record, index uint64, t int64) *Record {
	r := *old
	r.Version = index
	r.LastAccess = max(r.LastAccess, t)
	return &r
}

// withDeadline returns a copy of old with the absolute deadline d.
func withDeadline(old *Record, index uint64, t int64, d int64) *Record {
	r := written(old, index, t)
	r.AbsDeadline = d
	return r
}

// del removes a key a command deletes (DEL, GETDEL, a last field or
// member removed, a deadline in the past) and reports "del".
func (st *state) del(old *Record, t int64) {
	st.bury(old.ID(), old, t)
	st.note(EventDel, old.ID())
}

// checkKey checks a Redis key as checkID checks an id.
func (l *Limits) checkKey(key string) error { return l.checkID("key", key) }

// checkSize refuses a record of id and subject whose payload (as
// Record.Size counts it) is size bytes, beyond MaxRecordBytes.
func (l *Limits) checkSize(id, subject string, size int) error {
	if n := len(id) + len(subject) + size; n > l.MaxRecordBytes {
		return errf(ErrTooLarge, "record size %d exceeds %d", n, l.MaxRecordBytes)
	}
	return nil
}

// checkValue refuses a string value or set member beyond MaxValueBytes.
func (l *Limits) checkValue(what string, v int) error {
	if v > l.MaxValueBytes {
		return errf(ErrTooLarge, "%s size %d exceeds %d", what, v, l.MaxValueBytes)
	}
	return nil
}

func errWrongType(key string, k Kind) error {
	return errf(ErrWrongType, "key %q holds a %s", clip(key), k)
}

func appendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// bool reads a byte written by appendBool; anything but 0 or 1 is corrupt
// (one encoding per command).
func (d *decoder) bool() bool {
	switch d.u8() {
	case 0:
		return false
	case 1:
		return true
	}
	d.failf("bad boolean")
	return false
}

func appendByteSlices(dst []byte, bs [][]byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(bs)))
	for _, b := range bs {
		dst = appendBytes(dst, b)
	}
	return dst
}

func sizeByteSlices(bs [][]byte) int {
	n := sizeUvarint(uint64(len(bs)))
	for _, b := range bs {
		n += sizeUvarint(uint64(len(b))) + len(b)
	}
	return n
}

func (d *decoder) byteSlices() [][]byte {
	n := d.count(1)
	if n == 0 {
		return nil
	}
	bs := make([][]byte, n)
	for i := range bs {
		bs[i] = d.bytes()
	}
	if d.err != nil {
		return nil
	}
	return bs
}
