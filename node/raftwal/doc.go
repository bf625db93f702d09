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
// offset of its tail and the power-loss test (powerloss_test.go) that
// tears unsynced writes on an in-memory file system at random points
// (internal/crashfs, shared with node/snapstore).
//
// Format: segment files "<seq>.wal" of records
//
//	length u32 | crc32c(kind, payload) u32 | kind u8 | payload
//
// kind 1 is an entry (index u64, then the entry codec of codec.go), kind 2
// a deletion (min u64, max u64). Each write (one StoreLogs or DeleteRange)
// starts with a write header, a deletion of the single index
// 0xFFFF<<48|n where n is the write's length (record.go): a binary from
// before headers reads it as a deletion of nothing.
//
// Opening replays every segment in order and cuts only what a crash can
// leave: a torn final write in the last segment (scan.go says exactly
// which damage that is), logged with the segment, offset and bytes cut.
// Any other bad record makes Open fail with ErrCorrupt, naming the segment
// file, the byte offset and the entries affected, and changes no file; the
// way out is to replace the replica's log from its peers. GetLog verifies
// each record's checksum too (ErrChecksum), so damage that appears later
// is never handed to raft.
// Deletions are records too, so a removed prefix or a truncated suffix
// stays removed after a restart; whole segments below the first index are
// deleted.
package raftwal
