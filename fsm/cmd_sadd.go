package fsm

import "slices"

// SAdd is Redis's SADD: Members are added to the set under Key, which is
// created (no deadline) if missing. Result.Count is the number of members
// that were not there. Errors: ErrWrongType; ErrTooLarge (a member beyond
// MaxValueBytes, the set beyond MaxRecordBytes). Event: "sadd", unless
// nothing was added.
//
// A set is stored as one sorted list (kind.go), so adding to it copies
// it: the cost of a command grows with the set, which MaxRecordBytes
// bounds. The sets session stores keep (Spring Session's indexes) are
// small.
type SAdd struct {
	Key     string
	Members []string // at least one
}

// saddCmd is CmdSAdd's entry in the command table (cmdtable.go).
//
// Body: string Key, strings Members.
var saddCmd = cmdSpec{
	name: "sadd",
	has:  func(c *Command) bool { return c.SAdd != nil },
	encode: func(dst []byte, c *Command) []byte {
		x := deref(c.SAdd)
		return appendStrings(appendString(dst, x.Key), x.Members)
	},
	size: func(c *Command) int {
		x := deref(c.SAdd)
		return sizeString(x.Key) + sizeStrings(x.Members)
	},
	decode: func(d *decoder, c *Command) { c.SAdd = &SAdd{Key: d.str(), Members: d.strs()} },
	check: func(l Limits, c *Command, _ []Field, _ int64) error {
		return l.checkMembers(c.SAdd.Key, c.SAdd.Members)
	},
	shards: func(_ *state, c *Command) uint64 { return shardBit(c.SAdd.Key) },
	apply: func(f *FSM, st *state, index uint64, t int64, c *Command, _ []Field) Result {
		return sadd(st, &f.limits, index, t, c.SAdd)
	},
}

func (l *Limits) checkMembers(key string, ms []string) error {
	if err := l.checkKey(key); err != nil {
		return err
	}
	if len(ms) == 0 {
		return errf(ErrInvalid, "no members")
	}
	for _, m := range ms {
		if err := l.checkValue("member", len(m)); err != nil {
			return err
		}
	}
	return nil
}

func sadd(st *state, l *Limits, index uint64, t int64, x *SAdd) Result {
	old := live(st, x.Key, t)
	if old != nil && old.Kind() != KindSet {
		return Result{Err: errWrongType(old.ID(), old.Kind())}
	}
	add := slices.Compact(slices.Sorted(slices.Values(x.Members)))
	var all []string
	added := 0
	it := iterMembers(old.memberListOrNil())
	m, more := it.next()
	for _, a := range add {
		for more && m < a {
			all = append(all, m)
			m, more = it.next()
		}
		if more && m == a {
			continue
		}
		all = append(all, a)
		added++
	}
	for more {
		all = append(all, m)
		m, more = it.next()
	}
	if added == 0 {
		return Result{}
	}
	size := 0
	for _, m := range all {
		size += len(m)
	}
	if old == nil {
		if err := l.checkSize(x.Key, "", size); err != nil {
			return Result{Err: err}
		}
		st.put(x.Key, nil, keyRecord(index, t, membersData(x.Key, "", all), 0))
	} else {
		if err := l.checkSize(old.ID(), old.Subject(), size); err != nil {
			return Result{Err: err}
		}
		st.put(old.ID(), old, changed(old, index, t, membersData(old.ID(), old.Subject(), all)))
	}
	st.note(EventSAdd, x.Key)
	return Result{Count: added, Version: index}
}

// memberListOrNil is memberList for a record that may be nil.
func (r *Record) memberListOrNil() []byte {
	if r == nil {
		return nil
	}
	return r.memberList()
}
