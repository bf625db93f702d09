package node

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/transport/mux"
	"github.com/sessionraft/sessionraft/transport/raftnet"
)

// memberMux is an internal port holding a genuine certificate of p's CA
// for the member id, issued apart from the member's own files (a stolen or
// duplicated node key).
func memberMux(t *testing.T, p *testPKI, id string) *mux.Mux {
	t.Helper()
	return peerMux(t, p.filesIn(t.TempDir(), id))
}

// TestTLSRaftRefusesForgedSender: on a cluster with internal TLS, a peer
// holding a valid certificate for member B sends each raft request type in
// member A's name to another member. None reaches raft: each costs the
// connection and is counted (INFO raft_messages_refused). A request in B's
// own name, over the same certificate, is answered, and the members'
// own raft traffic keeps replicating.
//
// It runs once per raft connection kind: raft's msgpack transport (checked
// by raftguard.go) and the binary one of transport/raftnet (checked by
// raftnet's CheckPeer, node/rafttransport.go).
func TestTLSRaftRefusesForgedSender(t *testing.T) {
	kinds := []struct {
		name string
		dial func(m *mux.Mux, gid int) (raftSender, func() error)
	}{
		{"msgpack", func(m *mux.Mux, gid int) (raftSender, func() error) {
			tr := raft.NewNetworkTransport(m.StreamLayer(uint16(gid)), 1, 5*time.Second, io.Discard)
			return tr, tr.Close
		}},
		{"binary", func(m *mux.Mux, gid int) (raftSender, func() error) {
			cfg := raftnet.DefaultConfig()
			cfg.Stream = m.BinaryRaftLayer(uint16(gid))
			cfg.Timeout = 5 * time.Second
			tr, err := raftnet.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			return tr, tr.Close
		}},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			c, pki, _ := startSecureCluster(t)
			m := memberMux(t, pki, c.node(2).cfg.ID)
			trans, closeTrans := k.dial(m, 0)
			t.Cleanup(func() { closeTrans() })
			testForgedRaftSender(t, c, trans)
		})
	}
}

// raftSender is what the test sends forged requests with: either raft
// transport, pre-votes included.
type raftSender interface {
	raft.Transport
	raft.WithPreVote
}

func testForgedRaftSender(t *testing.T, c *testCluster, trans raftSender) {
	t.Helper()
	victim, a, b := c.node(0), c.node(1), c.node(2)
	gid := 0
	g := victim.groups[gid]
	target := raft.ServerAddress(victim.self.Raft)
	aAddr := []byte(a.self.Raft)
	asA := raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte(a.cfg.ID), Addr: aAddr}
	term := g.raft.CurrentTerm()

	forged := []struct {
		name string
		send func() error
	}{
		{"AppendEntries", func() error {
			return trans.AppendEntries(raft.ServerID(victim.cfg.ID), target, &raft.AppendEntriesRequest{RPCHeader: asA, Term: term + 1, Leader: aAddr,
				PrevLogEntry: g.raft.LastIndex(), PrevLogTerm: term, LeaderCommitIndex: g.raft.LastIndex()}, &raft.AppendEntriesResponse{})
		}},
		{"RequestVote", func() error {
			return trans.RequestVote(raft.ServerID(victim.cfg.ID), target, &raft.RequestVoteRequest{RPCHeader: asA, Term: term + 1, Candidate: aAddr,
				LastLogIndex: g.raft.LastIndex() + 100, LastLogTerm: term + 1, LeadershipTransfer: true}, &raft.RequestVoteResponse{})
		}},
		{"RequestPreVote", func() error {
			return trans.RequestPreVote(raft.ServerID(victim.cfg.ID), target, &raft.RequestPreVoteRequest{RPCHeader: asA, Term: term + 1,
				LastLogIndex: g.raft.LastIndex() + 100, LastLogTerm: term + 1}, &raft.RequestPreVoteResponse{})
		}},
		{"InstallSnapshot", func() error {
			return trans.InstallSnapshot(raft.ServerID(victim.cfg.ID), target, &raft.InstallSnapshotRequest{RPCHeader: asA, Term: term + 1, Leader: aAddr,
				LastLogIndex: g.raft.LastIndex() + 100, LastLogTerm: term + 1, Size: 5}, &raft.InstallSnapshotResponse{}, strings.NewReader("bogus"))
		}},
		{"TimeoutNow", func() error {
			return trans.TimeoutNow(raft.ServerID(victim.cfg.ID), target, &raft.TimeoutNowRequest{RPCHeader: asA}, &raft.TimeoutNowResponse{})
		}},
	}
	for i, f := range forged {
		err := f.send()
		if err == nil {
			t.Fatalf("%s in %s's name over %s's certificate was answered", f.name, a.cfg.ID, b.cfg.ID)
		}
		if got := victim.raftGuard.refused.Load(); got != uint64(i+1) {
			t.Fatalf("after the forged %s: %d raft messages refused, want %d", f.name, got, i+1)
		}
	}
	info := do(t, c.client(0), "INFO", "security").Str
	if !strings.Contains(info, fmt.Sprintf("raft_messages_refused:%d\r\n", len(forged))) || !strings.Contains(info, "internal_tls:true") {
		t.Fatalf("INFO security does not count the refusals:\n%s", info)
	}

	// B in its own name, with B's address, is answered (a pre-vote that is
	// not granted changes nothing on the victim).
	asB := raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte(b.cfg.ID), Addr: []byte(b.self.Raft)}
	var pv raft.RequestPreVoteResponse
	if err := trans.RequestPreVote(raft.ServerID(victim.cfg.ID), target, &raft.RequestPreVoteRequest{RPCHeader: asB, Term: 1}, &pv); err != nil {
		t.Fatalf("pre-vote in the certificate's own name refused: %v", err)
	}
	if got := victim.raftGuard.refused.Load(); got != uint64(len(forged)) {
		t.Fatalf("genuine pre-vote counted as refused: %d", got)
	}
	// The members' own raft traffic passes the guard on every node.
	for i := range 3 {
		cl := c.client(i)
		rec := asMap(t, mustOK(t, cl, "SESSION.CREATE", "SUBJECT", fmt.Sprintf("u%d", i), "FIELDS", "k", "v"))
		id := rec["id"].Str
		for j := range 3 {
			if v := mustOK(t, c.client(j), "SESSION.GET", id); v.Err() != nil {
				t.Fatalf("node %d reading a session created on node %d: %v", j, i, v.Err())
			}
		}
	}
	waitFor(t, 20*time.Second, "replicas to apply the same index", func() error {
		want := c.node(0).groups[gid].raft.LastIndex()
		for i := range 3 {
			if got := c.node(i).groups[gid].rfsm.applied.Load(); got < want {
				return fmt.Errorf("node %d applied %d of %d", i, got, want)
			}
		}
		return nil
	})
	for i := range 3 {
		if n := c.node(i).raftGuard.refused.Load(); i != 0 && n != 0 {
			t.Fatalf("node %d refused %d raft messages from genuine members", i, n)
		}
	}
}
