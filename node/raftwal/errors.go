package raftwal

import "errors"

// Sentinel errors of the raftwal package.
var (
	// ErrCorrupt: a record or entry does not decode, or the log's records
	// contradict each other, before the end of the last segment.
	ErrCorrupt = errors.New("raftwal: corrupt log")
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
