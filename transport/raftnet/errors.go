package raftnet

import "errors"

// Sentinel errors, wrapped with the cause and compared with errors.Is.
var (
	// ErrClosed: the transport or pipeline was closed. It wraps
	// raft.ErrTransportShutdown / raft.ErrPipelineShutdown where raft
	// looks for them.
	ErrClosed = errors.New("raftnet: closed")

	// ErrFrameTooLarge: a frame is over Config.MaxFrameBytes. Outbound,
	// nothing was sent; inbound, the connection is closed.
	ErrFrameTooLarge = errors.New("raftnet: frame too large")

	// ErrProtocol: the peer broke the protocol (unknown version or
	// frame type, a message that does not decode, a snapshot size that is
	// negative or not fully sent); the connection is closed.
	ErrProtocol = errors.New("raftnet: protocol violation")

	// ErrPeerRefused: Config.CheckPeer refused an RPC; the peer gets the
	// message as its RPC's error and the connection is closed.
	ErrPeerRefused = errors.New("raftnet: rpc refused")

	// ErrPipelineEnded: the follower answered an append with a newer
	// term or without success, after which raft's pipeline decoder
	// returns; the pipeline takes no more appends (raft falls back to
	// synchronous replication).
	ErrPipelineEnded = errors.New("raftnet: pipeline ended by the follower's answer")

	// ErrPipelineStalled: raft took no completed pipeline response for
	// Config.Timeout. The pipeline fails instead of waiting for a consumer
	// that may never come back, which is what deadlocked hashicorp/raft
	// v1.8.0's own pipeline.
	ErrPipelineStalled = errors.New("raftnet: pipeline consumer stopped")

	// ErrConfig is wrapped by Config.Validate's errors.
	ErrConfig = errors.New("raftnet: invalid config")
)
