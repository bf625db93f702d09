package fsm

import "fmt"

// ApplyBatch applies one committed raft entry; index is its raft log index.
// It returns one Result per command, in order. It fails only when the entry
// cannot be decoded (corrupt, or of a type this binary does not know and
// may not skip); the caller must then stop the node rather than diverge. An
// entry whose top-level type is unknown but ignorable is skipped: nothing
// but the applied index changes, and the result is nil.
func (f *FSM) ApplyBatch(index uint64, data []byte) ([]Result, error) {
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	if len(data) > 0 && CmdType(data[0]) != CmdBatch && CmdType(data[0])&IgnorableFlag != 0 {
		f.state.Load().applied.Store(index)
		return nil, nil
	}
	defer f.entry.release()
	t, flags, cmds, err := f.entry.decode(data)
	if err != nil {
		return nil, fmt.Errorf("entry %d: %w", index, err)
	}
	return f.apply(index, t, flags, cmds), nil
}

// ApplyDecoded is ApplyBatch for a batch that is already decoded. It copies
// what it keeps, so the caller may reuse b afterwards.
func (f *FSM) ApplyDecoded(index uint64, b *Batch) []Result {
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	defer f.entry.release()
	for i := range b.Cmds {
		f.entry.addMapFields(&b.Cmds[i])
	}
	if b.Flags&^knownFlags != 0 {
		// As decodeEntry refuses such an entry: no command may apply.
		err := fmt.Errorf("%w: batch flags %#x", ErrUnknownCmd, uint64(b.Flags))
		results := make([]Result, len(b.Cmds))
		for i := range results {
			results[i].Err = err
		}
		return results
	}
	return f.apply(index, b.Time, b.Flags, b.Cmds)
}

// apply runs the commands of an entry stamped with time at, under applyMu;
// f.entry holds their fields. Records copy the field values they keep, so
// the commands and fields may be the caller's or the raft entry's.
func (f *FSM) apply(index uint64, at int64, flags BatchFlags, cmds []Command) []Result {
	st := f.state.Load()

	// The log clock: every command in the batch sees the same time t, and
	// t never goes backwards even if a new leader's clock is behind.
	t := max(st.clock.Load(), at)
	st.clock.Store(t)
	st.dedup.prune(t, f.limits.DedupWindow)

	st.ev = nil
	if f.notify != nil {
		st.ev = &f.evlog
	}
	results := make([]Result, len(cmds))
	for i := range cmds {
		if st.ev != nil {
			st.ev.cmd = i
		}
		results[i] = f.applyCmd(st, index, t, flags, &cmds[i], f.entry.fieldsOf(i))
	}

	// Pruning depends only on the tombstones and t, so every replica (and
	// every replica restored from a snapshot) drops the same ones.
	st.tombs.prune(t)
	st.dlMu.Lock()
	st.deadlines.trim()
	st.dlMu.Unlock()
	st.applied.Store(index)
	if ev := st.ev; ev != nil {
		st.ev = nil
		if len(ev.events) > 0 {
			f.notify(index, ev.events)
		}
		clear(ev.events)
		ev.events = ev.events[:0]
		if cap(ev.events) > maxKept {
			ev.events = nil
		}
	}
	return results
}

// applyCmd applies one command, answering from the dedup table when its
// ReqID was seen within the window. fs is its fields, if it carries any
// (create, set): sorted by name, views of the command or the entry. Under
// FlagForgetFailures only a command that succeeded is remembered.
func (f *FSM) applyCmd(st *state, index uint64, t int64, flags BatchFlags, c *Command, fs []Field) Result {
	var h uint64 // c.ReqID's hash, for the lookup and the add
	if c.ReqID != "" {
		if len(c.ReqID) > f.limits.MaxReqIDLen {
			// Not remembered: an oversized key must not grow the table.
			return Result{Err: errf(ErrTooLarge, "request id length %d exceeds %d", len(c.ReqID), f.limits.MaxReqIDLen)}
		}
		h = hashOf(c.ReqID)
		if e := st.dedup.getHashed(c.ReqID, h, t, f.limits.DedupWindow); e != nil {
			return e.result()
		}
	}
	r := f.exec(st, index, t, c, fs)
	if c.ReqID != "" && !(r.Err != nil && flags&FlagForgetFailures != 0) {
		st.dedup.addHashed(c.ReqID, h, t, &r)
	}
	return r
}

// exec runs c through its entry in the command table (cmdtable.go): its
// checks, then its apply holding the shards it may write. It holds them
// all at once, so readers see the command atomically.
func (f *FSM) exec(st *state, index uint64, t int64, c *Command, fs []Field) Result {
	s := specOf(c.Type)
	if s == nil {
		// An ignorable type that DecodeBatch skipped, or an unknown type
		// handed to ApplyDecoded: no effect.
		return Result{Err: errf(ErrUnknownCmd, "command type %d", c.Type)}
	}
	if !s.has(c) {
		return Result{Err: errMissing(c.Type)}
	}
	if s.check != nil {
		if err := s.check(f.limits, c, fs, t); err != nil {
			return Result{Err: err}
		}
	}
	mask := s.shards(st, c)
	st.lock(mask)
	r := s.apply(f, st, index, t, c, fs)
	st.unlock(mask)
	return r
}

// allShards is the mask of every shard, for commands that may touch any
// record (FLUSHDB, and transactions holding a command whose shards depend
// on the state).
const allShards = ^uint64(0)

// idsMask returns the shards of ids, for commands that name many.
func idsMask(ids []string) uint64 {
	var m uint64
	for _, id := range ids {
		m |= shardBit(id)
		if m == ^uint64(0) {
			break
		}
	}
	return m
}

// live returns the record under id if it is live at t. A record expired at
// t is deleted on the spot (a session leaving a tombstone, as Expire
// would) and reported "expired": every command treats it as absent anyway,
// and deleting it depends only on t, so all replicas do the same.
func live(st *state, id string, t int64) *Record {
	return liveKey(st, keyOf(id), t)
}

// liveKey is live for an id whose recKey the caller has.
func liveKey(st *state, k recKey, t int64) *Record {
	r := st.lookupKey(k)
	if r != nil && r.ExpiredAt(t) {
		st.bury(k.id, r, t)
		st.note(EventExpired, r.ID())
		return nil
	}
	return r
}

// errUsedBefore is the ErrExists of an id that has a live tombstone.
func errUsedBefore(id string) error {
	return errf(ErrExists, "id %q was used before and may not be reused yet", id)
}
