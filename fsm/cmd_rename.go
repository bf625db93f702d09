package fsm

// Rename is Redis's RENAME (and RENAMENX, with NX): the record under Key
// moves to NewKey with everything it holds (kind, value, deadline, and a
// session's subject and idle timeout), replacing whatever NewKey held
// (overwritten, not removed: a session there leaves no tombstone).
// Unlike Rotate it ignores tombstones, as Redis keeps none. Key, if a
// session, leaves its tombstone as Rotate's old id does. The node refuses
// keys of different groups (CROSSSLOT); within a group any two keys work.
//
// Result: Count 1 if moved (RENAME's OK, RENAMENX's 1), 0 if NX found
// NewKey; RENAME of a key onto itself is 1 (0 with NX) and changes
// nothing. Error: ErrNotFound if Key does not exist ("no such key").
// Events: "rename_from" on Key, "rename_to" on NewKey.
type Rename struct {
	Key    string
	NewKey string
	NX     bool
}

// renameCmd is CmdRename's entry in the command table (cmdtable.go).
//
// Body: string Key, string NewKey, byte NX.
var renameCmd = cmdSpec{
	name: "rename",
	has:  func(c *Command) bool { return c.Rename != nil },
	encode: func(dst []byte, c *Command) []byte {
		x := deref(c.Rename)
		return appendBool(appendString(appendString(dst, x.Key), x.NewKey), x.NX)
	},
	size: func(c *Command) int {
		x := deref(c.Rename)
		return sizeString(x.Key) + sizeString(x.NewKey) + 1
	},
	decode: func(d *decoder, c *Command) { c.Rename = &Rename{Key: d.str(), NewKey: d.str(), NX: d.bool()} },
	check: func(l Limits, c *Command, _ []Field, _ int64) error {
		if err := l.checkKey(c.Rename.Key); err != nil {
			return err
		}
		return l.checkID("new key", c.Rename.NewKey)
	},
	shards: func(_ *state, c *Command) uint64 { return shardBit(c.Rename.Key) | shardBit(c.Rename.NewKey) },
	apply: func(f *FSM, st *state, index uint64, t int64, c *Command, _ []Field) Result {
		return rename(st, &f.limits, index, t, c.Rename)
	},
}

func rename(st *state, l *Limits, index uint64, t int64, x *Rename) Result {
	old := live(st, x.Key, t)
	if old == nil {
		return Result{Err: errf(ErrNotFound, "key %q", clip(x.Key))}
	}
	if x.Key == x.NewKey {
		if x.NX {
			return Result{}
		}
		return Result{Count: 1, Version: old.Version}
	}
	dst := live(st, x.NewKey, t)
	if x.NX && dst != nil {
		return Result{}
	}
	r := *old
	r.setData(x.NewKey, old.Subject(), old.payload())
	r.Version = index
	if size := r.Size(); size > l.MaxRecordBytes {
		return Result{Err: errf(ErrTooLarge, "record size %d exceeds %d", size, l.MaxRecordBytes)}
	}
	st.put(x.NewKey, dst, &r)
	st.bury(old.ID(), old, t)
	st.note(EventRenameFrom, x.Key)
	st.note(EventRenameTo, x.NewKey)
	return Result{Count: 1, Version: index}
}
