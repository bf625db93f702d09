package mux

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestRaftOverTLSRefusesForgedLeader runs a raft group over mutual TLS with
// node ids checked against the raft configuration, then replays the attack
// of issue 10: an AppendEntries from a made-up leader one term higher,
// carrying an entry. Sent without a certificate, or with a certificate of
// another CA, it never reaches raft: the term and the state stay put.
func TestRaftOverTLSRefusesForgedLeader(t *testing.T) {
	pki := newPKI(t)
	var ids sync.Map // advertised address -> node id, as the raft configuration says
	peerID := func(addr string) string {
		id, _ := ids.Load(addr)
		s, _ := id.(string)
		return s
	}
	const nodes = 3
	var muxes [nodes]*Mux
	var servers []raft.Server
	for i := range muxes {
		id := fmt.Sprintf("n%d", i)
		cfg := tlsConfig(pki, id)
		cfg.PeerID = peerID
		muxes[i] = newMux(t, cfg)
		ids.Store(muxes[i].AdvertiseAddr(), id)
		servers = append(servers, raft.Server{ID: raft.ServerID(id), Address: raft.ServerAddress(muxes[i].AdvertiseAddr())})
	}
	var ns []*raftNode
	for i, m := range muxes {
		ns = append(ns, startRaft(t, m, 0, servers[i].ID, servers))
	}
	if err := applyN(ns, 50, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	// An Apply that failed with ErrLeadershipLost may still have been
	// committed by the next leader, and applyN then applied once more: the
	// replicas agree on at least 50, not on exactly 50.
	waitFor(t, 20*time.Second, "replicas to converge", func() bool {
		want := ns[0].fsm.count()
		for _, n := range ns {
			if n.fsm.count() != want {
				return false
			}
		}
		return want >= 50
	})
	victim := ns[0]
	applied := victim.fsm.count()
	term := victim.r.CurrentTerm()

	foreign := newPKI(t)
	for name, cfg := range map[string]Config{
		"plaintext": testConfig(),
		"other CA":  tlsConfig(foreign, "n1"),
	} {
		t.Run(name, func(t *testing.T) {
			attacker := newMux(t, cfg)
			trans := raft.NewNetworkTransport(attacker.StreamLayer(0), 1, 5*time.Second, io.Discard)
			t.Cleanup(func() { trans.Close() })
			req := &raft.AppendEntriesRequest{
				RPCHeader:         raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("n1"), Addr: []byte(servers[1].Address)},
				Term:              term + 1,
				PrevLogEntry:      victim.r.LastIndex(),
				PrevLogTerm:       term,
				Entries:           []*raft.Log{{Index: victim.r.LastIndex() + 1, Term: term + 1, Type: raft.LogCommand, Data: []byte("inc")}},
				LeaderCommitIndex: victim.r.LastIndex() + 1,
			}
			var resp raft.AppendEntriesResponse
			err := trans.AppendEntries(servers[0].ID, servers[0].Address, req, &resp)
			// Refused by the mux before a byte reached raft. (On a plaintext
			// cluster this succeeds and the victim adopts term+1.) The term
			// itself is not compared: a real election may move it.
			if !errors.Is(err, ErrUnreachable) {
				t.Fatalf("forged AppendEntries: err %v, resp %+v; want ErrUnreachable", err, resp)
			}
			if got := victim.fsm.count(); got != applied {
				t.Fatalf("victim applied a forged entry: count %d, was %d", got, applied)
			}
		})
	}
}
