package raftnet

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/transport/mux"
	"github.com/sessionraft/sessionraft/transport/tlsconf"
)

// cluster starts n raft servers, each on its own mux with a binary
// transport made by cfg(i).
func cluster(t *testing.T, n int, tls func(i int) mux.TLS, cfg func(i int, m *mux.Mux) Config, tune func(*raft.Config)) ([]*raftNode, []*mux.Mux) {
	t.Helper()
	var muxes []*mux.Mux
	var servers []raft.Server
	for i := range n {
		var tl mux.TLS
		if tls != nil {
			tl = tls(i)
		}
		m := newMux(t, tl)
		muxes = append(muxes, m)
		servers = append(servers, raft.Server{ID: raft.ServerID(fmt.Sprintf("n%d", i)), Address: raft.ServerAddress(m.AdvertiseAddr())})
	}
	var ns []*raftNode
	for i, m := range muxes {
		c := Config{}
		if cfg != nil {
			c = cfg(i, m)
		}
		tr := newTransport(t, m, c)
		ns = append(ns, startRaft(t, tr, servers[i].ID, servers, tune))
	}
	return ns, muxes
}

// TestClusterReplicatesTransfersAndSnapshots runs a 3-server group on the
// binary transport through everything it carries: pipelined appends under
// load (checked by counting pipelined responses), a leadership transfer
// (TimeoutNow, RequestVote), and a snapshot streamed to a server that
// joins after the log was compacted (InstallSnapshot).
func TestClusterReplicatesTransfersAndSnapshots(t *testing.T) {
	var pipelined atomic.Int64
	tune := func(c *raft.Config) {
		c.TrailingLogs = 10
		c.SnapshotThreshold = 50
		c.SnapshotInterval = 50 * time.Millisecond
	}
	ns, _ := cluster(t, 3, nil, func(int, *mux.Mux) Config {
		return Config{OnAppend: func(raft.ServerID, *raft.AppendEntriesResponse) { pipelined.Add(1) }}
	}, tune)
	if err := applyN(ns, 500, 32, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	converged(t, ns, 500)
	if pipelined.Load() == 0 {
		t.Fatal("no AppendEntries response observed")
	}
	// The leader replicates through pipelines (one per follower).
	waitFor(t, 20*time.Second, "the leader to pipeline", func() bool {
		l := leaderOf(ns)
		if l == nil {
			return false
		}
		tr := l.trans.(*Transport)
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return len(tr.pipelines) == 2
	})

	// Leadership transfer: TimeoutNow to a chosen follower.
	old := leaderOf(ns)
	var target *raftNode
	for _, n := range ns {
		if n != old && n.r.State() == raft.Follower {
			target = n
			break
		}
	}
	if old == nil || target == nil {
		t.Fatal("no stable leader and follower after applying")
	}
	transfer(t, ns, target, target.trans.LocalAddr())
	if err := applyN(ns, 200, 16, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	converged(t, ns, 700)

	// A snapshot, then a new voter: its log starts beyond the leader's
	// compacted log, so it gets the snapshot over InstallSnapshot.
	// After the transfer a heartbeat missed under load can leave the
	// group between leaders for a moment: wait for one.
	var leader *raftNode
	waitFor(t, 30*time.Second, "a leader", func() bool {
		leader = leaderOf(ns)
		return leader != nil
	})
	if err := leader.r.Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	m := newMux(t, nil)
	joiner := startRaft(t, newTransport(t, m, Config{}), "n3", nil, tune)
	// A leadership change during the AddVoter (a heartbeat missed on a
	// loaded machine) answers it ErrLeadershipLost or ErrNotLeader: ask
	// the group's leader again then; any other error fails.
	var addErr error
	waitFor(t, 60*time.Second, "n3 added as a voter", func() bool {
		l := leaderOf(ns)
		if l == nil {
			return false
		}
		addErr = l.r.AddVoter("n3", raft.ServerAddress(m.AdvertiseAddr()), 0, 10*time.Second).Error()
		return !errors.Is(addErr, raft.ErrLeadershipLost) && !errors.Is(addErr, raft.ErrNotLeader)
	})
	if addErr != nil {
		t.Fatalf("add voter: %v", addErr)
	}
	all := append(ns, joiner)
	if err := applyN(all, 20, 4, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	converged(t, all, 720)
	if st := joiner.r.Stats(); st["last_snapshot_index"] == "0" {
		t.Fatalf("the joiner never installed a snapshot: %v", st)
	}
}

// TestRollingUpgrade is the documented upgrade path, on one group:
// phase 1, a server that predates the binary protocol (raft's own
// transport only) beside upgraded servers still sending msgpack
// (SendLegacy) while accepting both; phase 2, upgraded servers, some
// sending binary, some msgpack. Both replicate and elect.
func TestRollingUpgrade(t *testing.T) {
	for _, tc := range []struct {
		name  string
		roles []string // "old", "msgpack", "binary"
	}{
		{"phase1", []string{"old", "msgpack", "msgpack"}},
		{"phase2", []string{"msgpack", "binary", "binary"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var muxes []*mux.Mux
			var servers []raft.Server
			for i := range tc.roles {
				m := newMux(t, nil)
				muxes = append(muxes, m)
				servers = append(servers, raft.Server{ID: raft.ServerID(fmt.Sprintf("n%d", i)), Address: raft.ServerAddress(m.AdvertiseAddr())})
			}
			var ns []*raftNode
			for i, role := range tc.roles {
				legacy := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
					Stream: muxes[i].StreamLayer(0), MaxPool: 2, Timeout: 2 * time.Second,
					Logger: hclog.NewNullLogger(),
				})
				var tr raft.Transport = legacy
				if role == "old" {
					t.Cleanup(func() { legacy.Close() })
				} else {
					tr = newTransport(t, muxes[i], Config{Legacy: legacy, SendLegacy: role == "msgpack"})
				}
				ns = append(ns, startRaft(t, tr, servers[i].ID, servers, nil))
			}
			if err := applyN(ns, 200, 16, 60*time.Second); err != nil {
				t.Fatal(err)
			}
			converged(t, ns, 200)
			// Every server that can lead leads once: a transfer to each.
			for _, n := range ns {
				l := leaderOf(ns)
				if l == nil || l == n || tc.roles[indexOf(ns, n)] == "old" {
					continue
				}
				transfer(t, ns, n, servers[indexOf(ns, n)].Address)
				if err := applyN(ns, 50, 8, 60*time.Second); err != nil {
					t.Fatal(err)
				}
			}
			converged(t, ns, 200)
		})
	}
}

// transfer makes to the leader, retrying: raft gives a transfer one
// election timeout (100ms here), which a loaded test machine can miss.
func transfer(t *testing.T, ns []*raftNode, to *raftNode, addr raft.ServerAddress) {
	t.Helper()
	waitFor(t, 30*time.Second, fmt.Sprintf("leadership to move to %s", to.id), func() bool {
		if to.r.State() == raft.Leader {
			return true
		}
		if l := leaderOf(ns); l != nil {
			l.r.LeadershipTransferToServer(to.id, addr).Error()
		}
		return to.r.State() == raft.Leader
	})
}

func indexOf(ns []*raftNode, n *raftNode) int {
	for i, x := range ns {
		if x == n {
			return i
		}
	}
	return -1
}

// TestCheckPeerSeesCertificateID runs a group over mutual TLS with the
// check sec3 wants (the RPC's claimed server id is the certificate's node
// id): every RPC passes it with the certificate's id in hand; a check
// that refuses one node's RPCs keeps it from being heard.
func TestCheckPeerSeesCertificateID(t *testing.T) {
	ca, err := tlsconf.NewCA("raftnet test CA", time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var mismatch atomic.Value
	ns, _ := cluster(t, 3, func(i int) mux.TLS { return nodeTLS(t, ca, fmt.Sprintf("n%d", i)) },
		func(i int, m *mux.Mux) Config {
			return Config{CheckPeer: func(certID string, req raft.WithRPCHeader) error {
				hdr := req.GetRPCHeader()
				if certID != string(hdr.ID) {
					mismatch.Store(fmt.Sprintf("cert %q, header %q", certID, hdr.ID))
					return fmt.Errorf("server id %q is not the certificate's %q", hdr.ID, certID)
				}
				mu.Lock()
				seen[certID]++
				mu.Unlock()
				return nil
			}}
		}, nil)
	if err := applyN(ns, 100, 8, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	// Another leader, so RPCs come from two nodes' certificates.
	var next *raftNode
	for _, n := range ns {
		if n.r.State() != raft.Leader {
			next = n
			break
		}
	}
	transfer(t, ns, next, next.trans.LocalAddr())
	if err := applyN(ns, 100, 8, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	converged(t, ns, 200)
	if v := mismatch.Load(); v != nil {
		t.Fatalf("an RPC's id differed from its certificate's: %v", v)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < 2 {
		t.Fatalf("the check saw RPCs from %v only", seen)
	}
}

// TestCheckPeerRefusal: a refused RPC reaches the caller as an error
// naming the refusal, and raft never sees it.
func TestCheckPeerRefusal(t *testing.T) {
	m1, m2 := newMux(t, nil), newMux(t, nil)
	srv := newTransport(t, m1, Config{CheckPeer: func(certID string, req raft.WithRPCHeader) error {
		return fmt.Errorf("not a voter: %s", req.GetRPCHeader().ID)
	}})
	cli := newTransport(t, m2, Config{})
	var resp raft.RequestVoteResponse
	err := cli.RequestVote("n1", srv.LocalAddr(), &raft.RequestVoteRequest{RPCHeader: raft.RPCHeader{ID: []byte("n2")}, Term: 9}, &resp)
	if err == nil || !contains(err.Error(), "not a voter: n2") {
		t.Fatalf("got %v", err)
	}
	// The refused connection is closed by the server, so it must not be
	// reused: a snapshot (never retried) on it would fail to send instead
	// of being refused.
	var sresp raft.InstallSnapshotResponse
	err = cli.InstallSnapshot("n1", srv.LocalAddr(), &raft.InstallSnapshotRequest{RPCHeader: raft.RPCHeader{ID: []byte("n2")}, Term: 9, Size: 5}, &sresp, strings.NewReader("bogus"))
	if err == nil || !contains(err.Error(), "not a voter: n2") {
		t.Fatalf("snapshot after a refusal: got %v", err)
	}
	select {
	case rpc := <-srv.Consumer():
		t.Fatalf("raft got a refused RPC: %+v", rpc.Command)
	default:
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
