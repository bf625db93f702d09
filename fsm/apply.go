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
	t, cmds, err := f.entry.decode(data)
	if err != nil {
		return nil, fmt.Errorf("entry %d: %w", index, err)
	}
	return f.apply(index, t, cmds), nil
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
	return f.apply(index, b.Time, b.Cmds)
}

// apply runs the commands of an entry stamped with time at, under applyMu;
// f.entry holds their fields. Records copy the field values they keep, so
// the commands and fields may be the caller's or the raft entry's.
func (f *FSM) apply(index uint64, at int64, cmds []Command) []Result {
	st := f.state.Load()

	// The log clock: every command in the batch sees the same time t, and
	// t never goes backwards even if a new leader's clock is behind.
	t := max(st.clock.Load(), at)
	st.clock.Store(t)
	st.dedup.prune(t, f.limits.DedupWindow)

	results := make([]Result, len(cmds))
	for i := range cmds {
		results[i] = f.applyCmd(st, index, t, &cmds[i], f.entry.fieldsOf(i))
	}

	// Pruning depends only on the tombstones and t, so every replica (and
	// every replica restored from a snapshot) drops the same ones.
	st.tombs.prune(t)
	st.dlMu.Lock()
	st.deadlines.trim()
	st.dlMu.Unlock()
	st.applied.Store(index)
	return results
}

// applyCmd applies one command, answering from the dedup table when its
// ReqID was seen within the window. fs is its fields, if it is a create
// or a set: sorted by name, views of the command or the entry.
func (f *FSM) applyCmd(st *state, index uint64, t int64, c *Command, fs []Field) Result {
	if c.ReqID != "" {
		if len(c.ReqID) > f.limits.MaxReqIDLen {
			// Not remembered: an oversized key must not grow the table.
			return Result{Err: errf(ErrTooLarge, "request id length %d exceeds %d", len(c.ReqID), f.limits.MaxReqIDLen)}
		}
		if e := st.dedup.get(c.ReqID, t, f.limits.DedupWindow); e != nil {
			return e.result()
		}
	}
	mask := st.shardMask(c)
	st.lock(mask)
	r := f.exec(st, index, t, c, fs)
	st.unlock(mask)
	if c.ReqID != "" {
		st.dedup.add(c.ReqID, t, &r)
	}
	return r
}

// shardMask returns the shards c may write. The command holds all of them
// at once, so readers see it atomically.
func (st *state) shardMask(c *Command) uint64 {
	var m uint64
	switch {
	case c.Type == CmdCreate && c.Create != nil:
		m = shardBit(c.Create.ID)
	case c.Type == CmdSet && c.Set != nil:
		m = shardBit(c.Set.ID)
	case c.Type == CmdTouch && c.Touch != nil:
		m = idsMask(c.Touch.IDs)
	case c.Type == CmdDestroy && c.Destroy != nil:
		m = idsMask(c.Destroy.IDs)
	case c.Type == CmdRotate && c.Rotate != nil:
		m = shardBit(c.Rotate.OldID) | shardBit(c.Rotate.NewID)
	case c.Type == CmdRevoke && c.Revoke != nil:
		for id := range st.subjects[c.Revoke.Subject] {
			m |= shardBit(id)
		}
		m |= shardBit(c.Revoke.Except)
	case c.Type == CmdExpire && c.Expire != nil:
		m = idsMask(c.Expire.IDs)
	}
	return m
}

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

func (f *FSM) exec(st *state, index uint64, t int64, c *Command, fs []Field) Result {
	switch c.Type {
	case CmdCreate:
		if c.Create != nil {
			return f.create(st, index, t, c.Create, fs)
		}
	case CmdSet:
		if c.Set != nil {
			return f.set(st, index, t, c.Set, fs)
		}
	case CmdTouch:
		if c.Touch != nil {
			return touch(st, t, c.Touch)
		}
	case CmdDestroy:
		if c.Destroy != nil {
			return destroy(st, t, c.Destroy)
		}
	case CmdRotate:
		if c.Rotate != nil {
			return f.rotate(st, index, t, c.Rotate)
		}
	case CmdRevoke:
		if c.Revoke != nil {
			return f.revoke(st, t, c.Revoke)
		}
	case CmdExpire:
		if c.Expire != nil {
			return expire(st, t, c.Expire)
		}
	default:
		// An ignorable type that DecodeBatch skipped, or an unknown type
		// handed to ApplyDecoded: no effect.
		return Result{Err: errf(ErrUnknownCmd, "command type %d", c.Type)}
	}
	return Result{Err: errMissing(c.Type)}
}

// live returns the record under id if it is live at t. A record expired at
// t is deleted on the spot (and leaves a tombstone, as Expire would): every
// command treats it as absent anyway, and deleting it depends only on t, so
// all replicas do the same.
func live(st *state, id string, t int64) *Record {
	r := st.lookup(id)
	if r != nil && r.ExpiredAt(t) {
		st.bury(id, r, t)
		return nil
	}
	return r
}

// errUsedBefore is the ErrExists of an id that has a live tombstone.
func errUsedBefore(id string) error {
	return errf(ErrExists, "id %q was used before and may not be reused yet", id)
}

