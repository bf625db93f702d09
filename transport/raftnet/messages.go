package raftnet

import (
	"fmt"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/transport/raftcodec"
)

// decodeRequest decodes an inbound request frame into the command raft
// expects, with its header for CheckPeer.
func decodeRequest(typ byte, body []byte) (cmd any, hdr raft.RPCHeader, err error) {
	switch typ {
	case typeAppendEntries:
		r := new(raft.AppendEntriesRequest)
		err = raftcodec.DecodeAppendEntriesRequest(body, r)
		cmd, hdr = r, r.RPCHeader
	case typeRequestVote:
		r := new(raft.RequestVoteRequest)
		err = raftcodec.DecodeRequestVoteRequest(body, r)
		cmd, hdr = r, r.RPCHeader
	case typeRequestPreVote:
		r := new(raft.RequestPreVoteRequest)
		err = raftcodec.DecodeRequestPreVoteRequest(body, r)
		cmd, hdr = r, r.RPCHeader
	case typeInstallSnapshot:
		r := new(raft.InstallSnapshotRequest)
		err = raftcodec.DecodeInstallSnapshotRequest(body, r)
		cmd, hdr = r, r.RPCHeader
	case typeTimeoutNow:
		r := new(raft.TimeoutNowRequest)
		err = raftcodec.DecodeTimeoutNowRequest(body, r)
		cmd, hdr = r, r.RPCHeader
	default:
		return nil, hdr, fmt.Errorf("%w: request type %d", ErrProtocol, typ)
	}
	if err != nil {
		return nil, hdr, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	return cmd, hdr, nil
}

// responseEncoder returns the encoder of the response to a request of type
// typ. resp is what raft answered; anything but the matching type (a nil
// response with an error, say) is sent as that type's zero value, which is
// what the peer's raft reads next to the error.
func responseEncoder(typ byte, resp any) func([]byte) []byte {
	switch typ {
	case typeAppendEntries:
		r, ok := resp.(*raft.AppendEntriesResponse)
		if !ok {
			r = new(raft.AppendEntriesResponse)
		}
		return func(b []byte) []byte { return raftcodec.EncodeAppendEntriesResponse(b, r) }
	case typeRequestVote:
		r, ok := resp.(*raft.RequestVoteResponse)
		if !ok {
			r = new(raft.RequestVoteResponse)
		}
		return func(b []byte) []byte { return raftcodec.EncodeRequestVoteResponse(b, r) }
	case typeRequestPreVote:
		r, ok := resp.(*raft.RequestPreVoteResponse)
		if !ok {
			r = new(raft.RequestPreVoteResponse)
		}
		return func(b []byte) []byte { return raftcodec.EncodeRequestPreVoteResponse(b, r) }
	case typeInstallSnapshot:
		r, ok := resp.(*raft.InstallSnapshotResponse)
		if !ok {
			r = new(raft.InstallSnapshotResponse)
		}
		return func(b []byte) []byte { return raftcodec.EncodeInstallSnapshotResponse(b, r) }
	default: // typeTimeoutNow; decodeRequest refused every other type
		r, ok := resp.(*raft.TimeoutNowResponse)
		if !ok {
			r = new(raft.TimeoutNowResponse)
		}
		return func(b []byte) []byte { return raftcodec.EncodeTimeoutNowResponse(b, r) }
	}
}

// isHeartbeat is raft's own test (NetworkTransport uses the same): an
// AppendEntries carrying nothing but the leader's term and address, which
// the heartbeat handler may answer without waiting behind the disk.
func isHeartbeat(r *raft.AppendEntriesRequest) bool {
	leader := r.Addr
	if len(leader) == 0 {
		leader = r.Leader
	}
	return r.Term != 0 && leader != nil && r.PrevLogEntry == 0 && r.PrevLogTerm == 0 &&
		len(r.Entries) == 0 && r.LeaderCommitIndex == 0
}
