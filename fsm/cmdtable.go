package fsm

import "strconv"

// The command table. Each state-machine command is described once, by a
// cmdSpec in a file named for it (cmd_create.go, cmd_set.go, ...) that
// also holds its payload type and its apply code. Encoding, sizing, both
// decoders, validation, locking and applying all reach a command through
// cmdTable; no other code switches over command types.
//
// To add a command: take the next free CmdType (command.go; never reuse
// or renumber one), add a pointer to its payload to Command, write
// cmd_<name>.go with the payload type and its cmdSpec, and list the spec
// in cmdTable. Then give it samples in tableSamples, which TestCmdTable
// runs through every hook (it fails for an entry without any), and pin
// its encoding in TestCommandGolden (cmdtable_test.go).

// cmdSpec is everything the package does with one command type. The
// hooks are plain functions, not an interface over the payload, so that
// dispatching a command neither boxes nor allocates. Every hook but has,
// encode and size may assume has(c).
type cmdSpec struct {
	name string // lower case, for CmdType.String

	// has reports whether c carries this type's payload (the pointer of
	// Command matching the type is set). A command without it encodes
	// as the zero payload, and Check and Apply refuse it (ErrInvalid).
	has func(c *Command) bool

	// encode appends the body of c's payload (what follows the ReqID); a
	// nil payload encodes as its zero value. size is the exact number of
	// bytes encode appends.
	encode func(dst []byte, c *Command) []byte
	size   func(c *Command) int

	// decode reads a body that encode wrote into a new payload for c,
	// with maps and copies (DecodeBatch, DecodeCommand). d holds exactly
	// the body; the caller checks that it was read whole.
	decode func(d *decoder, c *Command)
	// decodeView, if set, is decode for ApplyBatch: the payload may live
	// in b's reused buffers, and a command with fields appends them to
	// b.fields as sorted views of the entry (d.fieldViews) instead of
	// filling its map. It must accept and refuse exactly what decode
	// does. Nil means decode serves ApplyBatch too.
	decodeView func(b *entryBuf, d *decoder, c *Command)
	// fields, if set, returns the fields a command carries as a map
	// (Create.Fields, Set.Fields), for ApplyDecoded to sort into views.
	fields func(c *Command) map[string][]byte

	// check, if set, reports what Apply would refuse in c without looking
	// at the state, at log time t. fs is c's fields sorted by name as
	// Apply sees them; Check, which has only the command, passes nil and
	// t = 0, and the hook sorts c's own map. Apply runs it before taking
	// any lock, so apply may assume it passed. l comes by value so that
	// Check's copy stays on its stack.
	check func(l Limits, c *Command, fs []Field, t int64) error
	// shards returns the mask of the shards apply may write (shardBit,
	// idsMask). The command holds them all at once, so readers see it
	// atomically.
	shards func(st *state, c *Command) uint64
	// anyShard is set when the shards depend on the state (revoke reads
	// the subject index) or are all of them (flush): a transaction
	// holding such a command, whose earlier commands may change that
	// state, locks every shard.
	anyShard bool
	// apply runs c at raft index index and log time t under its shard
	// locks; fs as for check.
	apply func(f *FSM, st *state, index uint64, t int64, c *Command, fs []Field) Result
}

// cmdTable holds every command type this binary can apply, indexed by
// CmdType. CmdBatch is an envelope, not a command, so it has no entry.
var cmdTable = [...]*cmdSpec{
	CmdCreate:  &createCmd,
	CmdSet:     &setCmd,
	CmdTouch:   &touchCmd,
	CmdDestroy: &destroyCmd,
	CmdRotate:  &rotateCmd,
	CmdRevoke:  &revokeCmd,
	CmdExpire:  &expireCmd,

	CmdSetString: &setStringCmd,
	CmdMSet:      &msetCmd,
	CmdGetDel:    &getDelCmd,
	CmdGetEx:     &getExCmd,
	CmdSetExpiry: &setExpiryCmd,
	CmdIncrBy:    &incrByCmd,
	CmdAppend:    &appendCmd,
	CmdHSet:      &hsetCmd,
	CmdHDel:      &hdelCmd,
	CmdHIncrBy:   &hincrByCmd,
	CmdSAdd:      &saddCmd,
	CmdSRem:      &sremCmd,
	CmdRename:    &renameCmd,
	CmdFlush:     &flushCmd,
	CmdTxn:       nil, // &txnCmd, set by init
	CmdRead:      &readCmd,
}

// txnCmd runs its commands through cmdTable, which a package variable's
// initializer may therefore not refer to: its entry is set here.
func init() { cmdTable[CmdTxn] = &txnCmd }

// specOf returns t's entry in the table, nil for a type this binary does
// not know.
func specOf(t CmdType) *cmdSpec {
	if int(t) < len(cmdTable) {
		return cmdTable[t]
	}
	return nil
}

// String returns the command's name ("create"), or "type N" for a type
// this binary does not know.
func (t CmdType) String() string {
	if t == CmdBatch {
		return "batch"
	}
	if s := specOf(t); s != nil {
		return s.name
	}
	return "type " + strconv.Itoa(int(t))
}

// deref returns p, or a zero T if p is nil (encoding a command whose
// payload is missing).
func deref[T any](p *T) *T {
	if p == nil {
		return new(T)
	}
	return p
}
