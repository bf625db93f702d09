package fsm

// SetExpiry is Redis's EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT (Expiry
// ExpiryIn or ExpiryAt, with Cond: NX, XX, GT, LT, XX with GT or LT) and
// PERSIST (ExpiryNone, no Cond).
//
// Result: Count 1 if the deadline was set (or, for PERSIST, removed), 0
// if the key does not exist, Cond was not met, or PERSIST found no
// deadline. GT and LT count a key without a deadline as expiring never:
// GT never applies to it, LT always does. A deadline at or before the log
// time removes the key (Count 1, event "del"; a session leaves its
// tombstone). Events: "expire", "persist".
//
// On a session with an idle timeout, the deadline compared (NX, XX, GT,
// LT) is the one the session expires at, the earlier of its idle and
// absolute deadlines (what TTL reports); the command sets or removes the
// absolute deadline only, and the idle timeout, the session's own policy,
// stays.
type SetExpiry struct {
	Key    string
	Expiry Expiry // ExpiryIn, ExpiryAt, or ExpiryNone for PERSIST
	Cond   Cond
}

// setExpiryCmd is CmdSetExpiry's entry in the command table (cmdtable.go).
//
// Body: string Key, byte expiry mode, varint expiry value, byte Cond.
var setExpiryCmd = cmdSpec{
	name: "setexpiry",
	has:  func(c *Command) bool { return c.SetExpiry != nil },
	encode: func(dst []byte, c *Command) []byte {
		x := deref(c.SetExpiry)
		dst = appendExpiry(appendString(dst, x.Key), x.Expiry)
		return append(dst, byte(x.Cond))
	},
	size: func(c *Command) int {
		x := deref(c.SetExpiry)
		return sizeString(x.Key) + sizeExpiry(x.Expiry) + 1
	},
	decode: func(d *decoder, c *Command) {
		c.SetExpiry = &SetExpiry{Key: d.str(), Expiry: decodeExpiry(d), Cond: Cond(d.u8())}
	},
	check: func(l Limits, c *Command, _ []Field, t int64) error {
		x := c.SetExpiry
		if err := l.checkKey(x.Key); err != nil {
			return err
		}
		if err := x.Expiry.check(t); err != nil {
			return err
		}
		switch x.Expiry.Mode {
		case ExpiryKeep:
			return errf(ErrInvalid, "expire that keeps the deadline")
		case ExpiryNone:
			if x.Cond != 0 {
				return errf(ErrInvalid, "persist with a condition")
			}
		}
		return x.Cond.check(CondNX | CondXX | CondGT | CondLT)
	},
	shards: func(_ *state, c *Command) uint64 { return shardBit(c.SetExpiry.Key) },
	apply: func(_ *FSM, st *state, index uint64, t int64, c *Command, _ []Field) Result {
		return setExpiry(st, index, t, c.SetExpiry)
	},
}

func setExpiry(st *state, index uint64, t int64, x *SetExpiry) Result {
	old := live(st, x.Key, t)
	if old == nil {
		return Result{}
	}
	if x.Expiry.Mode == ExpiryNone {
		if old.AbsDeadline == 0 {
			return Result{}
		}
		st.put(old.ID(), old, withDeadline(old, index, t, 0))
		st.note(EventPersist, old.ID())
		return Result{Count: 1, Version: index}
	}
	d, past := x.Expiry.deadline(t, 0)
	if !x.Cond.expireAllowed(old.Deadline(), d) {
		return Result{}
	}
	if past {
		st.del(old, t)
		return Result{Count: 1}
	}
	st.put(old.ID(), old, withDeadline(old, index, t, d))
	st.note(EventExpire, old.ID())
	return Result{Count: 1, Version: index}
}
