package fsm

// MSet is Redis's MSET: each Keys[i] holds Values[i] with no deadline, in
// order (a key named twice ends with its last value). With NX it is
// MSETNX: nothing is written if any key exists. Result: Count 1 if the
// values were written, 0 if NX found a key. Events: "set" per key.
type MSet struct {
	Keys   []string
	Values [][]byte // same length as Keys
	NX     bool
}

// msetCmd is CmdMSet's entry in the command table (cmdtable.go).
//
// Body: strings Keys, uvarint len(Values), bytes each, byte NX.
var msetCmd = cmdSpec{
	name: "mset",
	has:  func(c *Command) bool { return c.MSet != nil },
	encode: func(dst []byte, c *Command) []byte {
		x := deref(c.MSet)
		dst = appendStrings(dst, x.Keys)
		dst = appendByteSlices(dst, x.Values)
		return appendBool(dst, x.NX)
	},
	size: func(c *Command) int {
		x := deref(c.MSet)
		return sizeStrings(x.Keys) + sizeByteSlices(x.Values) + 1
	},
	decode: func(d *decoder, c *Command) {
		c.MSet = &MSet{Keys: d.strs(), Values: d.byteSlices(), NX: d.bool()}
	},
	check: func(l Limits, c *Command, _ []Field, _ int64) error {
		x := c.MSet
		if len(x.Keys) == 0 || len(x.Keys) != len(x.Values) {
			return errf(ErrInvalid, "mset has %d keys and %d values", len(x.Keys), len(x.Values))
		}
		for i, k := range x.Keys {
			if err := l.checkKey(k); err != nil {
				return err
			}
			if err := l.checkValue("value", len(x.Values[i])); err != nil {
				return err
			}
			if err := l.checkSize(k, "", len(x.Values[i])); err != nil {
				return err
			}
		}
		return nil
	},
	shards: func(_ *state, c *Command) uint64 { return idsMask(c.MSet.Keys) },
	apply: func(_ *FSM, st *state, index uint64, t int64, c *Command, _ []Field) Result {
		return mset(st, index, t, c.MSet)
	},
}

func mset(st *state, index uint64, t int64, x *MSet) Result {
	if x.NX {
		for _, k := range x.Keys {
			if live(st, k, t) != nil {
				return Result{}
			}
		}
	}
	for i, k := range x.Keys {
		old := live(st, k, t)
		st.put(k, old, keyRecord(index, t, stringData(k, "", x.Values[i]), 0))
		st.note(EventSet, k)
	}
	return Result{Count: 1, Version: index}
}
