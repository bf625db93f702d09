package fsm

import (
	"fmt"
	"time"
)

// Limits bounds what one record may hold and how long request ids are
// remembered. Apply enforces them, so they are part of the replicated state
// machine's definition: every replica of a group must use the same Limits,
// or replicas diverge when a command is near a bound. A zero field means
// "use the default".
type Limits struct {
	MaxIDLen        int   // bytes in a record id or Redis key; default 512
	MaxSubjectLen   int   // bytes in a subject; default 256
	MaxFields       int   // fields per record; default 256
	MaxFieldNameLen int   // bytes in a field name; default 256
	MaxValueBytes   int   // bytes in one field value; default 1 MiB
	MaxRecordBytes  int   // Record.Size(); default 4 MiB
	DedupWindow     int64 // ns of log time a ReqID result is remembered, and the least a tombstone lasts; default 10 minutes
	MaxReqIDLen     int   // bytes in a Command.ReqID; default 64
}

// DefaultLimits returns the default limits.
func DefaultLimits() Limits {
	return Limits{
		MaxIDLen:        512,
		MaxSubjectLen:   256,
		MaxFields:       256,
		MaxFieldNameLen: 256,
		MaxValueBytes:   1 << 20,
		MaxRecordBytes:  4 << 20,
		DedupWindow:     int64(10 * time.Minute),
		MaxReqIDLen:     64,
	}
}

// withDefaults replaces zero fields with their defaults.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	setDefault(&l.MaxIDLen, d.MaxIDLen)
	setDefault(&l.MaxSubjectLen, d.MaxSubjectLen)
	setDefault(&l.MaxFields, d.MaxFields)
	setDefault(&l.MaxFieldNameLen, d.MaxFieldNameLen)
	setDefault(&l.MaxValueBytes, d.MaxValueBytes)
	setDefault(&l.MaxRecordBytes, d.MaxRecordBytes)
	setDefault(&l.DedupWindow, d.DedupWindow)
	setDefault(&l.MaxReqIDLen, d.MaxReqIDLen)
	return l
}

func setDefault[T int | int64](p *T, def T) {
	if *p == 0 {
		*p = def
	}
}

// maxRecordBytesLimit is the largest MaxRecordBytes Validate accepts:
// a record's id, subject and payload have 32-bit lengths (Record.data),
// and a record's encoding, which adds its header and length prefixes to
// what Size counts, must fit a snapshot frame (maxFrame, 1 GiB).
const maxRecordBytesLimit = 512 << 20

// Validate reports whether l is usable. Zero fields are valid (they take
// the default); negative ones are not.
func (l Limits) Validate() error {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"MaxIDLen", int64(l.MaxIDLen)},
		{"MaxSubjectLen", int64(l.MaxSubjectLen)},
		{"MaxFields", int64(l.MaxFields)},
		{"MaxFieldNameLen", int64(l.MaxFieldNameLen)},
		{"MaxValueBytes", int64(l.MaxValueBytes)},
		{"MaxRecordBytes", int64(l.MaxRecordBytes)},
		{"DedupWindow", l.DedupWindow},
		{"MaxReqIDLen", int64(l.MaxReqIDLen)},
	} {
		if f.v < 0 {
			return fmt.Errorf("%w: limits: %s is negative (%d)", ErrInvalid, f.name, f.v)
		}
	}
	if l.MaxRecordBytes > maxRecordBytesLimit {
		return fmt.Errorf("%w: limits: MaxRecordBytes %d exceeds %d", ErrInvalid, l.MaxRecordBytes, maxRecordBytesLimit)
	}
	return nil
}
