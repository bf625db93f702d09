package mux

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// countFSM counts applied entries.
type countFSM struct {
	mu sync.Mutex
	n  int64
}

func (f *countFSM) Apply(*raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	return f.n
}

func (f *countFSM) count() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

func (f *countFSM) Snapshot() (raft.FSMSnapshot, error) { return countSnap(f.count()), nil }

func (f *countFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var n int64
	if err := binary.Read(rc, binary.BigEndian, &n); err != nil {
		return err
	}
	f.mu.Lock()
	f.n = n
	f.mu.Unlock()
	return nil
}

type countSnap int64

func (s countSnap) Persist(sink raft.SnapshotSink) error {
	if err := binary.Write(sink, binary.BigEndian, int64(s)); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (countSnap) Release() {}

type raftNode struct {
	r     *raft.Raft
	fsm   *countFSM
	trans *raft.NetworkTransport
}

// TestRaftClusterTwoGroups runs two raft groups of three servers each, both
// groups sharing the three nodes' single mux ports.
func TestRaftClusterTwoGroups(t *testing.T) {
	const nodes = 3
	groups := []uint16{0, 1}
	var muxes [nodes]*Mux
	for i := range muxes {
		muxes[i] = newMux(t, testConfig()) // closed last: cleanups run LIFO
	}
	var servers []raft.Server
	for i, m := range muxes {
		servers = append(servers, raft.Server{
			ID:      raft.ServerID(fmt.Sprintf("n%d", i)),
			Address: raft.ServerAddress(m.AdvertiseAddr()),
		})
	}

	cluster := make(map[uint16][]*raftNode)
	for _, g := range groups {
		for i, m := range muxes {
			cluster[g] = append(cluster[g], startRaft(t, m, g, servers[i].ID, servers))
		}
	}

	var wg sync.WaitGroup
	errs := make(chan error, len(groups))
	for _, g := range groups {
		wg.Go(func() {
			if err := applyN(cluster[g], 100, 20*time.Second); err != nil {
				errs <- fmt.Errorf("group %d: %w", g, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, g := range groups {
		ns := cluster[g]
		waitFor(t, 20*time.Second, fmt.Sprintf("group %d replicas to converge", g), func() bool {
			want := ns[0].fsm.count()
			for _, n := range ns {
				if n.fsm.count() != want {
					return false
				}
			}
			return want >= 100
		})
	}
}

func startRaft(t *testing.T, m *Mux, group uint16, id raft.ServerID, servers []raft.Server) *raftNode {
	t.Helper()
	conf := raft.DefaultConfig()
	conf.LocalID = id
	conf.HeartbeatTimeout = 100 * time.Millisecond
	conf.ElectionTimeout = 100 * time.Millisecond
	conf.LeaderLeaseTimeout = 50 * time.Millisecond
	conf.CommitTimeout = 5 * time.Millisecond
	conf.LogOutput = io.Discard
	conf.LogLevel = "error"

	trans := raft.NewNetworkTransport(m.StreamLayer(group), 3, 2*time.Second, io.Discard)
	logs, stable, snaps := raft.NewInmemStore(), raft.NewInmemStore(), raft.NewInmemSnapshotStore()
	if err := raft.BootstrapCluster(conf, logs, stable, snaps, trans, raft.Configuration{Servers: servers}); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	n := &raftNode{fsm: &countFSM{}, trans: trans}
	r, err := raft.NewRaft(conf, n.fsm, logs, stable, snaps, trans)
	if err != nil {
		t.Fatalf("NewRaft: %v", err)
	}
	n.r = r
	t.Cleanup(func() {
		if err := r.Shutdown().Error(); err != nil {
			t.Errorf("raft shutdown: %v", err)
		}
		trans.Close()
	})
	return n
}

// applyN applies n entries through whichever node leads, following
// leadership changes.
func applyN(ns []*raftNode, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for done := 0; done < n; {
		if time.Now().After(deadline) {
			return fmt.Errorf("applied only %d of %d entries in %v", done, n, timeout)
		}
		var leader *raft.Raft
		for _, nd := range ns {
			if nd.r.State() == raft.Leader {
				leader = nd.r
			}
		}
		if leader == nil {
			time.Sleep(10 * time.Millisecond) // polling for an election
			continue
		}
		err := leader.Apply([]byte("inc"), 2*time.Second).Error()
		switch {
		case err == nil:
			done++
		case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrEnqueueTimeout):
			continue
		default:
			return err
		}
	}
	return nil
}
