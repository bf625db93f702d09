package fsm

import "encoding/binary"

// Touch records accesses for idle expiry. It never revives an expired record
// and never moves LastAccess backwards or beyond the batch time.
type Touch struct {
	IDs   []string
	Times []int64 // access time per id (same length as IDs)
}

// touchCmd is CmdTouch's entry in the command table (cmdtable.go).
//
// Body: strings IDs, uvarint len(Times), varint each time. Times is its
// own list, so a length mismatch survives the trip and Apply can refuse
// it instead of guessing.
var touchCmd = cmdSpec{
	name: "touch",
	has:  func(c *Command) bool { return c.Touch != nil },
	encode: func(dst []byte, c *Command) []byte {
		x := deref(c.Touch)
		dst = appendStrings(dst, x.IDs)
		dst = binary.AppendUvarint(dst, uint64(len(x.Times)))
		for _, t := range x.Times {
			dst = binary.AppendVarint(dst, t)
		}
		return dst
	},
	size: func(c *Command) int {
		x := deref(c.Touch)
		n := sizeStrings(x.IDs) + sizeUvarint(uint64(len(x.Times)))
		for _, t := range x.Times {
			n += sizeVarint(t)
		}
		return n
	},
	decode: func(d *decoder, c *Command) {
		x := &Touch{IDs: d.strs()}
		if n := d.count(1); n > 0 {
			x.Times = make([]int64, n)
			for i := range x.Times {
				x.Times[i] = d.varint()
			}
		}
		c.Touch = x
	},
	check: func(_ Limits, c *Command, _ []Field, _ int64) error {
		if len(c.Touch.IDs) != len(c.Touch.Times) {
			return errf(ErrInvalid, "touch has %d ids but %d times", len(c.Touch.IDs), len(c.Touch.Times))
		}
		return nil
	},
	shards: func(_ *state, c *Command) uint64 { return idsMask(c.Touch.IDs) },
	apply: func(_ *FSM, st *state, _ uint64, t int64, c *Command, _ []Field) Result {
		return touch(st, t, c.Touch)
	},
}

// touch moves LastAccess forward to each access time, clamped to t. It
// does not change Version: an access is metadata, not data, and bumping the
// version would make every read-after-touch look like a conflicting write
// to a client using IfVersion. Count is the number of ids (with
// repetitions) that were live.
func touch(st *state, t int64, c *Touch) Result {
	n := 0
	for i, id := range c.IDs {
		old := live(st, id, t)
		if old == nil {
			continue
		}
		n++
		if at := min(c.Times[i], t); at > old.LastAccess {
			r := *old
			r.LastAccess = at
			st.put(id, old, &r)
		}
	}
	return Result{Count: n}
}
