// Package fsm is sessionraft's deterministic state machine: the records of
// one raft group, the commands that change them, their indexes, and the
// snapshot format. It imports only the standard library and internal/glob
// (SCAN's MATCH); the node package adapts it to hashicorp/raft's FSM
// interface.
//
// # Keys
//
// A record is a key of one Kind: a hash, a string or a set (kind.go). Keys
// and session ids share one namespace per group: a Redis key is a record
// whose id is the key. Sessions (made by Create) are hashes, so HGETALL on
// a session id returns its fields, and the Redis commands work on them as
// on any hash; a session differs from a plain hash only in leaving a
// tombstone when removed. Commands that meet a key of the wrong kind fail
// with ErrWrongType. Every write to a record sets its Version to the
// entry's raft index, which is what a transaction's WATCH compares.
//
// Reads for the Redis commands: Get (any kind; Record.Kind, Value,
// Fields, Members, Deadline, Version), Len (DBSIZE: stored records,
// expired ones not yet swept included, as Redis counts), Scan (SCAN, KEYS),
// and SetNotify for keyspace events (events.go).
//
// # Commands
//
// Each command lives in one file named for it, cmd_<name>.go (e.g.
// cmd_create.go): its payload type, and a cmdSpec that encodes it, sizes
// it (EncodedSize), decodes it (into maps for DecodeBatch, into reused
// views for ApplyBatch), validates it against Limits (Check and Apply),
// names the shards it locks and applies it. cmdTable (cmdtable.go) lists
// the specs by CmdType, and everything else dispatches through it.
//
// To add a command: take the next free CmdType (never reuse a number),
// add a pointer to its payload to Command, write cmd_<name>.go, add its
// spec to cmdTable, and give it samples in TestCmdTable and a golden
// encoding in TestCommandGolden (cmdtable_test.go).
//
// # Determinism
//
// Every replica applies the same log and must reach the same state, byte for
// byte (see FSM.Hash). Apply therefore never reads the wall clock, never uses
// randomness and never lets map iteration order reach anything observable
// (records, results, error messages, the dedup table, the tombstones). Time
// comes from the log: each Batch carries its leader's clock, and the FSM
// keeps a log clock that is the maximum time applied so far, so time never
// runs backwards across leader changes. Limits take part in Apply too, so
// every replica of a group must run with the same Limits.
//
// # Expiry
//
// Deadlines are absolute log times stored in the records. A record whose
// deadline has passed by the log clock is treated as absent by every command
// even before the leader's sweeper proposes an Expire for it; readers also
// hide records expired by their own clock (FSM.Get's now argument).
//
// # Tombstones
//
// Session ids are not reused. Every command that removes a session
// (Destroy, Revoke, Rotate's old id, Expire, the on-the-spot removal of an
// expired record, and the Redis commands that remove a key) leaves a
// tombstone for the id, and Create, or Rotate onto that id, fails with
// ErrExists ("used before") while it lasts. Plain Redis keys leave none,
// and the Redis commands ignore tombstones: Redis lets SET recreate a
// deleted key, and so may a session's id be written by SET after its
// session was destroyed (tombstone.go). Clients may
// choose ids (Create.ID, e.g. scs tokens), so without tombstones a stale
// write could resurrect a session that was logged out, revoked, rotated
// away or expired. A tombstone made at log time t lasts until
// max(the record's deadline, t + DedupWindow): beyond the deadline the
// session would have expired anyway, and the window covers late retries.
// Tombstones are replicated state like records: they are in snapshots and
// Hash, they end by the log clock, and Apply prunes ended ones in a fixed
// order, a bounded number per batch. See tombstone.go for their memory
// cost.
//
// # Concurrency
//
// Apply runs on one goroutine (raft's FSM goroutine) while any number of
// readers call Get, BySubject, Expired, Clock and AppliedIndex. Records are
// immutable once stored: Apply replaces a record instead of mutating it, so
// readers and snapshots may hold *Record without locks. Records live in 64
// shards, each a hash table (table.go) under its own RWMutex. A command write-locks, in
// ascending order, exactly the shards it touches, plus the subject index,
// for its whole duration, so a reader sees every command either wholly
// applied or not at all (a rotate never shows both ids or neither).
//
// Lock order: applyMu → subMu → shard locks (ascending) → dlMu.
//
// # Encodings
//
// Raft entries (EncodeBatch), forwarded commands (AppendCommand), results
// (AppendResult: version 2 with Result.ID, version 3 with a transaction's
// outcome, used only for one), records
// (AppendRecord: version 1 for sessions, unchanged, version 2 for the other
// kinds) and snapshots (version 4: with Redis keys) share
// one style: unsigned/signed varints and length-prefixed strings, with a
// type and a version byte in front. The numbering of command types and
// error codes is part of the on-disk and on-wire format. Decoders never
// panic and never allocate more than a small constant factor of their
// input.
package fsm
