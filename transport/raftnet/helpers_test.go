package raftnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"go.uber.org/goleak"

	"github.com/sessionraft/sessionraft/transport/mux"
	"github.com/sessionraft/sessionraft/transport/tlsconf"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

// newMux listens on loopback (with TLS when tls is set) and closes the mux
// when the test ends.
func newMux(t testing.TB, tls mux.TLS) *mux.Mux {
	t.Helper()
	cfg := mux.DefaultConfig()
	cfg.Logger = quiet
	cfg.TLS = tls
	m, err := mux.Listen("127.0.0.1:0", cfg)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// nodeTLS issues node id's identity from ca into a temporary directory.
func nodeTLS(t testing.TB, ca *tlsconf.Authority, id string) *tlsconf.Store {
	t.Helper()
	kp, err := ca.IssueNode(id, []string{"127.0.0.1"}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := tlsconf.Files{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem")}
	if err := os.WriteFile(f.CA, ca.Pair().CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := kp.Write(f.Cert, f.Key); err != nil {
		t.Fatal(err)
	}
	s, err := tlsconf.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newTransport is New for group 0 of m, closed when the test ends.
func newTransport(t testing.TB, m *mux.Mux, cfg Config) *Transport {
	t.Helper()
	cfg.Stream = m.BinaryRaftLayer(0)
	cfg.PeerOf = mux.PeerOf
	cfg.Logger = quiet
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition
	}
}

// countFSM counts applied entries; its snapshot is the count.
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
	// A snapshot carries padding so InstallSnapshot streams more than one
	// write's worth; it must arrive whole.
	pad, err := io.Copy(io.Discard, rc)
	if err != nil {
		return err
	}
	if pad != snapPad {
		return fmt.Errorf("snapshot padding %d bytes, want %d", pad, snapPad)
	}
	f.mu.Lock()
	f.n = n
	f.mu.Unlock()
	return nil
}

const snapPad = 300 << 10

type countSnap int64

func (s countSnap) Persist(sink raft.SnapshotSink) error {
	if err := binary.Write(sink, binary.BigEndian, int64(s)); err != nil {
		sink.Cancel()
		return err
	}
	if _, err := sink.Write(make([]byte, snapPad)); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (countSnap) Release() {}

// raftNode is one raft server of a test cluster.
type raftNode struct {
	id    raft.ServerID
	r     *raft.Raft
	fsm   *countFSM
	trans raft.Transport
}

func raftConfig(id raft.ServerID) *raft.Config {
	conf := raft.DefaultConfig()
	conf.LocalID = id
	conf.HeartbeatTimeout = 100 * time.Millisecond
	conf.ElectionTimeout = 100 * time.Millisecond
	conf.LeaderLeaseTimeout = 50 * time.Millisecond
	conf.CommitTimeout = 5 * time.Millisecond
	conf.LogOutput = io.Discard
	conf.LogLevel = "error"
	return conf
}

// startRaft runs a raft server on trans, bootstrapped with servers unless
// servers is nil, and shuts it down when the test ends.
func startRaft(t *testing.T, trans raft.Transport, id raft.ServerID, servers []raft.Server, tune func(*raft.Config)) *raftNode {
	t.Helper()
	conf := raftConfig(id)
	if tune != nil {
		tune(conf)
	}
	logs, stable, snaps := raft.NewInmemStore(), raft.NewInmemStore(), raft.NewInmemSnapshotStore()
	if servers != nil {
		if err := raft.BootstrapCluster(conf, logs, stable, snaps, trans, raft.Configuration{Servers: servers}); err != nil {
			t.Fatalf("bootstrap: %v", err)
		}
	}
	n := &raftNode{id: id, fsm: &countFSM{}, trans: trans}
	r, err := raft.NewRaft(conf, n.fsm, logs, stable, snaps, trans)
	if err != nil {
		t.Fatalf("NewRaft: %v", err)
	}
	n.r = r
	t.Cleanup(func() {
		if err := r.Shutdown().Error(); err != nil {
			t.Errorf("raft shutdown: %v", err)
		}
	})
	return n
}

func leaderOf(ns []*raftNode) *raftNode {
	for _, n := range ns {
		if n.r.State() == raft.Leader {
			return n
		}
	}
	return nil
}

// applyN applies n entries, `parallel` at a time, through whichever node
// leads, following leadership changes. Many in flight keep the leader's
// pipeline busy.
func applyN(ns []*raftNode, n, parallel int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for done := 0; done < n; {
		if time.Now().After(deadline) {
			return fmt.Errorf("applied only %d of %d entries in %v", done, n, timeout)
		}
		l := leaderOf(ns)
		if l == nil {
			time.Sleep(10 * time.Millisecond) // polling for an election
			continue
		}
		k := min(parallel, n-done)
		futs := make([]raft.ApplyFuture, k)
		for i := range futs {
			futs[i] = l.r.Apply([]byte("inc"), 5*time.Second)
		}
		for _, f := range futs {
			err := f.Error()
			switch {
			case err == nil:
				done++
			case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrEnqueueTimeout):
			default:
				return err
			}
		}
	}
	return nil
}

// converged waits until every node has applied at least want entries and
// all agree.
func converged(t *testing.T, ns []*raftNode, want int64) {
	t.Helper()
	waitFor(t, 30*time.Second, "replicas to converge", func() bool {
		c := ns[0].fsm.count()
		for _, n := range ns {
			if n.fsm.count() != c {
				return false
			}
		}
		return c >= want
	})
}
