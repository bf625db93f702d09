package node

import (
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/internal/testcluster"
)

// failingStable is raft's in-memory stable store whose saves fail while
// fail is set, as raft-boltdb's do on a full disk.
type failingStable struct {
	*raft.InmemStore
	fail *atomic.Bool
}

func (f failingStable) Set(k, v []byte) error {
	if f.fail.Load() {
		return syscall.ENOSPC
	}
	return f.InmemStore.Set(k, v)
}

func (f failingStable) SetUint64(k []byte, v uint64) error {
	if f.fail.Load() {
		return syscall.ENOSPC
	}
	return f.InmemStore.SetUint64(k, v)
}

type nopFSM struct{}

func (nopFSM) Apply(*raft.Log) any                 { return nil }
func (nopFSM) Snapshot() (raft.FSMSnapshot, error) { return nil, errors.New("no snapshots") }
func (nopFSM) Restore(io.ReadCloser) error         { return nil }

// TestStableStoreFailure: three raft voters, the third's term/vote store
// behind checkedStable over a store that starts failing (ENOSPC). An
// election makes it save a new term, which raft would answer with a panic
// that kills the process; instead onFailure gets an error naming the
// group and the cause, the voter's raft loop ends (its Shutdown returns),
// the other two elect a leader and commit, and the third restarted on the
// same stores with space again catches up.
func TestStableStoreFailure(t *testing.T) {
	ids := []raft.ServerID{"a", "b", "c"}
	var conf raft.Configuration
	trans := map[raft.ServerID]*raft.InmemTransport{}
	for _, id := range ids {
		_, tr := raft.NewInmemTransport(raft.ServerAddress(id))
		trans[id] = tr
		conf.Servers = append(conf.Servers, raft.Server{ID: id, Address: raft.ServerAddress(id), Suffrage: raft.Voter})
	}
	for _, a := range trans {
		for _, b := range trans {
			if a != b {
				a.Connect(b.LocalAddr(), b)
			}
		}
	}
	logs := map[raft.ServerID]*raft.InmemStore{}
	stables := map[raft.ServerID]*raft.InmemStore{}
	for _, id := range ids {
		logs[id], stables[id] = raft.NewInmemStore(), raft.NewInmemStore()
	}
	var (
		fail     atomic.Bool
		mu       sync.Mutex
		failures []error
	)
	live := new(atomic.Bool)
	start := func(id raft.ServerID) *raft.Raft {
		t.Helper()
		rc := raft.DefaultConfig()
		rc.LocalID = id
		rc.HeartbeatTimeout = 100 * time.Millisecond
		rc.ElectionTimeout = 100 * time.Millisecond
		rc.LeaderLeaseTimeout = 50 * time.Millisecond
		rc.Logger = hclog.NewNullLogger()
		l := groupLayer{logs: logs[id], stable: stables[id], snaps: raft.NewInmemSnapshotStore(), trans: trans[id]}
		if id == "c" {
			live.Store(false)
			l.stable = checkedStable{StableStore: failingStable{stables[id], &fail}, group: 7, live: live,
				onFailure: func(err error) { mu.Lock(); failures = append(failures, err); mu.Unlock() }}
			l.stableLive = live
		}
		r, err := newRaftNoPanic(rc, nopFSM{}, l)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	rafts := map[raft.ServerID]*raft.Raft{}
	for _, id := range ids {
		rafts[id] = start(id)
	}
	t.Cleanup(func() {
		for _, r := range rafts {
			_ = r.Shutdown().Error()
		}
	})
	if err := rafts["a"].BootstrapCluster(conf).Error(); err != nil {
		t.Fatal(err)
	}
	leaderOf := func(among ...raft.ServerID) raft.ServerID {
		for _, id := range among {
			if rafts[id].State() == raft.Leader {
				return id
			}
		}
		return ""
	}
	if !testcluster.WaitFor(30*time.Second, func() bool { return leaderOf(ids...) != "" }) {
		t.Fatal("no leader")
	}
	// c cannot save its term any more; an election (a leadership transfer
	// away from whoever leads, or c's own candidacy) makes it try.
	fail.Store(true)
	lead := leaderOf(ids...)
	if lead != "c" {
		_ = rafts[lead].LeadershipTransfer().Error()
	}
	if !testcluster.WaitFor(30*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(failures) > 0 }) {
		t.Fatal("c's failed term save was not reported")
	}
	mu.Lock()
	msg := failures[0].Error()
	mu.Unlock()
	if !strings.Contains(msg, "group 7") || !errors.Is(failures[0], syscall.ENOSPC) || !strings.Contains(msg, "raft.db") {
		t.Fatalf("failure report: %v", failures[0])
	}
	t.Logf("reported: %s", msg)
	// c's raft loop has ended: its Shutdown finds every goroutine gone.
	shut := make(chan struct{})
	go func() { _ = rafts["c"].Shutdown().Error(); close(shut) }()
	select {
	case <-shut:
	case <-time.After(time.Minute):
		t.Fatal("raft.Shutdown of the failed voter does not return")
	}
	// a and b go on.
	var last error
	if !testcluster.WaitFor(30*time.Second, func() bool {
		l := leaderOf("a", "b")
		if l == "" {
			return false
		}
		last = rafts[l].Apply([]byte("x"), 5*time.Second).Error()
		return last == nil
	}) {
		t.Fatalf("the two healthy voters do not commit: %v", last)
	}
	// Space again: c restarts on the same stores and catches up.
	fail.Store(false)
	trans["c"].DisconnectAll()
	_, tr := raft.NewInmemTransport("c")
	trans["c"] = tr
	for _, id := range []raft.ServerID{"a", "b"} {
		tr.Connect(trans[id].LocalAddr(), trans[id])
		trans[id].Connect("c", tr)
	}
	rafts["c"] = start("c")
	var idx uint64
	if !testcluster.WaitFor(30*time.Second, func() bool {
		l := leaderOf("a", "b", "c")
		if l == "" {
			return false
		}
		f := rafts[l].Apply([]byte("y"), 5*time.Second)
		if f.Error() != nil {
			return false
		}
		idx = f.Index()
		return true
	}) {
		t.Fatal("no commit after c restarted")
	}
	if !testcluster.WaitFor(30*time.Second, func() bool { return rafts["c"].AppliedIndex() >= idx }) {
		t.Fatalf("restarted c applied %d, the cluster committed %d", rafts["c"].AppliedIndex(), idx)
	}
}
