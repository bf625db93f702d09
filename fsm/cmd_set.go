package fsm

import "encoding/binary"

// Set writes and removes fields of a hash (ErrWrongType for other kinds).
// If IfVersion != 0 it applies only when the record's Version equals it
// (else ErrConflict). A write counts as an access. A session keeps its
// record when its last field goes; a plain hash (made by HSET) is removed,
// as in Redis.
// AbsTTL > 0 also moves the absolute deadline to batch time + AbsTTL (the
// Redis EXPIRE of the key/value model, and how stores that own their expiry,
// such as scs, extend a session); 0 leaves it unchanged.
type Set struct {
	ID        string
	IfVersion uint64
	Fields    map[string][]byte // set
	Unset     []string          // then removed
	AbsTTL    int64             // ns from batch time; 0 = keep the deadline
}

// setCmd is CmdSet's entry in the command table (cmdtable.go).
//
// Body: string ID, uvarint IfVersion, fields, strings Unset, varint
// AbsTTL.
var setCmd = cmdSpec{
	name: "set",
	has:  func(c *Command) bool { return c.Set != nil },
	encode: func(dst []byte, c *Command) []byte {
		x := deref(c.Set)
		dst = appendString(dst, x.ID)
		dst = binary.AppendUvarint(dst, x.IfVersion)
		dst = appendFields(dst, x.Fields)
		dst = appendStrings(dst, x.Unset)
		return binary.AppendVarint(dst, x.AbsTTL)
	},
	size: func(c *Command) int {
		x := deref(c.Set)
		return sizeString(x.ID) + sizeUvarint(x.IfVersion) + sizeFields(x.Fields) +
			sizeStrings(x.Unset) + sizeVarint(x.AbsTTL)
	},
	decode: func(d *decoder, c *Command) {
		c.Set = &Set{
			ID:        d.str(),
			IfVersion: d.uvarint(),
			Fields:    d.fields(),
			Unset:     d.strs(),
			AbsTTL:    d.varint(),
		}
	},
	decodeView: func(b *entryBuf, d *decoder, c *Command) {
		x := b.sets.next()
		x.ID, x.IfVersion = d.str(), d.uvarint()
		b.fields = d.fieldViews(b.fields)
		x.Unset, x.AbsTTL = d.strs(), d.varint()
		c.Set = x
	},
	fields: func(c *Command) map[string][]byte { return c.Set.Fields },
	check: func(l Limits, c *Command, fs []Field, t int64) error {
		if fs == nil {
			var small [8]Field // sessions have few fields: sort them on the stack
			fs = sortedFields(small[:0], c.Set.Fields)
		}
		return l.checkSet(c.Set, fs, t)
	},
	shards: func(_ *state, c *Command) uint64 { return shardBit(c.Set.ID) },
	apply: func(f *FSM, st *state, index uint64, t int64, c *Command, fs []Field) Result {
		return f.set(st, index, t, c.Set, fs)
	},
}

// checkSet validates s at log time t; fs is its fields as for checkCreate.
func (l *Limits) checkSet(s *Set, fs []Field, t int64) error {
	if err := l.checkID("id", s.ID); err != nil {
		return err
	}
	if s.AbsTTL < 0 {
		return errf(ErrInvalid, "negative ttl %d", s.AbsTTL)
	}
	if overflows(t, s.AbsTTL) {
		return errf(ErrInvalid, "timeout beyond the end of time")
	}
	return l.checkFields(fs)
}

// set applies s; fs is its fields, sorted (see cmdSpec.check, which has
// passed).
func (f *FSM) set(st *state, index uint64, t int64, s *Set, fs []Field) Result {
	old := live(st, s.ID, t)
	if old == nil {
		return Result{Err: errf(ErrNotFound, "id %q", s.ID)}
	}
	if s.IfVersion != 0 && s.IfVersion != old.Version {
		return Result{Err: errf(ErrConflict, "id %q is at version %d, not %d", s.ID, old.Version, s.IfVersion)}
	}
	if old.Kind() != KindHash {
		return Result{Err: errWrongType(s.ID, old.Kind())}
	}
	fields := mergeFields(f.fieldScratch, old.hashList(), fs, s.Unset)
	defer f.releaseScratch(fields)
	if len(fields) > f.limits.MaxFields {
		return Result{Err: errf(ErrTooLarge, "%d fields exceed %d", len(fields), f.limits.MaxFields)}
	}
	if size := len(old.ID()) + len(old.Subject()) + listSize(fields); size > f.limits.MaxRecordBytes {
		return Result{Err: errf(ErrTooLarge, "record size %d exceeds %d", size, f.limits.MaxRecordBytes)}
	}
	if st.ev != nil {
		if len(fs) > 0 {
			st.note(EventHSet, old.ID())
		}
		if len(s.Unset) > 0 {
			st.note(EventHDel, old.ID())
		}
	}
	if !old.Session() && len(fields) == 0 {
		// A plain hash without fields does not exist (Redis).
		st.del(old, t)
		return Result{Version: index}
	}
	r := *old
	if old.Session() {
		r.setFields(old.ID(), old.Subject(), fields)
	} else {
		r.setRecordData(hashData(old.ID(), old.Subject(), false, fields))
	}
	r.LastAccess = max(r.LastAccess, t)
	if s.AbsTTL > 0 {
		r.AbsDeadline = t + s.AbsTTL
		st.note(EventExpire, old.ID())
	}
	r.Version = index
	st.put(s.ID, old, &r)
	return Result{Version: index, Record: &r}
}
