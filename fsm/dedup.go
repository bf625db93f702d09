package fsm

import "encoding/binary"

// dedupEntry remembers the outcome of one ReqID. Entries are immutable once
// made, so snapshots share them. The error is kept as code and message:
// that is what a replay returns, and it is plain data for snapshots and Hash.
type dedupEntry struct {
	reqID   string
	t       int64 // log time the command was applied
	code    uint8
	msg     string
	version uint64
	count   int64
	id      string // Result.ID: what a create made or a rotate moved to
}

func (e *dedupEntry) result() Result {
	return Result{
		Err:     errorFromCode(e.code, e.msg),
		Version: e.version,
		Count:   int(e.count),
		ID:      e.id,
	}
}

func appendDedupEntry(dst []byte, e *dedupEntry) []byte {
	dst = appendString(dst, e.reqID)
	dst = binary.AppendVarint(dst, e.t)
	dst = append(dst, e.code)
	dst = appendString(dst, e.msg)
	dst = binary.AppendUvarint(dst, e.version)
	dst = binary.AppendVarint(dst, e.count)
	return appendString(dst, e.id)
}

func decodeDedupEntry(d *decoder) *dedupEntry {
	return &dedupEntry{
		reqID:   d.str(),
		t:       d.varint(),
		code:    d.u8(),
		msg:     d.str(),
		version: d.uvarint(),
		count:   d.varint(),
		id:      d.str(),
	}
}

// dedupTable maps ReqID → outcome, with a FIFO of entries in insertion
// order. The log clock never goes backwards, so the FIFO is also ordered by
// time and pruning is a walk from its head: deterministic, and O(1)
// amortised per command.
type dedupTable struct {
	m    map[string]*dedupEntry
	q    []*dedupEntry
	head int
}

func newDedupTable() dedupTable {
	return dedupTable{m: make(map[string]*dedupEntry)}
}

// stale reports whether an entry made at et is older than window at t.
// The difference is computed in uint64 so it cannot overflow.
func stale(et, t, window int64) bool {
	return et < t && uint64(t)-uint64(et) > uint64(window)
}

func (dt *dedupTable) get(reqID string, t, window int64) *dedupEntry {
	e := dt.m[reqID]
	if e == nil || stale(e.t, t, window) {
		return nil
	}
	return e
}

func (dt *dedupTable) add(reqID string, t int64, r *Result) {
	code, msg := errorCode(r.Err)
	dt.push(&dedupEntry{
		reqID:   reqID,
		t:       t,
		code:    code,
		msg:     msg,
		version: r.Version,
		count:   int64(r.Count),
		id:      r.ID,
	})
}

func (dt *dedupTable) push(e *dedupEntry) {
	dt.m[e.reqID] = e
	dt.q = append(dt.q, e)
}

// prune forgets entries older than window at log time t.
func (dt *dedupTable) prune(t, window int64) {
	for dt.head < len(dt.q) && stale(dt.q[dt.head].t, t, window) {
		e := dt.q[dt.head]
		if dt.m[e.reqID] == e {
			delete(dt.m, e.reqID)
		}
		dt.q[dt.head] = nil
		dt.head++
	}
	// Compact once the dead prefix dominates, keeping memory proportional
	// to the live entries.
	if dt.head > 64 && dt.head > len(dt.q)/2 {
		n := copy(dt.q, dt.q[dt.head:])
		clear(dt.q[n:])
		dt.q = dt.q[:n]
		dt.head = 0
	}
}

// entries returns the live entries in insertion order (a copy).
func (dt *dedupTable) entries() []*dedupEntry {
	return append([]*dedupEntry(nil), dt.q[dt.head:]...)
}

func (dt *dedupTable) len() int { return len(dt.q) - dt.head }
