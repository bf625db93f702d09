package fsm

// HDel is Redis's HDEL: the named fields are removed from the hash under
// Key, and when its last field goes so does the key, as in Redis, a
// session included (which then leaves its tombstone). A session that
// keeps fields keeps its subject, idle timeout and deadline. Result.Count
// is the number of fields removed. Error: ErrWrongType. Events: "hdel",
// then "del" if the key went.
type HDel struct {
	Key    string
	Fields []string
}

// hdelCmd is CmdHDel's entry in the command table (cmdtable.go).
//
// Body: string Key, strings Fields.
var hdelCmd = cmdSpec{
	name: "hdel",
	has:  func(c *Command) bool { return c.HDel != nil },
	encode: func(dst []byte, c *Command) []byte {
		x := deref(c.HDel)
		return appendStrings(appendString(dst, x.Key), x.Fields)
	},
	size: func(c *Command) int {
		x := deref(c.HDel)
		return sizeString(x.Key) + sizeStrings(x.Fields)
	},
	decode: func(d *decoder, c *Command) { c.HDel = &HDel{Key: d.str(), Fields: d.strs()} },
	check:  func(l Limits, c *Command, _ []Field, _ int64) error { return l.checkKey(c.HDel.Key) },
	shards: func(_ *state, c *Command) uint64 { return shardBit(c.HDel.Key) },
	apply: func(f *FSM, st *state, index uint64, t int64, c *Command, _ []Field) Result {
		return f.hdel(st, index, t, c.HDel)
	},
}

func (f *FSM) hdel(st *state, index uint64, t int64, x *HDel) Result {
	old := live(st, x.Key, t)
	if old == nil {
		return Result{}
	}
	if old.Kind() != KindHash {
		return Result{Err: errWrongType(old.ID(), old.Kind())}
	}
	list := old.hashList()
	merged := mergeFields(f.fieldScratch, list, nil, x.Fields)
	defer f.releaseScratch(merged)
	removed := fieldCount(list) - len(merged)
	if removed == 0 {
		return Result{}
	}
	st.note(EventHDel, old.ID())
	if len(merged) == 0 {
		st.del(old, t)
		return Result{Count: removed}
	}
	st.put(old.ID(), old, changed(old, index, t, hashData(old.ID(), old.Subject(), old.Session(), merged)))
	return Result{Count: removed, Version: index}
}
