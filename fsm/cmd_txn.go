package fsm

import "encoding/binary"

// Txn is a Redis transaction (MULTI ... EXEC) whose keys all live in this
// group: its commands apply in order, atomically (one raft entry, every
// shard they touch held throughout, so no reader sees part of it).
//
// Watch holds the WATCH conditions, checked first: if any key's version
// differs from the one the client saw (0: it did not exist), nothing
// applies and Result.Txn.Aborted is set (EXEC's nil reply). Every write to a
// record gives it the entry's raft index as its version, so any change
// after WATCH read the version is seen, removal and expiry included (a
// key that expired counts as changed, as in Redis). A key created and
// removed again between WATCH and EXEC is not seen; Redis would abort.
//
// Otherwise Result.Txn.Results holds one result per command, each with its
// own error: as in Redis, a command that fails does not undo the others.
// Cmds may be any commands but transactions, and carry no ReqID (the
// transaction's own ReqID, if any, covers it). Reads queued in the
// transaction are Read commands among the writes (cmd_read.go): they see
// exactly the state the commands before them left, at the entry's log
// time, and their records count against Limits.TxnReadBytes.
type Txn struct {
	Watch []Watch
	Cmds  []Command
}

// Watch is one WATCHed key and the version it had when watched.
type Watch struct {
	Key     string
	Version uint64 // 0: the key did not exist
}

// txnCmd is CmdTxn's entry in the command table (cmdtable.go).
//
// Body: uvarint len(Watch), per watch string Key and uvarint Version;
// uvarint len(Cmds), each command as AppendCommand writes it.
var txnCmd = cmdSpec{
	name: "txn",
	has:  func(c *Command) bool { return c.Txn != nil },
	encode: func(dst []byte, c *Command) []byte {
		x := deref(c.Txn)
		dst = binary.AppendUvarint(dst, uint64(len(x.Watch)))
		for _, w := range x.Watch {
			dst = binary.AppendUvarint(appendString(dst, w.Key), w.Version)
		}
		dst = binary.AppendUvarint(dst, uint64(len(x.Cmds)))
		for i := range x.Cmds {
			dst = AppendCommand(dst, &x.Cmds[i])
		}
		return dst
	},
	size: func(c *Command) int {
		x := deref(c.Txn)
		n := sizeUvarint(uint64(len(x.Watch))) + sizeUvarint(uint64(len(x.Cmds)))
		for _, w := range x.Watch {
			n += sizeString(w.Key) + sizeUvarint(w.Version)
		}
		for i := range x.Cmds {
			n += EncodedSize(&x.Cmds[i])
		}
		return n
	},
	decode: func(d *decoder, c *Command) {
		x := &Txn{}
		if n := d.count(2); n > 0 {
			x.Watch = make([]Watch, n)
			for i := range x.Watch {
				x.Watch[i] = Watch{Key: d.str(), Version: d.uvarint()}
			}
		}
		if n := d.count(3); n > 0 {
			x.Cmds = make([]Command, n)
			for i := range x.Cmds {
				// Refused before it is decoded, so that nesting cannot
				// make decoding recurse without bound.
				if len(d.buf) > 0 && CmdType(d.buf[0]) == CmdTxn {
					d.failf("nested transaction")
				}
				decodeCommand(d, &x.Cmds[i])
			}
		}
		if d.err != nil {
			x = &Txn{}
		}
		c.Txn = x
	},
	check: func(l Limits, c *Command, _ []Field, _ int64) error {
		for _, w := range c.Txn.Watch {
			if err := l.checkID("watched key", w.Key); err != nil {
				return err
			}
		}
		for i := range c.Txn.Cmds {
			switch ic := &c.Txn.Cmds[i]; {
			case ic.Type == CmdTxn:
				return errf(ErrInvalid, "nested transaction")
			case ic.ReqID != "":
				return errf(ErrInvalid, "request id inside a transaction")
			}
		}
		return nil
	},
	// The shards of every command and watched key, or all of them if a
	// command's shards depend on the state (revoke): the commands before
	// it could change that state.
	shards: func(st *state, c *Command) uint64 {
		var m uint64
		for _, w := range c.Txn.Watch {
			m |= shardBit(w.Key)
		}
		for i := range c.Txn.Cmds {
			ic := &c.Txn.Cmds[i]
			s := specOf(ic.Type)
			if s == nil || !s.has(ic) {
				continue
			}
			if s.anyShard {
				return allShards
			}
			m |= s.shards(st, ic)
		}
		return m
	},
	apply: func(f *FSM, st *state, index uint64, t int64, c *Command, _ []Field) Result {
		return f.txn(st, index, t, c.Txn)
	},
}

func (f *FSM) txn(st *state, index uint64, t int64, x *Txn) Result {
	for _, w := range x.Watch {
		var v uint64
		if r := live(st, w.Key, t); r != nil {
			v = r.Version
		}
		if v != w.Version {
			return Result{Txn: &TxnResult{Aborted: true}}
		}
	}
	res := make([]Result, len(x.Cmds))
	read, budget := 0, f.limits.TxnReadBytes() // bytes of the records the reads return
	for i := range x.Cmds {
		res[i] = f.txnStep(st, index, t, &x.Cmds[i])
		if x.Cmds[i].Type == CmdRead && res[i].Record != nil {
			read += res[i].Record.Size()
			if read > budget {
				res[i] = Result{Err: errf(ErrTooLarge, "the transaction's reads exceed %d bytes", budget)}
			}
		}
	}
	return Result{Txn: &TxnResult{Results: res}}
}

// txnStep runs one command of a transaction as exec would, without taking
// locks: the transaction holds them.
func (f *FSM) txnStep(st *state, index uint64, t int64, c *Command) Result {
	s := specOf(c.Type)
	if s == nil {
		return Result{Err: errf(ErrUnknownCmd, "command type %d", c.Type)}
	}
	if !s.has(c) {
		return Result{Err: errMissing(c.Type)}
	}
	var fs []Field
	if s.fields != nil {
		fs = sortedFields(f.txnFields[:0], s.fields(c))
		defer func() {
			clear(fs)
			f.txnFields = fs[:0]
		}()
	}
	if s.check != nil {
		if err := s.check(f.limits, c, fs, t); err != nil {
			return Result{Err: err}
		}
	}
	return s.apply(f, st, index, t, c, fs)
}
