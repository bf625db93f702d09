package fsm

import (
	"errors"
	"strconv"
	"strings"
)

// Sentinel errors of the fsm package, returned in Result.Err (wrapped with
// %w and a detail) and by the decoders. Compare with errors.Is; the node
// package maps them to wire codes and to the texts users read (its
// errTable), so these texts never reach a client.
//
// The texts, and the details Apply adds to them, are part of the
// replicated state: the dedup table stores a result's error message, and
// snapshots and Hash include it. Changing one changes what a replica of a
// newer version stores for the same log, so leave them alone.
var (
	// ErrNotFound: no live record with that id.
	ErrNotFound = errors.New("fsm: not found")
	// ErrExists: a create or rotate target id is live, or tombstoned
	// ("used before").
	ErrExists = errors.New("fsm: already exists")
	// ErrConflict: IfVersion did not match the record's version. The
	// detail ends "is at version N, not M"; see ConflictVersion.
	ErrConflict = errors.New("fsm: version mismatch")
	// ErrTooLarge: a Limits bound was exceeded. The detail names the limit
	// and both sizes, e.g. "record size 70000 exceeds 65536".
	ErrTooLarge = errors.New("fsm: limit exceeded")
	// ErrInvalid: malformed field values (empty id, bad TTL...).
	ErrInvalid = errors.New("fsm: invalid command")
	// ErrCorrupt: a decoder saw bytes it cannot parse.
	ErrCorrupt = errors.New("fsm: corrupt encoding")
	// ErrUnknownCmd: a command type or version this binary does not know.
	ErrUnknownCmd = errors.New("fsm: unknown command type")
	// ErrWrongType: the command does not apply to the kind of value the
	// key holds (Redis's WRONGTYPE), e.g. INCRBY on a hash or SET ... GET
	// on a set. Nothing was changed.
	ErrWrongType = errors.New("fsm: wrong kind of value")
	// ErrNotInteger: INCRBY or HINCRBY met a value that is not a decimal
	// 64-bit integer as Redis writes them.
	ErrNotInteger = errors.New("fsm: value is not an integer")
	// ErrOverflow: an increment would leave the 64-bit range.
	ErrOverflow = errors.New("fsm: increment or decrement would overflow")
)

// conflictAt is how Apply's ErrConflict detail reports the version it saw.
const conflictAt = " is at version "

// ConflictVersion returns the version a failed IfVersion check saw, read
// from err's message: the one Apply wrote, or the same text rebuilt from a
// Result or a dedup entry. ok is false if err is not an ErrConflict or its
// message does not say (an older format).
func ConflictVersion(err error) (version uint64, ok bool) {
	if !errors.Is(err, ErrConflict) {
		return 0, false
	}
	msg := err.Error()
	i := strings.LastIndex(msg, conflictAt)
	if i < 0 {
		return 0, false
	}
	digits, _, _ := strings.Cut(msg[i+len(conflictAt):], ",")
	v, perr := strconv.ParseUint(digits, 10, 64)
	return v, perr == nil
}
