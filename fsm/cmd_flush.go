package fsm

// Flush is Redis's FLUSHDB for one group: every record goes, at once
// (Result.Count says how many were stored, expired ones included).
// Sessions leave no tombstones: a flush is an operator wiping the store,
// and a tombstone per session would cost as much memory as the sessions
// did. Tombstones already there and the dedup table stay. It reports one
// EventFlush (no key), for client-side caching's flush-all invalidation.
type Flush struct{}

// flushCmd is CmdFlush's entry in the command table (cmdtable.go).
//
// Body: empty.
var flushCmd = cmdSpec{
	name:     "flush",
	has:      func(c *Command) bool { return c.Flush != nil },
	encode:   func(dst []byte, _ *Command) []byte { return dst },
	size:     func(*Command) int { return 0 },
	decode:   func(_ *decoder, c *Command) { c.Flush = &Flush{} },
	anyShard: true,
	shards:   func(*state, *Command) uint64 { return allShards },
	apply: func(_ *FSM, st *state, _ uint64, _ int64, _ *Command, _ []Field) Result {
		return flush(st)
	},
}

// flush empties every shard; the caller holds them all and subMu.
func flush(st *state) Result {
	n := 0
	for i := range st.shards {
		n += st.shards[i].m.len()
		st.shards[i].m = table[*Record]{}
	}
	st.delta -= int64(n)
	st.subjects = make(map[string]map[string]struct{})
	st.dlMu.Lock()
	st.deadlines = newDeadlineIndex()
	st.dlMu.Unlock()
	st.note(EventFlush, "")
	return Result{Count: n}
}
