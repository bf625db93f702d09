package raftcodec

import (
	"github.com/hashicorp/raft"
)

// minLogBytes is the fewest bytes one encoded raft.Log takes (index, term,
// type, two empty byte strings, the time presence byte): a count of
// entries is refused unless this many bytes per entry are left.
const minLogBytes = 6

// flag bits of an AppendEntriesResponse.
const (
	flagSuccess        = 1 << 0
	flagNoRetryBackoff = 1 << 1
)

// EncodeAppendEntriesRequest appends r's encoding to dst.
func EncodeAppendEntriesRequest(dst []byte, r *raft.AppendEntriesRequest) []byte {
	dst = putHeader(dst, &r.RPCHeader)
	dst = putUvarint(dst, r.Term)
	dst = putBytes(dst, r.Leader)
	dst = putUvarint(dst, r.PrevLogEntry)
	dst = putUvarint(dst, r.PrevLogTerm)
	dst = putUvarint(dst, r.LeaderCommitIndex)
	dst = putUvarint(dst, uint64(len(r.Entries)))
	for _, l := range r.Entries {
		dst = putLog(dst, l)
	}
	return dst
}

func putLog(dst []byte, l *raft.Log) []byte {
	dst = putUvarint(dst, l.Index)
	dst = putUvarint(dst, l.Term)
	dst = append(dst, byte(l.Type))
	dst = putBytes(dst, l.Data)
	dst = putBytes(dst, l.Extensions)
	return putTime(dst, l.AppendedAt)
}

// DecodeAppendEntriesRequest decodes b, which it aliases, into r. The
// entries share one allocation.
func DecodeAppendEntriesRequest(b []byte, r *raft.AppendEntriesRequest) error {
	d := reader{b: b}
	d.header(&r.RPCHeader)
	r.Term = d.uvarint("term")
	r.Leader = d.bytes("leader")
	r.PrevLogEntry = d.uvarint("prev log entry")
	r.PrevLogTerm = d.uvarint("prev log term")
	r.LeaderCommitIndex = d.uvarint("leader commit index")
	n := d.uvarint("entry count")
	if d.err == nil && n > uint64(d.left()/minLogBytes) {
		d.fail("entry count %d beyond the %d bytes left", n, d.left())
	}
	r.Entries = nil
	if d.err == nil && n > 0 {
		logs := make([]raft.Log, n)
		r.Entries = make([]*raft.Log, n)
		for i := range logs {
			l := &logs[i]
			l.Index = d.uvarint("log index")
			l.Term = d.uvarint("log term")
			l.Type = raft.LogType(d.byte("log type"))
			l.Data = d.bytes("log data")
			l.Extensions = d.bytes("log extensions")
			l.AppendedAt = d.time("log appended at")
			r.Entries[i] = l
		}
	}
	return d.end("append entries request")
}

// EncodeAppendEntriesResponse appends r's encoding to dst.
func EncodeAppendEntriesResponse(dst []byte, r *raft.AppendEntriesResponse) []byte {
	dst = putHeader(dst, &r.RPCHeader)
	dst = putUvarint(dst, r.Term)
	dst = putUvarint(dst, r.LastLog)
	var f byte
	if r.Success {
		f |= flagSuccess
	}
	if r.NoRetryBackoff {
		f |= flagNoRetryBackoff
	}
	return append(dst, f)
}

// DecodeAppendEntriesResponse decodes b, which it aliases, into r.
func DecodeAppendEntriesResponse(b []byte, r *raft.AppendEntriesResponse) error {
	d := reader{b: b}
	d.header(&r.RPCHeader)
	r.Term = d.uvarint("term")
	r.LastLog = d.uvarint("last log")
	f := d.byte("flags")
	if f&^(flagSuccess|flagNoRetryBackoff) != 0 {
		d.fail("append entries response: unknown flags %#x", f)
	}
	r.Success = f&flagSuccess != 0
	r.NoRetryBackoff = f&flagNoRetryBackoff != 0
	return d.end("append entries response")
}

// EncodeRequestVoteRequest appends r's encoding to dst.
func EncodeRequestVoteRequest(dst []byte, r *raft.RequestVoteRequest) []byte {
	dst = putHeader(dst, &r.RPCHeader)
	dst = putUvarint(dst, r.Term)
	dst = putBytes(dst, r.Candidate)
	dst = putUvarint(dst, r.LastLogIndex)
	dst = putUvarint(dst, r.LastLogTerm)
	return putBool(dst, r.LeadershipTransfer)
}

// DecodeRequestVoteRequest decodes b, which it aliases, into r.
func DecodeRequestVoteRequest(b []byte, r *raft.RequestVoteRequest) error {
	d := reader{b: b}
	d.header(&r.RPCHeader)
	r.Term = d.uvarint("term")
	r.Candidate = d.bytes("candidate")
	r.LastLogIndex = d.uvarint("last log index")
	r.LastLogTerm = d.uvarint("last log term")
	r.LeadershipTransfer = d.bool("leadership transfer")
	return d.end("request vote request")
}

// EncodeRequestVoteResponse appends r's encoding to dst.
func EncodeRequestVoteResponse(dst []byte, r *raft.RequestVoteResponse) []byte {
	dst = putHeader(dst, &r.RPCHeader)
	dst = putUvarint(dst, r.Term)
	dst = putBytes(dst, r.Peers)
	return putBool(dst, r.Granted)
}

