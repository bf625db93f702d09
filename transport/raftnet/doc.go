// Package raftnet is a raft.Transport for one raft group over the mux's
// binary raft connections (mux.BinaryRaftLayer), with messages encoded by
// transport/raftcodec instead of raft's msgpack.
//
// What it does differently from raft's NetworkTransport, and why:
//   - Compact binary messages: encoding is a few appends into a reused
//     buffer, decoding one pass that aliases the frame (no reflection).
//   - Pipelined replication that cannot deadlock (pipeline.go explains
//     hashicorp/raft v1.8.0's deadlock and the invariant that rules it
//     out), so a follower has up to MaxInFlight appends in flight.
//   - Fewer syscalls: a request is one write; a pipeline's writer sends
//     every frame queued since its last write in one write; an acceptor
//     flushes its responses only when no further request is buffered.
//   - Bounded frames: MaxFrameBytes both ways, buffers that grow only as
//     bytes arrive, decoders that check counts against bytes first.
//   - A per-RPC peer check (Config.CheckPeer) with the node id the
//     connection's TLS certificate proves (Config.PeerOf).
//
// Connections are reused: synchronous RPCs (heartbeats, votes, appends
// outside the pipeline, snapshots) take an idle connection to the peer or
// dial one and give it back; each pipeline keeps its own. The acceptor
// serves a connection's requests one at a time, in order; heartbeats go to
// raft's heartbeat handler on the connection's goroutine, everything else
// through Consumer.
//
// Rolling upgrade: Config.Legacy serves raft's own msgpack connections of
// the same group beside the binary ones, and Config.SendLegacy sends
// through it. docs/ARCHITECTURE.md ("Raft transport") has the procedure.
package raftnet
