package node

import (
	"fmt"
	"math"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/transport/mux"
	"github.com/sessionraft/sessionraft/transport/raftnet"
)

// Config.RaftTransport values: what a group's raft traffic is sent with.
// Both kinds are accepted in either mode, which is what makes a rolling
// upgrade possible (docs/ARCHITECTURE.md, "Raft transport").
const (
	// RaftTransportBinary sends raft RPCs with transport/raftnet: the
	// compact binary codec, pipelined replication. The default.
	RaftTransportBinary = "mux-binary"
	// RaftTransportMsgpack sends them with raft's own NetworkTransport
	// (msgpack, no pipelining), as every release before raftnet did.
	RaftTransportMsgpack = "net-msgpack"
)

// maxRaftPipeline bounds Config.RaftPipeline: each append in flight may
// hold a full AppendEntries in the leader's memory.
const maxRaftPipeline = 64

// raftRPCTimeout bounds each raft RPC's I/O, as before raftnet.
const raftRPCTimeout = 10 * time.Second

// groupTransport builds group id's raft transport: raftnet on the mux's
// binary raft connections, with raft's NetworkTransport on the msgpack
// ones beside it. track notes followers' AppendEntries answers (admin.go).
func (n *Node) groupTransport(id int, logger hclog.Logger, track *followerTrack) (*raftnet.Transport, error) {
	legacy := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  n.guardRaftStream(n.mux.StreamLayer(uint16(id))), // security.go
		MaxPool: 4,
		Timeout: raftRPCTimeout,
		Logger:  logger,
	})
	t, err := raftnet.New(raftnet.Config{
		Stream: n.mux.BinaryRaftLayer(uint16(id)),
		// PeerOf gives each inbound RPC the node id its connection's
		// certificate proves; CheckPeer refuses an RPC whose claimed
		// sender is not that node (the same check raftguard.go makes on
		// the msgpack kind).
		PeerOf:     mux.PeerOf,
		CheckPeer:  n.raftnetCheck(),
		Legacy:     legacy,
		SendLegacy: n.cfg.RaftTransport == RaftTransportMsgpack,
		OnAppend: func(id raft.ServerID, resp *raft.AppendEntriesResponse) {
			track.note(id, resp.LastLog)
		},
		MaxInFlight:        n.cfg.RaftPipeline,
		Timeout:            raftRPCTimeout,
		MaxFrameBytes:      n.cfg.raftFrameCap(),
		IdleAppendInterval: n.cfg.idleAppendInterval(),
		Logger:             n.log.With("group", id),
	})
	if err != nil {
		legacy.Close()
		return nil, fmt.Errorf("raft transport: %w", err)
	}
	return t, nil
}

// idleAppendInterval is how long raftnet may answer a leader's repeated
// entry-less AppendEntries (one every CommitTimeout on an idle group)
// without sending it (transport/raftnet/idle.go): ten CommitTimeouts,
// which is raft's own default rate of them (50 ms), and at most a tenth
// of LeaderLeaseTimeout, the most it can delay a cut-off leader's step
// down. A new commit index is never held back.
func (c *Config) idleAppendInterval() time.Duration {
	return min(10*c.CommitTimeout, c.LeaderLeaseTimeout/10)
}

// raftFrameCap bounds one raft RPC frame: the largest AppendEntries a
// leader sends, maxAppendEntries entries each up to a full batch plus the
// one command that crossed MaxBatchBytes, with room for headers.
func (c *Config) raftFrameCap() int64 {
	entry := int64(c.MaxBatchBytes) + int64(c.maxCommandBytes()) + 4<<10
	return min(maxAppendEntries*entry+1<<20, math.MaxUint32)
}

// raftnetCheck is raftnet's CheckPeer on a TLS internal port: the raft
// sender check of security.go, counted and logged like raftguard.go's
// refusals. Without TLS nothing is proven and there is no check.
func (n *Node) raftnetCheck() func(string, raft.WithRPCHeader) error {
	if n.tls == nil {
		return nil
	}
	check := checkRaftSender(n.peerID)
	return func(certID string, req raft.WithRPCHeader) error {
		if err := check(certID, req); err != nil {
			n.raftRefused(certID, fmt.Errorf("%w: %w", errRaftRefused, err))
			return err
		}
		return nil
	}
}
