package fsm

// GetEx is Redis's GETEX: Result.Record is the string record Key holds
// (nil if none; the record before the change if the key went), whose
// Value is the reply, and Expiry changes its deadline: ExpiryKeep (no option) leaves it,
// ExpiryNone (PERSIST) removes it, ExpiryIn and ExpiryAt set it, and a
// deadline already passed removes the key. A key of another kind fails
// with ErrWrongType. Events: "expire", "persist" (if it had a deadline)
// or "del"; none for ExpiryKeep, which writes nothing.
type GetEx struct {
	Key    string
	Expiry Expiry
}

// getExCmd is CmdGetEx's entry in the command table (cmdtable.go).
//
// Body: string Key, byte expiry mode, varint expiry value.
var getExCmd = cmdSpec{
	name: "getex",
	has:  func(c *Command) bool { return c.GetEx != nil },
	encode: func(dst []byte, c *Command) []byte {
		x := deref(c.GetEx)
		return appendExpiry(appendString(dst, x.Key), x.Expiry)
	},
	size: func(c *Command) int {
		x := deref(c.GetEx)
		return sizeString(x.Key) + sizeExpiry(x.Expiry)
	},
	decode: func(d *decoder, c *Command) { c.GetEx = &GetEx{Key: d.str(), Expiry: decodeExpiry(d)} },
	check: func(l Limits, c *Command, _ []Field, t int64) error {
		if err := l.checkKey(c.GetEx.Key); err != nil {
			return err
		}
		return c.GetEx.Expiry.check(t)
	},
	shards: func(_ *state, c *Command) uint64 { return shardBit(c.GetEx.Key) },
	apply: func(_ *FSM, st *state, index uint64, t int64, c *Command, _ []Field) Result {
		return getEx(st, index, t, c.GetEx)
	},
}

func getEx(st *state, index uint64, t int64, x *GetEx) Result {
	old := live(st, x.Key, t)
	if old == nil {
		return Result{}
	}
	if old.Kind() != KindString {
		return Result{Err: errWrongType(old.ID(), old.Kind())}
	}
	switch x.Expiry.Mode {
	case ExpiryKeep:
	case ExpiryNone:
		if old.AbsDeadline != 0 {
			r := withDeadline(old, index, t, 0)
			st.put(old.ID(), old, r)
			st.note(EventPersist, old.ID())
			return Result{Version: index, Record: r}
		}
	default:
		d, past := x.Expiry.deadline(t, 0)
		if past {
			st.del(old, t)
			return Result{Record: old}
		}
		r := withDeadline(old, index, t, d)
		st.put(old.ID(), old, r)
		st.note(EventExpire, old.ID())
		return Result{Version: index, Record: r}
	}
	return Result{Version: old.Version, Record: old}
}
