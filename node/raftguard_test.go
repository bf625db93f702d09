package node

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"
)

// loopLayer is a raft.StreamLayer over a loopback TCP listener: raft's
// NetworkTransport as in production, without the mux. Like the mux's
// layers, Close closes the connections it accepted (raft's transport
// does not).
type loopLayer struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newLoopLayer(t *testing.T) *loopLayer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return &loopLayer{ln: ln}
}

func (l *loopLayer) Accept() (net.Conn, error) {
	c, err := l.ln.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

func (l *loopLayer) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
	return l.ln.Close()
}

func (l *loopLayer) Addr() net.Addr { return l.ln.Addr() }
func (l *loopLayer) Dial(a raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", string(a), timeout)
}

// guardPair is a sender transport and a guarded receiver whose
// connections all count as proven for node "a"; the receiver answers every
// RPC and records what raft got.
type guardPair struct {
	send, recv *raft.NetworkTransport
	target     raft.ServerAddress

	mu      sync.Mutex
	got     []raft.RPC
	snap    [][]byte
	refused []error
}

func newGuardPair(t *testing.T, peerID func(string) string) *guardPair {
	t.Helper()
	p := &guardPair{}
	in := newLoopLayer(t)
	p.target = raft.ServerAddress(in.Addr().String())
	guarded := &guardedStreamLayer{
		StreamLayer: in,
		certID:      func(net.Conn) (string, bool) { return "a", true },
		check:       checkRaftSender(peerID),
		refused: func(_ string, err error) {
			p.mu.Lock()
			p.refused = append(p.refused, err)
			p.mu.Unlock()
		},
	}
	p.recv = raft.NewNetworkTransport(guarded, 2, 5*time.Second, io.Discard)
	p.send = raft.NewNetworkTransport(newLoopLayer(t), 2, 5*time.Second, io.Discard)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			var rpc raft.RPC
			select {
			case rpc = <-p.recv.Consumer():
			case <-stop:
				return
			}
			var data []byte
			var resp any
			switch rpc.Command.(type) {
			case *raft.AppendEntriesRequest:
				resp = &raft.AppendEntriesResponse{Success: true}
			case *raft.RequestVoteRequest:
				resp = &raft.RequestVoteResponse{Granted: true}
			case *raft.RequestPreVoteRequest:
				resp = &raft.RequestPreVoteResponse{Granted: true}
			case *raft.InstallSnapshotRequest:
				data, _ = io.ReadAll(rpc.Reader)
				resp = &raft.InstallSnapshotResponse{Success: true}
			case *raft.TimeoutNowRequest:
				resp = &raft.TimeoutNowResponse{}
			}
			p.mu.Lock()
			p.got = append(p.got, rpc)
			p.snap = append(p.snap, data)
			p.mu.Unlock()
			rpc.Respond(resp, nil)
		}
	}()
	t.Cleanup(func() {
		p.send.Close()
		p.recv.Close()
		close(stop)
		<-done
	})
	return p
}

func (p *guardPair) counts() (got, refused int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.got), len(p.refused)
}

func hdr(id, addr string) raft.RPCHeader {
	return raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte(id), Addr: []byte(addr)}
}

