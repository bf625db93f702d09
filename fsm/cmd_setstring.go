package fsm

// SetString is Redis's SET: Key holds Value afterwards, whatever it held
// before (any kind; a session it replaces leaves no tombstone, as it was
// overwritten, not removed). It also serves SETNX (Cond CondNX; Count is
// the reply), SETEX and PSETEX (ExpiryIn), GETSET (Get) and each pair of
// MSET (see MSet).
//
// Result: Count 1 if the value was written, 0 if Cond was not met (SET's
// nil reply); with Get, Record is the old record, whose Value is the
// reply (nil: there was none), and a key of another kind fails with
// ErrWrongType, writing nothing.
// Events: "set", then "expire" with EX/PX/EXAT/PXAT; a deadline already
// passed removes the key as it is written, "expired" (Redis stores it and
// expires it at once, with the same three events; GETEX and EXPIRE with
// a past time report "del", as Redis's do).
type SetString struct {
	Key    string
	Value  []byte
	Cond   Cond   // 0, CondNX or CondXX
	Get    bool   // return the old value
	Expiry Expiry // ExpiryNone: no deadline (plain SET); ExpiryKeep: KEEPTTL
}

// setStringCmd is CmdSetString's entry in the command table (cmdtable.go).
//
// Body: string Key, bytes Value, byte Cond, byte Get, byte expiry mode,
// varint expiry value.
var setStringCmd = cmdSpec{
	name: "setstring",
	has:  func(c *Command) bool { return c.SetString != nil },
	encode: func(dst []byte, c *Command) []byte {
		x := deref(c.SetString)
		dst = appendString(dst, x.Key)
		dst = appendBytes(dst, x.Value)
		dst = append(dst, byte(x.Cond))
		dst = appendBool(dst, x.Get)
		return appendExpiry(dst, x.Expiry)
	},
	size: func(c *Command) int {
		x := deref(c.SetString)
		return sizeString(x.Key) + sizeUvarint(uint64(len(x.Value))) + len(x.Value) + 2 + sizeExpiry(x.Expiry)
	},
	decode: func(d *decoder, c *Command) {
		c.SetString = &SetString{Key: d.str(), Value: d.bytes(), Cond: Cond(d.u8()), Get: d.bool(), Expiry: decodeExpiry(d)}
	},
	check: func(l Limits, c *Command, _ []Field, t int64) error {
		x := c.SetString
		if err := l.checkKey(x.Key); err != nil {
			return err
		}
		if err := l.checkValue("value", len(x.Value)); err != nil {
			return err
		}
		if err := l.checkSize(x.Key, "", len(x.Value)); err != nil {
			return err
		}
		if err := x.Cond.check(CondNX | CondXX); err != nil {
			return err
		}
		return x.Expiry.check(t)
	},
	shards: func(_ *state, c *Command) uint64 { return shardBit(c.SetString.Key) },
	apply: func(_ *FSM, st *state, index uint64, t int64, c *Command, _ []Field) Result {
		return setString(st, index, t, c.SetString)
	},
}

func setString(st *state, index uint64, t int64, x *SetString) Result {
	old := live(st, x.Key, t)
	var res Result
	if x.Get && old != nil {
		if old.Kind() != KindString {
			return Result{Err: errWrongType(x.Key, old.Kind())}
		}
		res.Record = old
	}
	if x.Cond&CondNX != 0 && old != nil || x.Cond&CondXX != 0 && old == nil {
		return res
	}
	var cur int64
	if old != nil {
		cur = old.Deadline()
	}
	d, past := x.Expiry.deadline(t, cur)
	res.Count = 1
	putString(st, old, keyRecord(index, t, stringData(x.Key, "", x.Value), d), past)
	st.note(EventSet, x.Key)
	if x.Expiry.Mode == ExpiryIn || x.Expiry.Mode == ExpiryAt {
		st.note(EventExpire, x.Key)
	}
	if past {
		st.note(EventExpired, x.Key)
		return res
	}
	res.Version = index
	return res
}

// putString stores r over old (nil if absent), or, if its deadline has
// passed, leaves the key absent: the new value is written and removed at
// once, and as it was not a session it leaves no tombstone.
func putString(st *state, old, r *Record, past bool) {
	switch {
	case !past:
		st.put(r.ID(), old, r)
	case old != nil:
		st.remove(r.ID(), old)
	}
}
