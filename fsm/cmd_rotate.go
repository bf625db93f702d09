package fsm

import "encoding/binary"

// Rotate moves a record to NewID atomically: same subject, fields, created
// time and deadlines; OldID is gone and leaves a tombstone. IfVersion as in
// Set. NewID must be neither live nor tombstoned (else ErrExists).
type Rotate struct {
	OldID     string
	NewID     string
	IfVersion uint64
}

// rotateCmd is CmdRotate's entry in the command table (cmdtable.go).
//
// Body: string OldID, string NewID, uvarint IfVersion.
var rotateCmd = cmdSpec{
	name: "rotate",
	has:  func(c *Command) bool { return c.Rotate != nil },
	encode: func(dst []byte, c *Command) []byte {
		x := deref(c.Rotate)
		dst = appendString(dst, x.OldID)
		dst = appendString(dst, x.NewID)
		return binary.AppendUvarint(dst, x.IfVersion)
	},
	size: func(c *Command) int {
		x := deref(c.Rotate)
		return sizeString(x.OldID) + sizeString(x.NewID) + sizeUvarint(x.IfVersion)
	},
	decode: func(d *decoder, c *Command) {
		c.Rotate = &Rotate{OldID: d.str(), NewID: d.str(), IfVersion: d.uvarint()}
	},
	check: func(l Limits, c *Command, _ []Field, _ int64) error { return l.checkRotate(c.Rotate) },
	shards: func(_ *state, c *Command) uint64 {
		return shardBit(c.Rotate.OldID) | shardBit(c.Rotate.NewID)
	},
	apply: func(f *FSM, st *state, index uint64, t int64, c *Command, _ []Field) Result {
		return f.rotate(st, index, t, c.Rotate)
	},
}

func (l *Limits) checkRotate(r *Rotate) error {
	if err := l.checkID("old id", r.OldID); err != nil {
		return err
	}
	if err := l.checkID("new id", r.NewID); err != nil {
		return err
	}
	if r.OldID == r.NewID {
		return errf(ErrInvalid, "rotate to the same id")
	}
	return nil
}

// rotate moves a record to a new id in one step. The record keeps
// everything (created, last access, deadlines, subject, fields) but its id
// and version: clients that hold the old id see it gone, and version
// checks against the old id's version fail.
func (f *FSM) rotate(st *state, index uint64, t int64, c *Rotate) Result {
	old := live(st, c.OldID, t)
	if old == nil {
		return Result{Err: errf(ErrNotFound, "id %q", c.OldID)}
	}
	if c.IfVersion != 0 && c.IfVersion != old.Version {
		return Result{Err: errf(ErrConflict, "id %q is at version %d, not %d", c.OldID, old.Version, c.IfVersion)}
	}
	if live(st, c.NewID, t) != nil {
		return Result{Err: errf(ErrExists, "id %q", c.NewID)}
	}
	if st.tombs.live(c.NewID, t) {
		return Result{Err: errUsedBefore(c.NewID)}
	}
	r := *old
	r.setData(c.NewID, old.Subject(), old.payload())
	r.Version = index
	if size := r.Size(); size > f.limits.MaxRecordBytes {
		return Result{Err: errf(ErrTooLarge, "record size %d exceeds %d", size, f.limits.MaxRecordBytes)}
	}
	st.put(c.NewID, nil, &r)
	// The old id's tombstone lasts at least until the moved record's own
	// deadline, so whoever still holds the old id cannot get it back.
	st.bury(c.OldID, old, t)
	st.note(EventRenameFrom, c.OldID)
	st.note(EventRenameTo, c.NewID)
	return Result{Version: index, ID: c.NewID, Record: &r}
}
