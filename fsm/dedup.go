package fsm

import "encoding/binary"

// dedupEntry remembers the outcome of one ReqID. Entries are immutable once
// made, so snapshots share them. The error is kept as code and message:
// that is what a replay returns, and it is plain data for snapshots and Hash.
//
// Every Go-client write carries a ReqID, so a node holds one entry per
// write of the last DedupWindow: a million after a million creates. The
// common outcome (a create or set that worked) has no message and no
// count, so those two live behind a pointer that is nil then; the entry is
// 64 bytes instead of 80.
type dedupEntry struct {
	reqID   string
	id      string // Result.ID: what a create made or a rotate moved to
	t       int64  // log time the command was applied
	version uint64
	more    *dedupMore // nil when msg is "" and count is 0
	code    uint8
}

// dedupMore is the rarer part of a dedup entry.
type dedupMore struct {
	msg   string
	count int64
}

func newDedupEntry(reqID string, t int64, code uint8, msg string, version uint64, count int64, id string) *dedupEntry {
	e := &dedupEntry{reqID: reqID, id: id, t: t, version: version, code: code}
	if msg != "" || count != 0 {
		e.more = &dedupMore{msg: msg, count: count}
	}
	return e
}

func (e *dedupEntry) msg() string {
	if e.more == nil {
		return ""
	}
	return e.more.msg
}

func (e *dedupEntry) count() int64 {
	if e.more == nil {
		return 0
	}
	return e.more.count
}

func (e *dedupEntry) result() Result {
	return Result{
		Err:     errorFromCode(e.code, e.msg()),
		Version: e.version,
		Count:   int(e.count()),
		ID:      e.id,
	}
}

func appendDedupEntry(dst []byte, e *dedupEntry) []byte {
	dst = appendString(dst, e.reqID)
	dst = binary.AppendVarint(dst, e.t)
	dst = append(dst, e.code)
	dst = appendString(dst, e.msg())
	dst = binary.AppendUvarint(dst, e.version)
	dst = binary.AppendVarint(dst, e.count())
	return appendString(dst, e.id)
}

// decodeDedupEntry reads an entry. intern, if not nil, may return an
// existing copy of the id (the record's own) so that a restored node does
// not hold every created id twice.
func decodeDedupEntry(d *decoder, intern func([]byte) (string, bool)) *dedupEntry {
	reqID, t, code, msg := d.str(), d.varint(), d.u8(), d.str()
	version, count := d.uvarint(), d.varint()
	raw := d.raw(d.length())
	id, ok := "", false
	if intern != nil {
		id, ok = intern(raw)
	}
	if !ok {
		id = string(raw)
	}
	return newDedupEntry(reqID, t, code, msg, version, count, id)
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
	dt.push(newDedupEntry(reqID, t, code, msg, r.Version, int64(r.Count), r.ID))
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
