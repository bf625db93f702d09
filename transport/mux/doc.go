// Package mux multiplexes one node's internal TCP port between the raft
// traffic of all of its raft groups and an internal request/response RPC used
// to forward client commands to group leaders.
//
// Every connection starts with a small header written by the dialer (see
// header.go): magic "SRMX", a version byte, a kind byte ('R' raft, 'B' binary
// raft, 'P' rpc),
// the raft group for raft connections, the dialer's advertised mux address
// and the node id the dialer claims to be. The acceptor answers a valid, accepted header with one ack byte,
// so a dialer learns before it sends anything else whether the peer took the
// connection; that is what lets Call say "certainly not delivered"
// (ErrUnreachable) instead of "outcome unknown" (ErrConnLost) when a peer
// refuses a connection.
//
// # Authentication
//
// With Config.TLS set (see transport/tlsconf) every accepted and dialed
// connection is TLS 1.3 with certificates from the cluster CA on both
// sides, and the header travels inside it. The acceptor refuses, before
// the ack and before reading anything else, a connection whose handshake
// fails (plaintext, no certificate, another CA, a certificate naming no
// node) or whose header claims another node id than its certificate names
// or an address that Config.PeerID attributes to another node. The dialer
// refuses a server whose certificate does not name the node Config.PeerID
// expects at that address. RPC handlers learn the proven caller from
// CallerFrom(ctx). Without TLS the mux is plaintext and trusts every
// header: for tests and closed networks only.
//
// # Resource bounds
//
// Whoever reaches the port, with or without TLS: at most
// Config.MaxInboundConns accepted connections exist at once (more are closed
// unread); the handshake and header must complete within HeaderTimeout; RPC
// frames are capped at MaxRPCBytes and their buffers grow as bytes arrive,
// so a header claiming a large frame costs nothing until the bytes come;
// running handlers are capped by MaxConcurrentHandlers (BUSY beyond);
// inline and deferred methods (HandleInline, HandleDeferred) take no
// goroutine and are not counted, so their handlers must bound their own
// work.
//
// Raft connections are handed, after the header, as plain byte streams to the
// raft.StreamLayer of their group and kind: Mux.StreamLayer for raft's own
// msgpack NetworkTransport ('R'), Mux.BinaryRaftLayer for transport/raftnet
// ('B'). PeerOf tells a transport which node an accepted raft connection's
// certificate names. A mux that predates 'B' refuses it before the ack.
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
