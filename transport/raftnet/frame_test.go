package raftnet

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/transport/raftcodec"
)

// TestReadFrameBounds: a frame over the cap is refused from its header;
// one under the cap that claims more than arrives costs about what
// arrived, not what it claims.
func TestReadFrameBounds(t *testing.T) {
	hdr := func(n uint32) []byte {
		b := binary.BigEndian.AppendUint32(nil, n)
		return append(b, typeAppendEntries)
	}
	if _, _, err := readFrame(bufio.NewReader(bytes.NewReader(hdr(1<<30))), 1<<20); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
	if _, _, err := readFrame(bufio.NewReader(bytes.NewReader(hdr(0))), 1<<20); !errors.Is(err, ErrProtocol) {
		t.Fatalf("zero length: %v", err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 20 {
		in := append(hdr(1<<30), make([]byte, 1000)...) // claims 1 GiB, sends 1000 bytes
		if _, _, err := readFrame(bufio.NewReader(bytes.NewReader(in)), 2<<30); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("truncated: %v", err)
		}
	}
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 20*(firstChunk+64<<10) {
		t.Fatalf("20 frames claiming 1 GiB and sending 1000 bytes allocated %d bytes", d)
	}
}

// TestHostileFrameClosesConnection: a peer sending a frame over the cap
// or garbage is disconnected; raft sees nothing.
func TestHostileFrameClosesConnection(t *testing.T) {
	m := newMux(t, nil)
	srv := newTransport(t, m, Config{MaxFrameBytes: 1 << 20})
	peer := newMux(t, nil)
	layer := peer.BinaryRaftLayer(0)
	t.Cleanup(func() { layer.Close() })
	for name, payload := range map[string][]byte{
		"bad version": {9},
		"oversized":   append([]byte{protoVersion}, 0x40, 0, 0, 0, typeAppendEntries),
		"bad type":    append([]byte{protoVersion}, 0, 0, 0, 1, 77),
		"bad message": append([]byte{protoVersion}, 0, 0, 0, 3, typeAppendEntries, 0xff, 0xff),
	} {
		c, err := layer.Dial(srv.LocalAddr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(payload); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(30 * time.Second)) // a hang detector
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Fatalf("%s: connection not closed: %v", name, err)
		}
		c.Close()
	}
	select {
	case rpc := <-srv.Consumer():
		t.Fatalf("raft got %+v", rpc.Command)
	default:
	}
}

// FuzzServerFrames feeds arbitrary bytes to the inbound decoding path
// (frame, then message by type): no panic, and only this package's errors.
func FuzzServerFrames(f *testing.F) {
	ae, _ := appendFrame(nil, typeAppendEntries, 1<<20, func(b []byte) []byte {
		return raftcodec.EncodeAppendEntriesRequest(b, &raft.AppendEntriesRequest{Term: 3, Entries: []*raft.Log{{Index: 1, Data: []byte("x")}}})
	})
	f.Add(ae)
	is, _ := appendFrame(nil, typeInstallSnapshot, 1<<20, func(b []byte) []byte {
		return raftcodec.EncodeInstallSnapshotRequest(b, &raft.InstallSnapshotRequest{Size: 10})
	})
	f.Add(is)
	f.Add([]byte{0, 0, 0, 1, typeTimeoutNow})
	f.Fuzz(func(t *testing.T, b []byte) {
		br := bufio.NewReader(bytes.NewReader(b))
		for {
			typ, body, err := readFrame(br, 1<<16)
			if err != nil {
				return
			}
			if _, _, err := decodeRequest(typ, body); err != nil && !errors.Is(err, ErrProtocol) {
				t.Fatalf("decode error outside ErrProtocol: %v", err)
			}
		}
	})
}

// FuzzResponseFrames feeds arbitrary bytes to the response path.
func FuzzResponseFrames(f *testing.F) {
	ok, _ := appendResponse(nil, nil, 1<<20, responseEncoder(typeAppendEntries, &raft.AppendEntriesResponse{Term: 2, Success: true}))
	f.Add(ok)
	bad, _ := appendResponse(nil, errors.New("no"), 1<<20, responseEncoder(typeRequestVote, nil))
	f.Add(bad)
	f.Fuzz(func(t *testing.T, b []byte) {
		br := bufio.NewReader(bytes.NewReader(b))
		for {
			status, body, err := readFrame(br, 1<<16)
			if err != nil {
				return
			}
			_, msg, err := splitResponse(status, body)
			if err != nil {
				if !errors.Is(err, ErrProtocol) {
					t.Fatalf("split error outside ErrProtocol: %v", err)
				}
				continue
			}
			var r raft.AppendEntriesResponse
			if err := raftcodec.DecodeAppendEntriesResponse(msg, &r); err != nil && !errors.Is(err, raftcodec.ErrMalformed) {
				t.Fatalf("decode: %v", err)
			}
		}
	})
}
