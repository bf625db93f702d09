package fsm

// Append is Redis's APPEND: Value is added to the end of the string under
// Key (a missing key is created holding Value, with no deadline; an
// existing one keeps its deadline). Result.Count is the new length.
// Errors: ErrWrongType; ErrTooLarge beyond MaxValueBytes or
// MaxRecordBytes. Event: "append".
type Append struct {
	Key   string
	Value []byte
}

// appendCmd is CmdAppend's entry in the command table (cmdtable.go).
//
// Body: string Key, bytes Value.
var appendCmd = cmdSpec{
	name: "append",
	has:  func(c *Command) bool { return c.Append != nil },
	encode: func(dst []byte, c *Command) []byte {
		x := deref(c.Append)
		return appendBytes(appendString(dst, x.Key), x.Value)
	},
	size: func(c *Command) int {
		x := deref(c.Append)
		return sizeString(x.Key) + sizeUvarint(uint64(len(x.Value))) + len(x.Value)
	},
	decode: func(d *decoder, c *Command) { c.Append = &Append{Key: d.str(), Value: d.bytes()} },
	check: func(l Limits, c *Command, _ []Field, _ int64) error {
		if err := l.checkKey(c.Append.Key); err != nil {
			return err
		}
		return l.checkValue("value", len(c.Append.Value))
	},
	shards: func(_ *state, c *Command) uint64 { return shardBit(c.Append.Key) },
	apply: func(f *FSM, st *state, index uint64, t int64, c *Command, _ []Field) Result {
		return appendValue(st, &f.limits, index, t, c.Append)
	},
}

func appendValue(st *state, l *Limits, index uint64, t int64, x *Append) Result {
	old := live(st, x.Key, t)
	var prev []byte
	if old != nil {
		v, ok := old.Value()
		if !ok {
			return Result{Err: errWrongType(old.ID(), old.Kind())}
		}
		prev = v
	}
	n := len(prev) + len(x.Value)
	if err := l.checkValue("value", n); err != nil {
		return Result{Err: err}
	}
	if err := l.checkSize(x.Key, "", n); err != nil {
		return Result{Err: err}
	}
	data := keyData(x.Key, old, 2+n)
	data.buf = append(append(append(data.buf, kindTag, byte(KindString)), prev...), x.Value...)
	if old == nil {
		st.put(x.Key, nil, keyRecord(index, t, data, 0))
	} else {
		st.put(old.ID(), old, changed(old, index, t, data))
	}
	st.note(EventAppend, x.Key)
	return Result{Count: n, Version: index}
}
