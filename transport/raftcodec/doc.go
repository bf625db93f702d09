// Package raftcodec is a compact binary encoding of hashicorp/raft's RPC
// structs (AppendEntries, RequestVote, RequestPreVote, InstallSnapshot,
// TimeoutNow, requests and responses), used by transport/raftnet in place
// of raft's msgpack.
//
// Every field of the structs is carried, RPCHeader.ID and Addr and each
// Log's Extensions and AppendedAt included. Integers are varints, byte
// strings a uvarint length and the bytes, booleans one byte (0 or 1, or a
// flag bit), a Log's AppendedAt a presence byte then seconds (zigzag
// varint) and nanoseconds (uvarint). There are no field tags: the layout
// is fixed, and a change to it is a new transport stream kind (see
// transport/raftnet), not a silent reinterpretation.
//
// Encoders append to a caller's buffer. Decoders take one complete
// message, refuse trailing bytes, and alias their input: decoded byte
// slices (Data, Extensions, ids, addresses) point into it, so the caller
// hands the buffer over and must not reuse it. Decoding never allocates
// before the input proves the bytes exist: a count is checked against the
// bytes left before anything is made for it, so the memory a message costs
// is bounded by a small multiple of its length (one raft.Log, 96 bytes, per
// at least 6 input bytes), however hostile the input.
package raftcodec
