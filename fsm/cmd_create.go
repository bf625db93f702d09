package fsm

import "encoding/binary"

// Create makes a new record. ID is chosen by the proposing node (random,
// routed to this group) or by the client (stores that own their ids, such
// as scs). The record is a session (kind.go): a hash whose removal leaves
// a tombstone. Fails with ErrExists if the id is live (of any kind), or if
// it has a live
// tombstone: an id that was destroyed, revoked, rotated away or expired is
// never handed out again while its tombstone lasts (see tombstone.go). An
// expired record still stored under ID is removed, and so refused too.
type Create struct {
	ID          string
	Subject     string
	Fields      map[string][]byte
	IdleTimeout int64 // ns, 0 = none
	AbsTTL      int64 // ns from batch time, 0 = none
}

// createCmd is CmdCreate's entry in the command table (cmdtable.go).
//
// Body: string ID, string Subject, fields, varint IdleTimeout, varint
// AbsTTL.
var createCmd = cmdSpec{
	name: "create",
	has:  func(c *Command) bool { return c.Create != nil },
	encode: func(dst []byte, c *Command) []byte {
		x := deref(c.Create)
		dst = appendString(dst, x.ID)
		dst = appendString(dst, x.Subject)
		dst = appendFields(dst, x.Fields)
		dst = binary.AppendVarint(dst, x.IdleTimeout)
		return binary.AppendVarint(dst, x.AbsTTL)
	},
	size: func(c *Command) int {
		x := deref(c.Create)
		return sizeString(x.ID) + sizeString(x.Subject) + sizeFields(x.Fields) +
			sizeVarint(x.IdleTimeout) + sizeVarint(x.AbsTTL)
	},
	decode: func(d *decoder, c *Command) {
		c.Create = &Create{
			ID:          d.str(),
			Subject:     d.str(),
			Fields:      d.fields(),
			IdleTimeout: d.varint(),
			AbsTTL:      d.varint(),
		}
	},
	decodeView: func(b *entryBuf, d *decoder, c *Command) {
		x := b.creates.next()
		// The id is a view of the entry: create copies it into the
		// record's data (Record.setFields), so a copy here would
		// be garbage, and nothing else keeps it (errors format it).
		x.ID, x.Subject = d.view(), d.str()
		b.fields = d.fieldViews(b.fields)
		x.IdleTimeout, x.AbsTTL = d.varint(), d.varint()
		c.Create = x
	},
	fields: func(c *Command) map[string][]byte { return c.Create.Fields },
	check: func(l Limits, c *Command, fs []Field, t int64) error {
		if fs == nil {
			var small [8]Field // sessions have few fields: sort them on the stack
			fs = sortedFields(small[:0], c.Create.Fields)
		}
		return l.checkCreate(c.Create, fs, t)
	},
	shards: func(_ *state, c *Command) uint64 { return shardBit(c.Create.ID) },
	apply: func(f *FSM, st *state, index uint64, t int64, c *Command, fs []Field) Result {
		return f.create(st, index, t, c.Create, fs)
	},
}

// checkCreate validates c for a create at log time t. fs is c's fields,
// sorted by name: Fields when c was built by a caller, or the fields of
// the raft entry when ApplyBatch decoded c (entrybuf.go).
func (l *Limits) checkCreate(c *Create, fs []Field, t int64) error {
	if err := l.checkID("id", c.ID); err != nil {
		return err
	}
	if len(c.Subject) > l.MaxSubjectLen {
		return errf(ErrTooLarge, "subject length %d exceeds %d", len(c.Subject), l.MaxSubjectLen)
	}
	if c.IdleTimeout < 0 {
		return errf(ErrInvalid, "negative idle timeout %d", c.IdleTimeout)
	}
	if c.AbsTTL < 0 {
		return errf(ErrInvalid, "negative ttl %d", c.AbsTTL)
	}
	if overflows(t, c.IdleTimeout) || overflows(t, c.AbsTTL) {
		return errf(ErrInvalid, "timeout beyond the end of time")
	}
	if len(fs) > l.MaxFields {
		return errf(ErrTooLarge, "%d fields exceed %d", len(fs), l.MaxFields)
	}
	if err := l.checkFields(fs); err != nil {
		return err
	}
	if size := len(c.ID) + len(c.Subject) + listSize(fs); size > l.MaxRecordBytes {
		return errf(ErrTooLarge, "record size %d exceeds %d", size, l.MaxRecordBytes)
	}
	return nil
}

// create makes c's record; fs is its fields, sorted (see cmdSpec.check,
// which has passed).
func (f *FSM) create(st *state, index uint64, t int64, c *Create, fs []Field) Result {
	// An expired record is removed here like anywhere else, so its id is
	// then refused by its new tombstone: expiry ends a session for good.
	k := keyOf(c.ID)
	if liveKey(st, k, t) != nil {
		return Result{Err: errf(ErrExists, "id %q", c.ID)}
	}
	if st.tombs.live(c.ID, t) {
		return Result{Err: errUsedBefore(c.ID)}
	}
	r := &Record{
		Version:     index,
		Created:     t,
		LastAccess:  t,
		IdleTimeout: c.IdleTimeout,
	}
	r.setFields(c.ID, c.Subject, fs)
	id := r.ID()
	if c.AbsTTL > 0 {
		r.AbsDeadline = t + c.AbsTTL
	}
	// The record's id from here on, so the dedup entry and the indexes
	// share its copy and the command's can go. The id is absent: live
	// found no record, or removed the expired one.
	st.putNew(k, r, len(id)+int(r.subjectLen)+listSize(fs)) // r.Size(), as checkCreate counts it
	st.note(EventHSet, id)
	return Result{Version: index, ID: id, Record: r}
}
