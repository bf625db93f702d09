package fsm

// HSet is Redis's HSET and HMSET (and HSETNX, with NX): Fields are written
// into the hash under Key, which is created (a plain hash, no deadline) if
// missing. On a session it keeps the session's subject, idle timeout and
// deadline, and counts as an access. With NX only fields the hash lacks
// are written. Result.Count is the number of fields added (HSET's reply;
// HSETNX's 1 or 0). Errors: ErrWrongType; ErrTooLarge as for Set. Event:
// "hset", unless nothing was written.
type HSet struct {
	Key    string
	Fields map[string][]byte // at least one
	NX     bool
}

// hsetCmd is CmdHSet's entry in the command table (cmdtable.go).
//
// Body: string Key, fields, byte NX.
var hsetCmd = cmdSpec{
	name: "hset",
	has:  func(c *Command) bool { return c.HSet != nil },
	encode: func(dst []byte, c *Command) []byte {
		x := deref(c.HSet)
		dst = appendFields(appendString(dst, x.Key), x.Fields)
		return appendBool(dst, x.NX)
	},
	size: func(c *Command) int {
		x := deref(c.HSet)
		return sizeString(x.Key) + sizeFields(x.Fields) + 1
	},
	decode: func(d *decoder, c *Command) { c.HSet = &HSet{Key: d.str(), Fields: d.fields(), NX: d.bool()} },
	decodeView: func(b *entryBuf, d *decoder, c *Command) {
		x := &HSet{Key: d.str()}
		b.fields = d.fieldViews(b.fields)
		x.NX = d.bool()
		c.HSet = x
	},
	fields: func(c *Command) map[string][]byte { return c.HSet.Fields },
	check: func(l Limits, c *Command, fs []Field, _ int64) error {
		if fs == nil {
			fs = sortedFields(nil, c.HSet.Fields)
		}
		if err := l.checkKey(c.HSet.Key); err != nil {
			return err
		}
		if len(fs) == 0 {
			return errf(ErrInvalid, "hset without fields")
		}
		if len(fs) > l.MaxFields {
			return errf(ErrTooLarge, "%d fields exceed %d", len(fs), l.MaxFields)
		}
		return l.checkFields(fs)
	},
	shards: func(_ *state, c *Command) uint64 { return shardBit(c.HSet.Key) },
	apply: func(f *FSM, st *state, index uint64, t int64, c *Command, fs []Field) Result {
		return f.hset(st, index, t, c.HSet, fs)
	},
}

func (f *FSM) hset(st *state, index uint64, t int64, x *HSet, fs []Field) Result {
	old := live(st, x.Key, t)
	var list []byte
	if old != nil {
		if old.Kind() != KindHash {
			return Result{Err: errWrongType(old.ID(), old.Kind())}
		}
		list = old.hashList()
	}
	added := 0
	var fresh []Field // with NX, the fields the hash lacks
	for _, fl := range fs {
		if _, ok := lookupField(list, fl.Name); !ok {
			added++
			if x.NX {
				fresh = append(fresh, fl)
			}
		}
	}
	if x.NX {
		if len(fresh) == 0 {
			return Result{}
		}
		fs = fresh
	}
	if err := f.putHashFields(st, index, t, x.Key, old, list, fs); err != nil {
		return Result{Err: err}
	}
	st.note(EventHSet, x.Key)
	return Result{Count: added, Version: index}
}

// putHashFields writes fs into the hash key (old, whose field list is
// list; nil for a new plain hash), after checking the field count and
// record size limits: HSET's and HINCRBY's common last step. A session
// keeps its subject and stays a session.
func (f *FSM) putHashFields(st *state, index uint64, t int64, key string, old *Record, list []byte, fs []Field) error {
	merged := mergeFields(f.fieldScratch, list, fs, nil)
	defer f.releaseScratch(merged)
	if len(merged) > f.limits.MaxFields {
		return errf(ErrTooLarge, "%d fields exceed %d", len(merged), f.limits.MaxFields)
	}
	if old == nil {
		if err := f.limits.checkSize(key, "", listSize(merged)); err != nil {
			return err
		}
		st.put(key, nil, keyRecord(index, t, hashData(key, "", false, merged), 0))
		return nil
	}
	if err := f.limits.checkSize(old.ID(), old.Subject(), listSize(merged)); err != nil {
		return err
	}
	st.put(old.ID(), old, changed(old, index, t, hashData(old.ID(), old.Subject(), old.Session(), merged)))
	return nil
}
