// Package mux multiplexes one node's internal TCP port between the raft
// traffic of all of its raft groups and an internal request/response RPC used
// to forward client commands to group leaders.
//
// Every connection starts with a small header written by the dialer (see
// header.go): magic "SRMX", a version byte, a kind byte ('R' raft, 'P' rpc),
// the raft group for raft connections, and the dialer's advertised mux
// address. The acceptor answers a valid, accepted header with one ack byte,
// so a dialer learns before it sends anything else whether the peer took the
// connection; that is what lets Call say "certainly not delivered"
// (ErrUnreachable) instead of "outcome unknown" (ErrConnLost) when a peer
// refuses a connection.
//
// Raft connections are handed, after the header, as plain byte streams to the
// raft.StreamLayer of their group (Mux.StreamLayer), so each group runs its
// own unmodified raft.NetworkTransport.
//
// RPC connections are persistent; a few per peer carry many concurrent calls,
// matched to responses by request id. The error contract of Call is the point
// of the package:
//
//   - errors.Is(err, ErrConnLost): the request may or may not have reached the
//     handler; a write must be reported as indeterminate.
//   - every other error is definite: ErrUnreachable (never delivered),
//     ErrFrameTooLarge / ErrClosed (never sent), or *RemoteError (the peer
//     answered; codes BUSY and TOOLARGE mean the handler did not run).
//
// Faults (Mux.Faults) injects partitions at connection level for the jepsen
// harness.
package mux
