package raftwal

import "errors"

// Sentinel errors of the raftwal package.
var (
	// ErrCorrupt: Open found damage that a crash cannot leave (a bad
	// record other than a torn final write, or records that contradict
	// each other); the message names the segment file, the byte offset and
	// the entries affected, and no file was changed. The way out is to
	// replace this replica's log from its peers.
	ErrCorrupt = errors.New("raftwal: corrupt log")
	// ErrChecksum: a record read back after Open does not match what was
	// written (its checksum, length or index); the message names the
	// entry, the segment file and the byte offset. The entry is not
	// returned.
	ErrChecksum = errors.New("raftwal: checksum mismatch")
	// ErrNotContiguous: StoreLogs was given an index that does not follow
	// the last one.
	ErrNotContiguous = errors.New("raftwal: entries not contiguous")
	// ErrUnsupported: DeleteRange of a range that is neither a prefix nor a
	// suffix of the log (hashicorp/raft never asks for one).
	ErrUnsupported = errors.New("raftwal: unsupported deletion")
	// ErrTooLarge: an entry does not fit in one record (maxRecord).
	ErrTooLarge = errors.New("raftwal: entry too large")
	// ErrClosed: the log is closed, or failed and must be reopened.
	ErrClosed = errors.New("raftwal: closed")
)
