package raftcodec

import (
	"bytes"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"
)

// benchAppend is an AppendEntries as a busy leader sends it: n entries of
// size bytes, each with an AppendedAt.
func benchAppend(n, size int) *raft.AppendEntriesRequest {
	r := &raft.AppendEntriesRequest{
		RPCHeader:         raft.RPCHeader{ProtocolVersion: 3, ID: []byte("node-1"), Addr: []byte("10.0.0.1:7000")},
		Term:              7,
		Leader:            []byte("10.0.0.1:7000"),
		PrevLogEntry:      123456,
		PrevLogTerm:       7,
		LeaderCommitIndex: 123450,
	}
	now := time.Now()
	for i := range n {
		r.Entries = append(r.Entries, &raft.Log{
			Index: 123457 + uint64(i), Term: 7, Type: raft.LogCommand,
			Data: bytes.Repeat([]byte{'x'}, size), AppendedAt: now,
		})
	}
	return r
}

var benchCases = []struct {
	name    string
	n, size int
}{
	{"heartbeat", 0, 0},
	{"1x256B", 1, 256},
	{"16x4KiB", 16, 4096},
}

func BenchmarkEncodeAppendEntries(b *testing.B) {
	for _, c := range benchCases {
		req := benchAppend(c.n, c.size)
		b.Run("binary/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				buf = EncodeAppendEntriesRequest(buf[:0], req)
			}
			b.SetBytes(int64(len(buf)))
		})
		b.Run("msgpack/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			var buf bytes.Buffer
			h := &codec.MsgpackHandle{}
			enc := codec.NewEncoder(&buf, h)
			for b.Loop() {
				buf.Reset()
				enc.Reset(&buf)
				if err := enc.Encode(req); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(buf.Len()))
		})
	}
}

func BenchmarkDecodeAppendEntries(b *testing.B) {
	for _, c := range benchCases {
		req := benchAppend(c.n, c.size)
		bin := EncodeAppendEntriesRequest(nil, req)
		b.Run("binary/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bin)))
			for b.Loop() {
				// The transport hands each frame over, so each decode gets
				// its own copy, as it would off the wire.
				in := append([]byte(nil), bin...)
				var out raft.AppendEntriesRequest
				if err := DecodeAppendEntriesRequest(in, &out); err != nil {
					b.Fatal(err)
				}
			}
		})
		var mp bytes.Buffer
		h := &codec.MsgpackHandle{}
		if err := codec.NewEncoder(&mp, h).Encode(req); err != nil {
			b.Fatal(err)
		}
		b.Run("msgpack/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(mp.Len()))
			dec := codec.NewDecoderBytes(nil, h)
			for b.Loop() {
				in := append([]byte(nil), mp.Bytes()...)
				dec.ResetBytes(in)
				var out raft.AppendEntriesRequest
				if err := dec.Decode(&out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendEntriesResponse(b *testing.B) {
	resp := &raft.AppendEntriesResponse{RPCHeader: raft.RPCHeader{ProtocolVersion: 3, ID: []byte("node-2"), Addr: []byte("10.0.0.2:7000")}, Term: 7, LastLog: 123472, Success: true}
	b.Run("binary", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = EncodeAppendEntriesResponse(buf[:0], resp)
			var out raft.AppendEntriesResponse
			if err := DecodeAppendEntriesResponse(append([]byte(nil), buf...), &out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("msgpack", func(b *testing.B) {
		b.ReportAllocs()
		h := &codec.MsgpackHandle{}
		var buf bytes.Buffer
		enc := codec.NewEncoder(&buf, h)
		dec := codec.NewDecoderBytes(nil, h)
		for b.Loop() {
			buf.Reset()
			enc.Reset(&buf)
			if err := enc.Encode(resp); err != nil {
				b.Fatal(err)
			}
			dec.ResetBytes(append([]byte(nil), buf.Bytes()...))
			var out raft.AppendEntriesResponse
			if err := dec.Decode(&out); err != nil {
				b.Fatal(err)
			}
		}
	})
}
