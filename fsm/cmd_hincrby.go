package fsm

import (
	"encoding/binary"
	"strconv"
)

// HIncrBy is Redis's HINCRBY: the hash field Field under Key, read as a
// 64-bit decimal integer (missing as 0), plus By. A missing key is created
// as a plain hash; a session keeps what HSet keeps. Result.Count is the new
// value. Errors: ErrWrongType, ErrNotInteger (Redis: "hash value is not an
// integer"), ErrOverflow, ErrTooLarge. Event: "hincrby".
type HIncrBy struct {
	Key   string
	Field string
	By    int64
}

// hincrByCmd is CmdHIncrBy's entry in the command table (cmdtable.go).
//
// Body: string Key, string Field, varint By.
var hincrByCmd = cmdSpec{
	name: "hincrby",
	has:  func(c *Command) bool { return c.HIncrBy != nil },
	encode: func(dst []byte, c *Command) []byte {
		x := deref(c.HIncrBy)
		return binary.AppendVarint(appendString(appendString(dst, x.Key), x.Field), x.By)
	},
	size: func(c *Command) int {
		x := deref(c.HIncrBy)
		return sizeString(x.Key) + sizeString(x.Field) + sizeVarint(x.By)
	},
	decode: func(d *decoder, c *Command) {
		c.HIncrBy = &HIncrBy{Key: d.str(), Field: d.str(), By: d.varint()}
	},
	check: func(l Limits, c *Command, _ []Field, _ int64) error {
		if err := l.checkKey(c.HIncrBy.Key); err != nil {
			return err
		}
		return l.checkFields([]Field{{Name: c.HIncrBy.Field}})
	},
	shards: func(_ *state, c *Command) uint64 { return shardBit(c.HIncrBy.Key) },
	apply: func(f *FSM, st *state, index uint64, t int64, c *Command, _ []Field) Result {
		return f.hincrBy(st, index, t, c.HIncrBy)
	},
}

func (f *FSM) hincrBy(st *state, index uint64, t int64, x *HIncrBy) Result {
	old := live(st, x.Key, t)
	var list []byte
	if old != nil {
		if old.Kind() != KindHash {
			return Result{Err: errWrongType(old.ID(), old.Kind())}
		}
		list = old.hashList()
	}
	var v int64
	if b, ok := lookupField(list, x.Field); ok {
		if v, ok = parseInt(b); !ok {
			return Result{Err: errf(ErrNotInteger, "hash value of %q", clip(x.Field))}
		}
	}
	n, err := addInt(v, x.By)
	if err != nil {
		return Result{Err: err}
	}
	var digits [20]byte
	fs := [1]Field{{Name: x.Field, Value: strconv.AppendInt(digits[:0], n, 10)}}
	if err := f.putHashFields(st, index, t, x.Key, old, list, fs[:]); err != nil {
		return Result{Err: err}
	}
	st.note(EventHIncrBy, x.Key)
	return Result{Count: int(n), Version: index}
}
