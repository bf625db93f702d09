package fsm

// Read is a read inside a transaction (Txn): the reads a client queues
// between MULTI and EXEC (GET, PTTL, HGETALL, ...) must see the state
// the transaction's earlier commands left and none of what later
// entries do, so they travel in the transaction's own raft entry and run
// in order with its writes. Result.Record is the key's live record at
// that point (nil if there is none), of any kind: the node turns it into
// the command's reply, WRONGTYPE included. Result.Count is the log time
// (Unix ns) the read ran at, which a TTL is measured from, so that a
// transaction sees one frozen clock as Redis's EXEC does.
//
// Nothing changes but what every command does to a key it finds expired
// (removed, reported "expired"). A Read outside a transaction is allowed
// and answers the same; the node sends none.
type Read struct {
	Key string
}

// TxnReadBytes bounds the records one transaction's reads return
// (Record.Size summed): MaxRecordBytes, 4 MiB by default. The result
// travels back to the node that forwarded the transaction in one frame,
// which the node sizes from MaxRecordBytes too. A read that would
// go past it fails with ErrTooLarge; the transaction's other commands are
// not affected. Results are not state, so this is no part of determinism.
func (l Limits) TxnReadBytes() int {
	return l.withDefaults().MaxRecordBytes
}

// readCmd is CmdRead's entry in the command table (cmdtable.go).
//
// Body: string Key.
var readCmd = cmdSpec{
	name:   "read",
	has:    func(c *Command) bool { return c.Read != nil },
	encode: func(dst []byte, c *Command) []byte { return appendString(dst, deref(c.Read).Key) },
	size:   func(c *Command) int { return sizeString(deref(c.Read).Key) },
	decode: func(d *decoder, c *Command) { c.Read = &Read{Key: d.str()} },
	check:  func(l Limits, c *Command, _ []Field, _ int64) error { return l.checkKey(c.Read.Key) },
	shards: func(_ *state, c *Command) uint64 { return shardBit(c.Read.Key) },
	apply: func(_ *FSM, st *state, _ uint64, t int64, c *Command, _ []Field) Result {
		return Result{Record: live(st, c.Read.Key, t), Count: int(t)}
	},
}