// DecodeRequestVoteResponse decodes b, which it aliases, into r.
func DecodeRequestVoteResponse(b []byte, r *raft.RequestVoteResponse) error {
	d := reader{b: b}
	d.header(&r.RPCHeader)
	r.Term = d.uvarint("term")
	r.Peers = d.bytes("peers")
	r.Granted = d.bool("granted")
	return d.end("request vote response")
}

// EncodeRequestPreVoteRequest appends r's encoding to dst.
func EncodeRequestPreVoteRequest(dst []byte, r *raft.RequestPreVoteRequest) []byte {
	dst = putHeader(dst, &r.RPCHeader)
	dst = putUvarint(dst, r.Term)
	dst = putUvarint(dst, r.LastLogIndex)
	return putUvarint(dst, r.LastLogTerm)
}

// DecodeRequestPreVoteRequest decodes b, which it aliases, into r.
func DecodeRequestPreVoteRequest(b []byte, r *raft.RequestPreVoteRequest) error {
	d := reader{b: b}
	d.header(&r.RPCHeader)
	r.Term = d.uvarint("term")
	r.LastLogIndex = d.uvarint("last log index")
	r.LastLogTerm = d.uvarint("last log term")
	return d.end("pre-vote request")
}

// EncodeRequestPreVoteResponse appends r's encoding to dst.
func EncodeRequestPreVoteResponse(dst []byte, r *raft.RequestPreVoteResponse) []byte {
	dst = putHeader(dst, &r.RPCHeader)
	dst = putUvarint(dst, r.Term)
	return putBool(dst, r.Granted)
}

// DecodeRequestPreVoteResponse decodes b, which it aliases, into r.
func DecodeRequestPreVoteResponse(b []byte, r *raft.RequestPreVoteResponse) error {
	d := reader{b: b}
	d.header(&r.RPCHeader)
	r.Term = d.uvarint("term")
	r.Granted = d.bool("granted")
	return d.end("pre-vote response")
}

// EncodeInstallSnapshotRequest appends r's encoding to dst. The snapshot's
// bytes are not part of it: the transport streams them after the message.
func EncodeInstallSnapshotRequest(dst []byte, r *raft.InstallSnapshotRequest) []byte {
	dst = putHeader(dst, &r.RPCHeader)
	dst = putVarint(dst, int64(r.SnapshotVersion))
	dst = putUvarint(dst, r.Term)
	dst = putBytes(dst, r.Leader)
	dst = putUvarint(dst, r.LastLogIndex)
	dst = putUvarint(dst, r.LastLogTerm)
	dst = putBytes(dst, r.Peers)
	dst = putBytes(dst, r.Configuration)
	dst = putUvarint(dst, r.ConfigurationIndex)
	return putVarint(dst, r.Size)
}

// DecodeInstallSnapshotRequest decodes b, which it aliases, into r. A
// negative Size is carried as it is; the transport refuses it.
func DecodeInstallSnapshotRequest(b []byte, r *raft.InstallSnapshotRequest) error {
	d := reader{b: b}
	d.header(&r.RPCHeader)
	r.SnapshotVersion = raft.SnapshotVersion(d.varint("snapshot version"))
	r.Term = d.uvarint("term")
	r.Leader = d.bytes("leader")
	r.LastLogIndex = d.uvarint("last log index")
	r.LastLogTerm = d.uvarint("last log term")
	r.Peers = d.bytes("peers")
	r.Configuration = d.bytes("configuration")
	r.ConfigurationIndex = d.uvarint("configuration index")
	r.Size = d.varint("size")
	return d.end("install snapshot request")
}

// EncodeInstallSnapshotResponse appends r's encoding to dst.
func EncodeInstallSnapshotResponse(dst []byte, r *raft.InstallSnapshotResponse) []byte {
	dst = putHeader(dst, &r.RPCHeader)
	dst = putUvarint(dst, r.Term)
	return putBool(dst, r.Success)
}

// DecodeInstallSnapshotResponse decodes b, which it aliases, into r.
func DecodeInstallSnapshotResponse(b []byte, r *raft.InstallSnapshotResponse) error {
	d := reader{b: b}
	d.header(&r.RPCHeader)
	r.Term = d.uvarint("term")
	r.Success = d.bool("success")
	return d.end("install snapshot response")
}

// EncodeTimeoutNowRequest appends r's encoding to dst.
func EncodeTimeoutNowRequest(dst []byte, r *raft.TimeoutNowRequest) []byte {
	return putHeader(dst, &r.RPCHeader)
}

// DecodeTimeoutNowRequest decodes b, which it aliases, into r.
func DecodeTimeoutNowRequest(b []byte, r *raft.TimeoutNowRequest) error {
	d := reader{b: b}
	d.header(&r.RPCHeader)
	return d.end("timeout now request")
}

// EncodeTimeoutNowResponse appends r's encoding to dst.
func EncodeTimeoutNowResponse(dst []byte, r *raft.TimeoutNowResponse) []byte {
	return putHeader(dst, &r.RPCHeader)
}

// DecodeTimeoutNowResponse decodes b, which it aliases, into r.
func DecodeTimeoutNowResponse(b []byte, r *raft.TimeoutNowResponse) error {
	d := reader{b: b}
	d.header(&r.RPCHeader)
	return d.end("timeout now response")
}
