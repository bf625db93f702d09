package fsm

// CmdType identifies a command in the log envelope. The numbering is part
// of the on-disk format: never reuse or renumber a value.
type CmdType uint8

// Command types. Values at or above IgnorableFlag may be skipped by an FSM
// that does not know them (for rolling upgrades); any other unknown type
// stops the node loudly, since skipping it would silently diverge replicas.
const (
	CmdBatch   CmdType = 1 // Batch: the only top-level raft entry type
	CmdCreate  CmdType = 2
	CmdSet     CmdType = 3 // set and/or unset fields
	CmdTouch   CmdType = 4
	CmdDestroy CmdType = 5
	CmdRotate  CmdType = 6
	CmdRevoke  CmdType = 7
	CmdExpire  CmdType = 8

	IgnorableFlag CmdType = 128
)

// EnvelopeVersion is the current envelope format version.
const EnvelopeVersion = 1

// Batch is one raft log entry: many client commands packed together by the
// leader (application-level group commit), all stamped with one leader time.
// Results come back in the same order as Cmds.
type Batch struct {
	Time int64 // leader's wall clock at proposal, Unix ns
	Cmds []Command
}

// Command is one client-level operation inside a Batch. Exactly one of the
// pointer fields is set, matching Type.
type Command struct {
	Type CmdType
	// ReqID, when non-empty, makes the command idempotent: the FSM remembers
	// the result of each ReqID for DedupWindow of log time and answers a
	// repeat with the remembered result instead of applying it again. The
	// remembered result has the original Err, Version, Count and ID (so a
	// retried create or rotate learns the id it made even if the retry
	// names another one), but no Record.
	ReqID string

	Create  *Create
	Set     *Set
	Touch   *Touch
	Destroy *Destroy
	Rotate  *Rotate
	Revoke  *Revoke
	Expire  *Expire
}

// Create makes a new record. ID is chosen by the proposing node (random,
// routed to this group) or by the client (stores that own their ids, such
// as scs). Fails with ErrExists if the id is live, or if it has a live
// tombstone: an id that was destroyed, revoked, rotated away or expired is
// never handed out again while its tombstone lasts (see tombstone.go). An
// expired record still stored under ID is removed, and so refused too.
type Create struct {
	ID          string
	Subject     string
	Fields      map[string][]byte
	IdleTimeout int64 // ns, 0 = none
	AbsTTL      int64 // ns from batch time, 0 = none
}

// Set writes and removes fields. If IfVersion != 0 it applies only when the
// record's Version equals it (else ErrConflict). A write counts as an access.
// AbsTTL > 0 also moves the absolute deadline to batch time + AbsTTL (the
// Redis EXPIRE of the key/value model, and how stores that own their expiry,
// such as scs, extend a session); 0 leaves it unchanged.
type Set struct {
	ID        string
	IfVersion uint64
	Fields    map[string][]byte // set
	Unset     []string          // then removed
	AbsTTL    int64             // ns from batch time; 0 = keep the deadline
}

// Touch records accesses for idle expiry. It never revives an expired record
// and never moves LastAccess backwards or beyond the batch time.
type Touch struct {
	IDs   []string
	Times []int64 // access time per id (same length as IDs)
}

// Destroy removes records, leaving tombstones. Missing ids are not an error
// (Result.Count says how many existed).
type Destroy struct {
	IDs []string
}

// Rotate moves a record to NewID atomically: same subject, fields, created
// time and deadlines; OldID is gone and leaves a tombstone. IfVersion as in
// Set. NewID must be neither live nor tombstoned (else ErrExists).
type Rotate struct {
	OldID     string
	NewID     string
	IfVersion uint64
}

// Revoke destroys all records of Subject, except the id Except if non-empty,
// leaving tombstones.
type Revoke struct {
	Subject string
	Except  string
}

// Expire removes the listed records that are expired at the batch time (by
// the log clock), leaving tombstones. Ids not expired by then are left
// alone, so a sweeper with a fast clock can never cut a session short.
type Expire struct {
	IDs []string
}

// Result is the outcome of one Command.
type Result struct {
	Err     error  // nil or one of the package's sentinel errors (wrapped)
	Version uint64 // new version for create/set/rotate
	Count   int    // ids affected for touch/destroy/revoke/expire
	// ID is the id a successful Create created or a successful Rotate
	// moved the record to; empty otherwise. Unlike Record it survives
	// deduplication, so a replayed ReqID reports the original id.
	ID string
	// Record is the created, updated or rotated record, when useful. It is
	// the FSM's own immutable record, shared as Get shares it (no copy per
	// write): Clone it before modifying.
	Record *Record
}
