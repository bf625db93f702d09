package fsm

import (
	"encoding/binary"
	"strconv"
)

// IncrBy is Redis's INCRBY (and INCR, DECR, DECRBY, with By negated by the
// node, which refuses DECRBY of the smallest int64 as Redis does): the
// string under Key, read as a 64-bit decimal integer (a missing key as
// 0), plus By. The key keeps its deadline. Result.Count is the new value.
// Errors: ErrWrongType, ErrNotInteger, ErrOverflow (nothing written).
// Event: "incrby".
type IncrBy struct {
	Key string
	By  int64
}

// incrByCmd is CmdIncrBy's entry in the command table (cmdtable.go).
//
// Body: string Key, varint By.
var incrByCmd = cmdSpec{
	name: "incrby",
	has:  func(c *Command) bool { return c.IncrBy != nil },
	encode: func(dst []byte, c *Command) []byte {
		x := deref(c.IncrBy)
		return binary.AppendVarint(appendString(dst, x.Key), x.By)
	},
	size: func(c *Command) int {
		x := deref(c.IncrBy)
		return sizeString(x.Key) + sizeVarint(x.By)
	},
	decode: func(d *decoder, c *Command) { c.IncrBy = &IncrBy{Key: d.str(), By: d.varint()} },
	check:  func(l Limits, c *Command, _ []Field, _ int64) error { return l.checkKey(c.IncrBy.Key) },
	shards: func(_ *state, c *Command) uint64 { return shardBit(c.IncrBy.Key) },
	apply: func(f *FSM, st *state, index uint64, t int64, c *Command, _ []Field) Result {
		return incrBy(st, &f.limits, index, t, c.IncrBy)
	},
}

func incrBy(st *state, l *Limits, index uint64, t int64, x *IncrBy) Result {
	old := live(st, x.Key, t)
	var v int64
	if old != nil {
		b, ok := old.Value()
		if !ok {
			return Result{Err: errWrongType(old.ID(), old.Kind())}
		}
		if v, ok = parseInt(b); !ok {
			return Result{Err: errf(ErrNotInteger, "value of %q", clip(x.Key))}
		}
	}
	n, err := addInt(v, x.By)
	if err != nil {
		return Result{Err: err}
	}
	var digits [20]byte
	text := strconv.AppendInt(digits[:0], n, 10)
	if err := l.checkSize(x.Key, "", len(text)); err != nil {
		return Result{Err: err}
	}
	data := keyData(x.Key, old, 2+len(text))
	data.buf = append(append(data.buf, kindTag, byte(KindString)), text...)
	if old == nil {
		st.put(x.Key, nil, keyRecord(index, t, data, 0))
	} else {
		st.put(old.ID(), old, changed(old, index, t, data))
	}
	st.note(EventIncrBy, x.Key)
	return Result{Count: int(n), Version: index}
}
