package fsm

// GetDel is Redis's GETDEL: Result.Record is the string record Key held
// (nil if none), whose Value is the reply, and the key is removed. A key of another kind fails with
// ErrWrongType and stays. Count is 1 if a key was removed. Event: "del".
type GetDel struct {
	Key string
}

// getDelCmd is CmdGetDel's entry in the command table (cmdtable.go).
//
// Body: string Key.
var getDelCmd = cmdSpec{
	name:   "getdel",
	has:    func(c *Command) bool { return c.GetDel != nil },
	encode: func(dst []byte, c *Command) []byte { return appendString(dst, deref(c.GetDel).Key) },
	size:   func(c *Command) int { return sizeString(deref(c.GetDel).Key) },
	decode: func(d *decoder, c *Command) { c.GetDel = &GetDel{Key: d.str()} },
	check:  func(l Limits, c *Command, _ []Field, _ int64) error { return l.checkKey(c.GetDel.Key) },
	shards: func(_ *state, c *Command) uint64 { return shardBit(c.GetDel.Key) },
	apply: func(_ *FSM, st *state, _ uint64, t int64, c *Command, _ []Field) Result {
		old := live(st, c.GetDel.Key, t)
		if old == nil {
			return Result{}
		}
		if old.Kind() != KindString {
			return Result{Err: errWrongType(old.ID(), old.Kind())}
		}
		st.del(old, t)
		return Result{Count: 1, Record: old}
	},
}
