package node

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/sessionraft/sessionraft/node/raftwal"
)

// openWAL opens the group's raft log (<dir>/wal, see package raftwal).
// Data directories written before the log moved out of raft-boltdb have
// their entries in the bolt store: they are copied into the empty log
// once, durably, and then deleted from the bolt store (which keeps the
// term and vote). Raft starts only after both steps, so on the next open
// a log that ends where the bolt store ends means the copy finished (only
// the deletion is redone); one that ends earlier is a copy cut short by a
// crash, which is discarded and made again.
func openWAL(dir string, bolt *raftboltdb.BoltStore, noSync bool, onFailure func(error), log *slog.Logger, onAppend func(total, sync time.Duration)) (*raftwal.Log, error) {
	wal, err := raftwal.Open(filepath.Join(dir, "wal"), raftwal.Options{NoSync: noSync, OnFailure: onFailure, Logger: log, OnAppend: onAppend})
	if err != nil {
		return nil, err
	}
	if err := importBoltLog(wal, bolt); err != nil {
		wal.Close()
		return nil, fmt.Errorf("move raft log out of raft.db: %w", err)
	}
	return wal, nil
}

func importBoltLog(wal *raftwal.Log, bolt *raftboltdb.BoltStore) error {
	first, err := bolt.FirstIndex()
	if err != nil {
		return err
	}
	last, err := bolt.LastIndex()
	if err != nil || last == 0 {
		return err
	}
	// A follower that installed a snapshot past the end of its log keeps
	// the old entries below a hole (raft-boltdb allows one); only the run
	// that ends at last matters, the rest is covered by the snapshot.
	// Walking back from last finds its start without scanning the hole.
	start := last
	for start > first {
		var e raft.Log
		if err := bolt.GetLog(start-1, &e); errors.Is(err, raft.ErrLogNotFound) {
			break
		} else if err != nil {
			return fmt.Errorf("entry %d: %w", start-1, err)
		}
		start--
	}
	walFirst, _ := wal.FirstIndex()
	walLast, _ := wal.LastIndex()
	if walLast < last {
		if walLast != 0 {
			if err := wal.DeleteRange(walFirst, walLast); err != nil {
				return err
			}
		}
		const chunk = 512
		for i := start; i <= last; i += chunk {
			var batch []*raft.Log
			for j := i; j <= last && j < i+chunk; j++ {
				e := new(raft.Log)
				if err := bolt.GetLog(j, e); err != nil {
					return fmt.Errorf("entry %d: %w", j, err)
				}
				batch = append(batch, e)
			}
			if err := wal.StoreLogs(batch); err != nil {
				return err
			}
		}
	}
	return bolt.DeleteRange(first, last)
}

// checkedLog is the group's log as raft sees it. raftwal verifies every
// record's checksum when it is read back; an entry damaged on disk after
// start-up comes back as raftwal.ErrChecksum. hashicorp/raft panics on a
// failed GetLog in several places (applying, replicating), with a message
// that names neither the group nor the file, so the node says what
// happened and stops first: the operator's way out is to replace this
// replica from its peers (docs/OPERATIONS.md), never to serve or
// replicate the damaged entry.
type checkedLog struct {
	*raftwal.Log
	group     int
	onFailure func(error)
}

func (c checkedLog) GetLog(index uint64, out *raft.Log) error {
	err := c.Log.GetLog(index, out)
	if err != nil && errors.Is(err, raftwal.ErrChecksum) {
		c.onFailure(fmt.Errorf("group %d: raft log damaged on disk, replace this replica from its peers: %w", c.group, err))
	}
	return err
}
