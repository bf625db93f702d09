// Package raftwal is a raft.LogStore on append-only segment files: one
// write and one fdatasync per StoreLogs.
//
// Why not raft-boltdb for the log: a bbolt commit writes its data pages,
// fdatasyncs, writes the meta page and fdatasyncs again. hashicorp/raft
// appends to the leader's log and then to a follower's before a write
// commits, so the log's commit latency is paid at least twice per client
// write. On the development VM a one-entry bbolt commit took 1.0-1.3 ms
// (p50) against 0.48 ms for an append plus fdatasync (docs/benchmarks.md).
// The stable store (term and vote) stays in raft-boltdb: it is written
// rarely.
//
// No maintained Go module provides this (hashicorp/raft-wal, the closest,
// panicked on restart after kill -9 in our tests), so it is written here,
// kept small, and fuzzed: see the crash tests that cut the file at every
// offset of its tail.
//
// Format: segment files "<seq>.wal" of records
//
//	length u32 | crc32c(kind, payload) u32 | kind u8 | payload
//
// kind 1 is an entry (index u64, then the entry codec of codec.go), kind 2
// a deletion (min u64, max u64). Opening replays every segment in order;
// in the last segment the first record that is not intact (a crash during
// an append, or corruption there, which a checksum cannot tell apart) ends
// the log; in earlier segments it is ErrCorrupt.
// Deletions are records too, so a removed prefix or a truncated suffix
// stays removed after a restart; whole segments below the first index are
// deleted.
package raftwal
