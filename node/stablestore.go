package node

import (
	"fmt"
	"runtime"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// checkedStable is the group's stable store (raft-boltdb: the current
// term and the vote) as raft sees it, so that a save that fails stops the
// node cleanly (issue 13).
//
// hashicorp/raft panics when it cannot save its current term
// (Raft.setCurrentTerm: "failed to save current term"), on its own
// goroutine, where no one can recover it: a full or failing disk killed
// the whole process with a panic and a stack trace, and a supervisor that
// restarted it on a disk still full crash-looped. A failed vote save raft
// does handle (it grants no vote), but a replica that cannot record its
// vote can no longer take part safely either.
//
// So a failed Set or SetUint64 is reported to onFailure (the node logs
// the group and the error and shuts down, exit 1), and then, if raft is
// running (live), the calling goroutine, always raft's main loop, ends
// with runtime.Goexit instead of returning into the panic. Nothing is lost
// by stopping there: raft persists the term before it acts on it, so the
// loop stops before anything in the new term was sent, exactly as a crash
// at that instant would; its deferred clean-up runs (an RPC being handled
// is answered with the old term and no vote), so raft.Shutdown still
// finds every goroutine finished. Before raft.NewRaft returns (live
// false) the error is returned, and newRaftNoPanic turns raft's panic into
// the group's start-up error. A restart on a disk with space again reads
// the last term and vote that were saved and goes on.
type checkedStable struct {
	raft.StableStore
	group int
	// live is set once raft.NewRaft has returned: from then on every
	// write comes from raft's main loop.
	live *atomic.Bool
	// fault, in test mode, is the error every save returns
	// (DEBUG.DISK FAIL / FAIL-TERM); nil otherwise.
	fault     func() error
	onFailure func(error)
}

func (s checkedStable) Set(key, val []byte) error {
	err := s.inject()
	if err == nil {
		err = s.StableStore.Set(key, val)
	}
	return s.check(key, err)
}

func (s checkedStable) SetUint64(key []byte, val uint64) error {
	err := s.inject()
	if err == nil {
		err = s.StableStore.SetUint64(key, val)
	}
	return s.check(key, err)
}

func (s checkedStable) inject() error {
	if s.fault == nil {
		return nil
	}
	if err := s.fault(); err != nil {
		return &pathError{op: "save raft term/vote", err: err}
	}
	return nil
}

func (s checkedStable) check(key []byte, err error) error {
	if err == nil {
		return nil
	}
	err = fmt.Errorf("group %d: cannot save raft's %s in raft.db, stopping (free space or replace the disk, then restart): %w", s.group, key, err)
	s.onFailure(err)
	if s.live.Load() {
		runtime.Goexit()
	}
	return err
}
