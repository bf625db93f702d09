package snapstore

import "errors"

// Sentinel errors of the snapstore package.
var (
	// ErrDamaged: a snapshot's metadata does not decode or does not
	// describe its data (size or CRC-64 mismatch). The message names the
	// snapshot; raft then tries the next older one.
	ErrDamaged = errors.New("snapstore: damaged snapshot")
	// ErrVersion: a snapshot version this store does not write or read.
	ErrVersion = errors.New("snapstore: unsupported snapshot version")
	// ErrClosed: a sink was written after Close or Cancel.
	ErrClosed = errors.New("snapstore: sink closed")
)
