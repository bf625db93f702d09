package fsm

import "unsafe"

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
	// Redis commands (issue 14). DEL and UNLINK are CmdDestroy.
	CmdSetString CmdType = 9  // SET and its variants
	CmdMSet      CmdType = 10 // MSET, MSETNX
	CmdGetDel    CmdType = 11
	CmdGetEx     CmdType = 12
	CmdSetExpiry CmdType = 13 // EXPIRE family, PERSIST
	CmdIncrBy    CmdType = 14 // INCR, INCRBY, DECR, DECRBY
	CmdAppend    CmdType = 15
	CmdHSet      CmdType = 16 // HSET, HMSET, HSETNX
	CmdHDel      CmdType = 17
	CmdHIncrBy   CmdType = 18
	CmdSAdd      CmdType = 19
	CmdSRem      CmdType = 20
	CmdRename    CmdType = 21 // RENAME, RENAMENX
	CmdFlush     CmdType = 22 // FLUSHDB of one group
	CmdTxn       CmdType = 23 // MULTI ... EXEC, with WATCH
	CmdRead      CmdType = 24 // a read queued in a transaction

	IgnorableFlag CmdType = 128
)

// EnvelopeVersion is the envelope format of an entry without flags.
// EnvelopeFlagsVersion adds Batch.Flags after the time (see codec.go); an
// entry with flags is always written in it, one without in version 1, so
// the bytes of existing logs keep their meaning.
const (
	EnvelopeVersion      = 1
	EnvelopeFlagsVersion = 2
)

// BatchFlags change how a batch is applied. The leader sets them; they are
// in the entry, so every replica applies the entry the same way, and a
// replica that does not know a flag refuses the entry (ErrUnknownCmd)
// rather than apply it differently.
type BatchFlags uint64

const (
	// FlagForgetFailures: a command with a ReqID that fails is not
	// remembered in the dedup table, so a retry runs it again (see
	// applyCmd). Entries without it remember every outcome, as before.
	FlagForgetFailures BatchFlags = 1 << 0

	knownFlags = FlagForgetFailures
)

// Batch is one raft log entry: many client commands packed together by the
// leader (application-level group commit), all stamped with one leader time.
// Results come back in the same order as Cmds.
type Batch struct {
	Time  int64 // leader's wall clock at proposal, Unix ns
	Flags BatchFlags
	Cmds  []Command
}

// Command is one client-level operation inside a Batch. Exactly one of the
// pointer fields is set, matching Type. Each type's payload, encoding,
// validation and apply code live together in cmd_<name>.go, listed in
// cmdTable (cmdtable.go).
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

	SetString *SetString
	MSet      *MSet
	GetDel    *GetDel
	GetEx     *GetEx
	SetExpiry *SetExpiry
	IncrBy    *IncrBy
	Append    *Append
	HSet      *HSet
	HDel      *HDel
	HIncrBy   *HIncrBy
	SAdd      *SAdd
	SRem      *SRem
	Rename    *Rename
	Flush     *Flush
	Txn       *Txn
	Read      *Read
}

// Result is the outcome of one Command.
//
// The Redis commands use Count for their integer replies (keys deleted,
// fields added, 1 or 0 for a condition met or not, and the new value of
// INCRBY and HINCRBY), Record for the record a string value was read from
// (SET ... GET, GETDEL, GETEX: nil for a nil reply; a transaction's Read:
// the key's record), and Txn for a transaction. Result stays this small
// because raft applies thousands of them a second: each field added to it is paid by every session write.
// The dedup table remembers Err, Version, Count and ID: a replayed ReqID
// gets no Record or Txn back.
type Result struct {
	Err     error  // nil or one of the package's sentinel errors (wrapped)
	Version uint64 // new version of the record written, if one remains
	Count   int    // ids affected for touch/destroy/revoke/expire; the Redis commands' integer
	// ID is the id a successful Create created or a successful Rotate
	// moved the record to; empty otherwise. Unlike Record it survives
	// deduplication, so a replayed ReqID reports the original id.
	ID string
	// Record is the created, updated or rotated record, when useful. It is
	// the FSM's own immutable record, shared as Get shares it (no copy per
	// write): Clone it before modifying.
	Record *Record
	// Txn is a transaction's outcome (CmdTxn), nil for other commands.
	Txn *TxnResult
}

// Count carries INCRBY's 64-bit values, so int must have 64 bits: this
// fails to compile where it has fewer (the server builds only for 64-bit
// platforms; clients do not import fsm).
var _ [unsafe.Sizeof(0) - 8]struct{}

// TxnResult is the outcome of a transaction (Txn).
type TxnResult struct {
	// Aborted reports that a WATCHed key had changed, so nothing was
	// applied (EXEC's nil reply).
	Aborted bool
	// Results holds one result per command, in order, when not Aborted.
	// Each has its own Err: Redis does not roll back.
	Results []Result
}