// TestRaftGuardPassesGenuineMessages: every raft request type from the
// node the certificate proves reaches raft unchanged, an InstallSnapshot's
// data included, several on one connection.
func TestRaftGuardPassesGenuineMessages(t *testing.T) {
	p := newGuardPair(t, func(string) string { return "" })
	entries := []*raft.Log{{Index: 7, Term: 3, Type: raft.LogCommand, Data: bytes.Repeat([]byte("x"), 300<<10)}, {Index: 8, Term: 3, Type: raft.LogCommand, Data: []byte("y")}}
	for range 3 { // reuses the pooled connection
		var ae raft.AppendEntriesResponse
		if err := p.send.AppendEntries("b", p.target, &raft.AppendEntriesRequest{RPCHeader: hdr("a", "A:1"), Term: 3, Leader: []byte("A:1"), PrevLogEntry: 6, PrevLogTerm: 3, Entries: entries, LeaderCommitIndex: 6}, &ae); err != nil || !ae.Success {
			t.Fatalf("AppendEntries: %v %+v", err, ae)
		}
	}
	var rv raft.RequestVoteResponse
	if err := p.send.RequestVote("b", p.target, &raft.RequestVoteRequest{RPCHeader: hdr("a", "A:1"), Term: 4, Candidate: []byte("A:1")}, &rv); err != nil || !rv.Granted {
		t.Fatalf("RequestVote: %v %+v", err, rv)
	}
	var pv raft.RequestPreVoteResponse
	if err := p.send.RequestPreVote("b", p.target, &raft.RequestPreVoteRequest{RPCHeader: hdr("a", "A:1"), Term: 4}, &pv); err != nil || !pv.Granted {
		t.Fatalf("RequestPreVote: %v %+v", err, pv)
	}
	snap := bytes.Repeat([]byte("snapshot"), 100<<10)
	var is raft.InstallSnapshotResponse
	if err := p.send.InstallSnapshot("b", p.target, &raft.InstallSnapshotRequest{RPCHeader: hdr("a", "A:1"), Term: 4, Leader: []byte("A:1"), Size: int64(len(snap))}, &is, bytes.NewReader(snap)); err != nil || !is.Success {
		t.Fatalf("InstallSnapshot: %v %+v", err, is)
	}
	var tn raft.TimeoutNowResponse
	if err := p.send.TimeoutNow("b", p.target, &raft.TimeoutNowRequest{RPCHeader: hdr("a", "A:1")}, &tn); err != nil {
		t.Fatalf("TimeoutNow: %v", err)
	}
	got, refused := p.counts()
	if got != 7 || refused != 0 {
		t.Fatalf("raft got %d RPCs, guard refused %d; want 7, 0", got, refused)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ae := p.got[2].Command.(*raft.AppendEntriesRequest)
	if len(ae.Entries) != 2 || !bytes.Equal(ae.Entries[0].Data, entries[0].Data) || ae.LeaderCommitIndex != 6 || string(ae.ID) != "a" {
		t.Fatalf("AppendEntries changed on the way: %d entries, commit %d", len(ae.Entries), ae.LeaderCommitIndex)
	}
	if !bytes.Equal(p.snap[5], snap) {
		t.Fatalf("snapshot data changed on the way: %d bytes, want %d", len(p.snap[5]), len(snap))
	}
}

// TestRaftGuardRefusesForgedSender: a request of each type claiming
// another sender than the certificate's node, or an address that belongs
// to another node, never reaches raft, and each costs the sender its
// connection.
func TestRaftGuardRefusesForgedSender(t *testing.T) {
	owners := map[string]string{"A:1": "a", "C:1": "c"}
	p := newGuardPair(t, func(addr string) string { return owners[addr] })
	forged := []struct {
		name string
		send func() error
	}{
		{"AppendEntries as c", func() error {
			return p.send.AppendEntries("b", p.target, &raft.AppendEntriesRequest{RPCHeader: hdr("c", "C:1"), Term: 9, Leader: []byte("C:1")}, &raft.AppendEntriesResponse{})
		}},
		{"AppendEntries with c's leader address", func() error {
			return p.send.AppendEntries("b", p.target, &raft.AppendEntriesRequest{RPCHeader: hdr("a", "A:1"), Term: 9, Leader: []byte("C:1")}, &raft.AppendEntriesResponse{})
		}},
		{"AppendEntries without an id", func() error {
			return p.send.AppendEntries("b", p.target, &raft.AppendEntriesRequest{RPCHeader: hdr("", ""), Term: 9, Leader: []byte("new:1")}, &raft.AppendEntriesResponse{})
		}},
		{"RequestVote as c", func() error {
			return p.send.RequestVote("b", p.target, &raft.RequestVoteRequest{RPCHeader: hdr("c", "new:1"), Term: 9}, &raft.RequestVoteResponse{})
		}},
		{"RequestVote with c's candidate address", func() error {
			return p.send.RequestVote("b", p.target, &raft.RequestVoteRequest{RPCHeader: hdr("a", "A:1"), Term: 9, Candidate: []byte("C:1")}, &raft.RequestVoteResponse{})
		}},
		{"RequestPreVote with c's address", func() error {
			return p.send.RequestPreVote("b", p.target, &raft.RequestPreVoteRequest{RPCHeader: hdr("a", "C:1"), Term: 9}, &raft.RequestPreVoteResponse{})
		}},
		{"InstallSnapshot as c", func() error {
			return p.send.InstallSnapshot("b", p.target, &raft.InstallSnapshotRequest{RPCHeader: hdr("c", "C:1"), Term: 9, Size: 3}, &raft.InstallSnapshotResponse{}, strings.NewReader("abc"))
		}},
		{"TimeoutNow as c", func() error {
			return p.send.TimeoutNow("b", p.target, &raft.TimeoutNowRequest{RPCHeader: hdr("c", "C:1")}, &raft.TimeoutNowResponse{})
		}},
	}
	for i, f := range forged {
		if err := f.send(); err == nil {
			t.Fatalf("%s: answered", f.name)
		}
		got, refused := p.counts()
		if got != 0 || refused != i+1 {
			t.Fatalf("%s: raft got %d RPCs, guard refused %d; want 0, %d", f.name, got, refused, i+1)
		}
	}
	p.mu.Lock()
	for _, err := range p.refused {
		if !strings.Contains(err.Error(), "c") {
			t.Fatalf("refusal does not say who was claimed: %v", err)
		}
	}
	p.mu.Unlock()
	// The genuine node still gets through afterwards.
	if err := p.send.TimeoutNow("b", p.target, &raft.TimeoutNowRequest{RPCHeader: hdr("a", "A:1")}, &raft.TimeoutNowResponse{}); err != nil {
		t.Fatalf("genuine TimeoutNow after the refusals: %v", err)
	}
}

// FuzzRaftGuard feeds arbitrary bytes to the guard as a raft connection
// with a check that lets everything through: it must not panic, and what it
// hands raft must be exactly a prefix of what arrived (the guard only
// reads ahead, it never changes a byte).
func FuzzRaftGuard(f *testing.F) {
	enc := func(t uint8, req any, tail string) []byte {
		var b bytes.Buffer
		b.WriteByte(t)
		if err := codec.NewEncoder(&b, &codec.MsgpackHandle{}).Encode(req); err != nil {
			f.Fatal(err)
		}
		return append(b.Bytes(), tail...)
	}
	f.Add(enc(raftMsgAppendEntries, &raft.AppendEntriesRequest{RPCHeader: hdr("a", "A:1"), Term: 2, Entries: []*raft.Log{{Index: 1, Data: []byte("d")}}}, ""))
	f.Add(enc(raftMsgInstallSnapshot, &raft.InstallSnapshotRequest{RPCHeader: hdr("a", "A:1"), Size: 4}, "snap"))
	f.Add(append(enc(raftMsgRequestVote, &raft.RequestVoteRequest{RPCHeader: hdr("a", "A:1"), Candidate: []byte("A:1")}, ""),
		enc(raftMsgTimeoutNow, &raft.TimeoutNowRequest{RPCHeader: hdr("a", "")}, "")...))
	f.Add([]byte{raftMsgInstallSnapshot, 0x81, 0xa4, 'S', 'i', 'z', 'e', 0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{9, 0x80})
	f.Fuzz(func(t *testing.T, in []byte) {
		a, b := net.Pipe()
		go func() {
			a.Write(in)
			a.Close()
		}()
		g := newGuardedConn(b, "a", func(string, raft.WithRPCHeader) error { return nil }, func(string, error) {})
		defer g.Close()
		out, _ := io.ReadAll(io.LimitReader(g, int64(len(in))+1))
		if !bytes.HasPrefix(in, out) {
			t.Fatalf("guard handed on %x, not a prefix of the input %x", out, in)
		}
	})
}

// BenchmarkRaftGuard is the guard's cost on a busy follower: a stream
// of AppendEntries of 64 entries of 1 KiB, decoded as raft's handleConn
// decodes them, read straight or through the guard.
func BenchmarkRaftGuard(b *testing.B) {
	entries := make([]*raft.Log, 64)
	for i := range entries {
		entries[i] = &raft.Log{Index: uint64(i + 1), Term: 2, Type: raft.LogCommand, Data: bytes.Repeat([]byte{byte(i)}, 1024)}
	}
	var msg bytes.Buffer
	msg.WriteByte(raftMsgAppendEntries)
	if err := codec.NewEncoder(&msg, &codec.MsgpackHandle{}).Encode(&raft.AppendEntriesRequest{RPCHeader: hdr("a", "A:1"), Term: 2, Leader: []byte("A:1"), Entries: entries}); err != nil {
		b.Fatal(err)
	}
	const perRun = 32
	stream := bytes.Repeat(msg.Bytes(), perRun)
	check := checkRaftSender(func(string) string { return "" })
	for _, guarded := range []bool{false, true} {
		b.Run(fmt.Sprintf("guarded=%v", guarded), func(b *testing.B) {
			b.SetBytes(int64(len(stream)))
			for b.Loop() {
				a, p := net.Pipe()
				go func() {
					a.Write(stream)
					a.Close()
				}()
				var c net.Conn = p
				if guarded {
					c = newGuardedConn(p, "a", check, func(string, error) {})
				}
				r := bufio.NewReaderSize(c, 256<<10)
				dec := codec.NewDecoder(r, &codec.MsgpackHandle{})
				for range perRun {
					if _, err := r.ReadByte(); err != nil {
						b.Fatal(err)
					}
					var req raft.AppendEntriesRequest
					if err := dec.Decode(&req); err != nil || len(req.Entries) != 64 {
						b.Fatalf("decode: %v", err)
					}
				}
				c.Close()
			}
		})
	}
}
