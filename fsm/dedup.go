package fsm

import "encoding/binary"

// dedupEntry remembers the outcome of one ReqID. Entries are immutable once
// made, so snapshots share them. The error is kept as code and message:
// that is what a replay returns, and it is plain data for snapshots and Hash.
//
// Every Go-client write carries a ReqID, so a node holds one entry per
// write of the last DedupWindow: a million after a million creates. The
// common outcome (a create or set that worked) is an id and a version
// only, and the entry is 48 bytes (a size class; one more word would make
// it 64). Any other outcome (an error, a count) is rare and is kept
// encoded in the id field, marked by rareFlag in version.
type dedupEntry struct {
	reqID   string
	id      string // Result.ID; with rareFlag, the encoded outcome (appendOutcome)
	t       int64  // log time the command was applied
	version uint64 // Result.Version, or rareFlag
}

// rareFlag marks an entry whose outcome is encoded in its id field. No
// version has it in practice (it is a raft index), and one that has it is
// kept encoded like any other rare outcome.
const rareFlag = 1 << 63

// outcome is a dedup entry's content, decoded.
type outcome struct {
	code    uint8
	msg     string
	version uint64
	count   int64
	id      string
}

func newDedupEntry(reqID string, t int64, o outcome) *dedupEntry {
	e := new(dedupEntry)
	e.set(reqID, t, o)
	return e
}

// set fills e, an entry nobody else sees yet.
func (e *dedupEntry) set(reqID string, t int64, o outcome) {
	if o.code == codeNone && o.msg == "" && o.count == 0 && o.version&rareFlag == 0 {
		*e = dedupEntry{reqID: reqID, id: o.id, t: t, version: o.version}
		return
	}
	*e = dedupEntry{reqID: reqID, id: string(appendOutcome(nil, o)), t: t, version: rareFlag}
}

// appendOutcome encodes a rare outcome: byte code, string msg, uvarint
// version, varint count, string id.
func appendOutcome(dst []byte, o outcome) []byte {
	dst = append(dst, o.code)
	dst = appendString(dst, o.msg)
	dst = binary.AppendUvarint(dst, o.version)
	dst = binary.AppendVarint(dst, o.count)
	return appendString(dst, o.id)
}

func (e *dedupEntry) outcome() outcome {
	if e.version != rareFlag {
		return outcome{version: e.version, id: e.id}
	}
	// Written by appendOutcome in this process: it decodes.
	d := decoder{buf: []byte(e.id)}
	return outcome{code: d.u8(), msg: d.str(), version: d.uvarint(), count: d.varint(), id: d.str()}
}

func (e *dedupEntry) result() Result {
	o := e.outcome()
	return Result{
		Err:     errorFromCode(o.code, o.msg),
		Version: o.version,
		Count:   int(o.count),
		ID:      o.id,
	}
}

// key is what the dedup table finds an entry by.
func (e *dedupEntry) key() string { return e.reqID }

func appendDedupEntry(dst []byte, e *dedupEntry) []byte {
	o := e.outcome()
	dst = appendString(dst, e.reqID)
	dst = binary.AppendVarint(dst, e.t)
	dst = append(dst, o.code)
	dst = appendString(dst, o.msg)
	dst = binary.AppendUvarint(dst, o.version)
	dst = binary.AppendVarint(dst, o.count)
	return appendString(dst, o.id)
}

// decodeDedupEntry reads an entry. str, if not nil, makes the strings
// (Restore passes a stringArena's).
func decodeDedupEntry(d *decoder, str func([]byte) string) *dedupEntry {
	if str == nil {
		str = func(b []byte) string { return string(b) }
	}
	reqID, t := str(d.raw(d.length())), d.varint()
	var o outcome
	o.code, o.msg = d.u8(), d.str()
	o.version, o.count = d.uvarint(), d.varint()
	o.id = str(d.raw(d.length()))
	return newDedupEntry(reqID, t, o)
}

// dedupTable maps ReqID → outcome, with a FIFO of entries in insertion
// order. The log clock never goes backwards, so the FIFO is also ordered by
// time and pruning is a walk from its head: deterministic, and O(1)
// amortised per command.
type dedupTable struct {
	m    table[*dedupEntry] // keyed by reqID
	q    []*dedupEntry
	head int
	mem  memCounter // estimated bytes of the FIFO's entries (memory.go)

	// Apply's entries and their ReqIDs are allocated in chunks of
	// consecutive entries (newEntry, stringArena) rather than one or two
	// allocations per command. Entries are pruned in the order they were
	// added, so a chunk is garbage soon after its last entry is pruned;
	// until then it keeps its pruned entries' strings (at most a chunk's
	// worth). An entry is never written once it is in the table:
	// snapshots share it.
	free  []dedupEntry // the unused rest of the current chunk
	arena stringArena
}

// dedupChunk is the number of entries allocated together: 128 of 48
// bytes are 6 KiB, a size class, so a chunk costs what its entries did
// one by one.
const dedupChunk = 128

// newEntry returns a zero entry from the current chunk.
func (dt *dedupTable) newEntry() *dedupEntry {
	if len(dt.free) == 0 {
		dt.free = make([]dedupEntry, dedupChunk)
	}
	e := &dt.free[0]
	dt.free = dt.free[1:]
	return e
}

// stale reports whether an entry made at et is older than window at t.
// The difference is computed in uint64 so it cannot overflow.
func stale(et, t, window int64) bool {
	return et < t && uint64(t)-uint64(et) > uint64(window)
}

func (dt *dedupTable) get(reqID string, t, window int64) *dedupEntry {
	return dt.getHashed(reqID, hashOf(reqID), t, window)
}

// getHashed is get for a reqID whose hash (hashOf) the caller has: Apply
// looks a ReqID up and then adds it, and hashes it once for both.
func (dt *dedupTable) getHashed(reqID string, h uint64, t, window int64) *dedupEntry {
	i := dt.m.findHashed(reqID, h)
	if i < 0 {
		return nil
	}
	if e := dt.m.slots[i]; !stale(e.t, t, window) {
		return e
	}
	return nil
}

func (dt *dedupTable) add(reqID string, t int64, r *Result) {
	dt.addHashed(reqID, hashOf(reqID), t, r)
}

// addHashed is add for a reqID of hash h. It keeps a copy of reqID, which
// may be a view of the raft entry being applied (decoder.view).
func (dt *dedupTable) addHashed(reqID string, h uint64, t int64, r *Result) {
	code, msg := errorCode(r.Err)
	e := dt.newEntry()
	e.set(dt.arena.clone(reqID), t, outcome{code: code, msg: msg, version: r.Version, count: int64(r.Count), id: r.ID})
	dt.m.putHashed(e, e.reqID, h)
	dt.q = append(dt.q, e)
	dt.mem.add(dedupMem(e))
}

// pushNew is push for an entry whose reqID the table does not hold
// (Restore checks first): the id is hashed once instead of twice.
func (dt *dedupTable) pushNew(e *dedupEntry) {
	dt.m.insertNew(e, e.reqID)
	dt.q = append(dt.q, e)
	dt.mem.add(dedupMem(e))
}

// prune forgets entries older than window at log time t.
func (dt *dedupTable) prune(t, window int64) {
	for dt.head < len(dt.q) && stale(dt.q[dt.head].t, t, window) {
		e := dt.q[dt.head]
		dt.mem.add(-dedupMem(e))
		if dt.m.get(e.reqID) == e {
			dt.m.remove(e.reqID)
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