// create makes c's record; fs is its fields, sorted (see applyCmd).
func (f *FSM) create(st *state, index uint64, t int64, c *Create, fs []Field) Result {
	if err := f.limits.checkCreate(c, fs, t); err != nil {
		return Result{Err: err}
	}
	// An expired record is removed here like anywhere else, so its id is
	// then refused by its new tombstone: expiry ends a session for good.
	if live(st, c.ID, t) != nil {
		return Result{Err: errf(ErrExists, "id %q", c.ID)}
	}
	if st.tombs.live(c.ID, t) {
		return Result{Err: errUsedBefore(c.ID)}
	}
	r := &Record{
		ID:          c.ID,
		Subject:     c.Subject,
		Version:     index,
		Created:     t,
		LastAccess:  t,
		IdleTimeout: c.IdleTimeout,
		fields:      buildFieldList(fs),
	}
	if c.AbsTTL > 0 {
		r.AbsDeadline = t + c.AbsTTL
	}
	st.put(c.ID, nil, r)
	return Result{Version: index, ID: c.ID, Record: r}
}

// set applies s; fs is its fields, sorted (see applyCmd).
func (f *FSM) set(st *state, index uint64, t int64, s *Set, fs []Field) Result {
	if err := f.limits.checkSet(s, fs, t); err != nil {
		return Result{Err: err}
	}
	old := live(st, s.ID, t)
	if old == nil {
		return Result{Err: errf(ErrNotFound, "id %q", s.ID)}
	}
	if s.IfVersion != 0 && s.IfVersion != old.Version {
		return Result{Err: errf(ErrConflict, "id %q is at version %d, not %d", s.ID, old.Version, s.IfVersion)}
	}
	fields := mergeFields(f.fieldScratch, old.fields, fs, s.Unset)
	defer f.releaseScratch(fields)
	if len(fields) > f.limits.MaxFields {
		return Result{Err: errf(ErrTooLarge, "%d fields exceed %d", len(fields), f.limits.MaxFields)}
	}
	if size := len(old.ID) + len(old.Subject) + listSize(fields); size > f.limits.MaxRecordBytes {
		return Result{Err: errf(ErrTooLarge, "record size %d exceeds %d", size, f.limits.MaxRecordBytes)}
	}
	r := *old
	r.fields = buildFieldList(fields)
	r.LastAccess = max(r.LastAccess, t)
	if s.AbsTTL > 0 {
		r.AbsDeadline = t + s.AbsTTL
	}
	r.Version = index
	st.put(s.ID, old, &r)
	return Result{Version: index, Record: &r}
}

// touch moves LastAccess forward to each access time, clamped to t. It
// does not change Version: an access is metadata, not data, and bumping the
// version would make every read-after-touch look like a conflicting write
// to a client using IfVersion. Count is the number of ids (with
// repetitions) that were live.
func touch(st *state, t int64, c *Touch) Result {
	if err := checkTouch(c); err != nil {
		return Result{Err: err}
	}
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

// destroy removes ids; Count is how many were live. Expired ones go too
// but are not counted, as they were already absent.
func destroy(st *state, t int64, c *Destroy) Result {
	n := 0
	for _, id := range c.IDs {
		if old := live(st, id, t); old != nil {
			st.bury(id, old, t)
			n++
		}
	}
	return Result{Count: n}
}

// rotate moves a record to a new id in one step. The record keeps
// everything (created, last access, deadlines, subject, fields) but its id
// and version: clients that hold the old id see it gone, and version
// checks against the old id's version fail.
func (f *FSM) rotate(st *state, index uint64, t int64, c *Rotate) Result {
	if err := f.limits.checkRotate(c); err != nil {
		return Result{Err: err}
	}
	old := live(st, c.OldID, t)
	if old == nil {
		return Result{Err: errf(ErrNotFound, "id %q", c.OldID)}
	}
	if c.IfVersion != 0 && c.IfVersion != old.Version {
		return Result{Err: errf(ErrConflict, "id %q is at version %d, not %d", c.OldID, old.Version, c.IfVersion)}
	}
	if live(st, c.NewID, t) != nil {
		return Result{Err: errf(ErrExists, "id %q", c.NewID)}
	}
	if st.tombs.live(c.NewID, t) {
		return Result{Err: errUsedBefore(c.NewID)}
	}
	r := *old
	r.ID = c.NewID
	r.Version = index
	if size := r.Size(); size > f.limits.MaxRecordBytes {
		return Result{Err: errf(ErrTooLarge, "record size %d exceeds %d", size, f.limits.MaxRecordBytes)}
	}
	st.put(c.NewID, nil, &r)
	// The old id's tombstone lasts at least until the moved record's own
	// deadline, so whoever still holds the old id cannot get it back.
	st.bury(c.OldID, old, t)
	return Result{Version: index, ID: c.NewID, Record: &r}
}

// revoke removes every live record of a subject except c.Except.
func (f *FSM) revoke(st *state, t int64, c *Revoke) Result {
	if err := checkRevoke(c); err != nil {
		return Result{Err: err}
	}
	ids := f.scratch[:0]
	for id := range st.subjects[c.Subject] {
		ids = append(ids, id)
	}
	// Iteration order varies, but the outcome does not: every id is either
	// removed or kept, Count is a sum, and the tombstones are a set (the
	// order they enter their heap in is never observable, see tombTable).
	n := 0
	for _, id := range ids {
		old := live(st, id, t)
		if old == nil || id == c.Except {
			continue
		}
		st.bury(id, old, t)
		n++
	}
	clear(ids)
	f.scratch = ids[:0]
	return Result{Count: n}
}

// expire removes the listed ids that are expired at t. Ids still live by
// the log clock stay, so a sweeper with a fast clock cannot cut a session
// short.
func expire(st *state, t int64, c *Expire) Result {
	n := 0
	for _, id := range c.IDs {
		if old := st.lookup(id); old != nil && old.ExpiredAt(t) {
			st.bury(id, old, t)
			n++
		}
	}
	return Result{Count: n}
}
