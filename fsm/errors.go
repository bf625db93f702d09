package fsm

import "errors"

// Sentinel errors returned in Result.Err (wrapped with %w and details).
// Compare with errors.Is. The node package maps them to wire codes.
var (
	ErrNotFound   = errors.New("fsm: not found")        // no live record with that id
	ErrExists     = errors.New("fsm: already exists")   // create/rotate target id is live or tombstoned
	ErrConflict   = errors.New("fsm: version mismatch") // IfVersion did not match
	ErrTooLarge   = errors.New("fsm: limit exceeded")   // a Limits bound was exceeded
	ErrInvalid    = errors.New("fsm: invalid command")  // malformed field values (empty id, bad TTL...)
	ErrCorrupt    = errors.New("fsm: corrupt encoding") // a decoder saw bytes it cannot parse
	ErrUnknownCmd = errors.New("fsm: unknown command type")
)
