package fsm

import "slices"

// SRem is Redis's SREM: Members are removed from the set under Key, and
// when its last member goes so does the key. Result.Count is the number
// of members removed. Error: ErrWrongType. Events: "srem", then "del" if
// the key went.
type SRem struct {
	Key     string
	Members []string // at least one
}

// sremCmd is CmdSRem's entry in the command table (cmdtable.go).
//
// Body: string Key, strings Members.
var sremCmd = cmdSpec{
	name: "srem",
	has:  func(c *Command) bool { return c.SRem != nil },
	encode: func(dst []byte, c *Command) []byte {
		x := deref(c.SRem)
		return appendStrings(appendString(dst, x.Key), x.Members)
	},
	size: func(c *Command) int {
		x := deref(c.SRem)
		return sizeString(x.Key) + sizeStrings(x.Members)
	},
	decode: func(d *decoder, c *Command) { c.SRem = &SRem{Key: d.str(), Members: d.strs()} },
	check: func(l Limits, c *Command, _ []Field, _ int64) error {
		return l.checkMembers(c.SRem.Key, c.SRem.Members)
	},
	shards: func(_ *state, c *Command) uint64 { return shardBit(c.SRem.Key) },
	apply: func(_ *FSM, st *state, index uint64, t int64, c *Command, _ []Field) Result {
		return srem(st, index, t, c.SRem)
	},
}

func srem(st *state, index uint64, t int64, x *SRem) Result {
	old := live(st, x.Key, t)
	if old == nil {
		return Result{}
	}
	if old.Kind() != KindSet {
		return Result{Err: errWrongType(old.ID(), old.Kind())}
	}
	drop := slices.Compact(slices.Sorted(slices.Values(x.Members)))
	var keep []string
	removed := 0
	it := iterMembers(old.memberList())
	for m, ok := it.next(); ok; m, ok = it.next() {
		if _, found := slices.BinarySearch(drop, m); found {
			removed++
			continue
		}
		keep = append(keep, m)
	}
	if removed == 0 {
		return Result{}
	}
	st.note(EventSRem, old.ID())
	if len(keep) == 0 {
		st.del(old, t)
		return Result{Count: removed}
	}
	st.put(old.ID(), old, changed(old, index, t, membersData(old.ID(), old.Subject(), keep)))
	return Result{Count: removed, Version: index}
}
