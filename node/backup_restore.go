package node

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/node/snapstore"
)

// Restore, the node side: turning one group snapshot per group (from a
// backup file; cmd/sessionraft reads and verifies it) into the data
// directory of one node of a new cluster, like etcd's snapshot restore.
// Every group gets the snapshot in its snapshot store (node/snapstore), stamped with
// the new cluster's configuration, so raft.NewRaft restores it at start and
// the group elects a leader among the new peers; nothing else of the old
// cluster (log, term, vote, node ids) comes along.

// RestorePeer is one voter of the new cluster: its node id (--id) and its
// internal address (--advertise-raft).
type RestorePeer struct{ ID, RaftAddr string }

// RestoreGroup is one group's snapshot: the raft index it was taken at and
// its bytes (fsm's snapshot format, opaque here).
type RestoreGroup struct {
	Index uint64
	Data  io.Reader
}

// restoredTerm is the term restored snapshots are stamped with. The new
// cluster's log is empty, so its first election (term 1 or later) starts
// from it and every entry after the snapshot has a term no lower.
const restoredTerm = 1

// ErrNotEmpty: RestoreDataDir refuses a data directory that holds anything.
var ErrNotEmpty = errors.New("data directory is not empty")

// RestoreDataDir prepares dataDir, which must be empty or absent, for node
// self of the cluster peers: groups[i] becomes group i's latest snapshot,
// with peers as its configuration, and the bootstrap marker says the node
// must not bootstrap. The node must then be started with --groups
// len(groups). A failure leaves a partial directory to be removed before
// trying again.
func RestoreDataDir(dataDir, self string, peers []RestorePeer, groups []RestoreGroup) error {
	var cfg raft.Configuration
	seen := map[string]bool{}
	for _, p := range peers {
		if p.ID == "" || p.RaftAddr == "" {
			return fmt.Errorf("peer %q: both an id and a raft address are needed", p.ID)
		}
		if seen[p.ID] {
			return fmt.Errorf("peer %q is listed twice", p.ID)
		}
		seen[p.ID] = true
		cfg.Servers = append(cfg.Servers, raft.Server{ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.RaftAddr), Suffrage: raft.Voter})
	}
	if !seen[self] {
		return fmt.Errorf("node id %q is not one of the peers", self)
	}
	if len(groups) == 0 {
		return errors.New("no groups to restore")
	}
	if ents, err := os.ReadDir(dataDir); err == nil && len(ents) > 0 {
		return fmt.Errorf("%w: %s holds %d entries; restore only into a new, empty directory", ErrNotEmpty, dataDir, len(ents))
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return err
	}
	for gid, g := range groups {
		if g.Index == 0 {
			return fmt.Errorf("group %d: snapshot at index 0", gid)
		}
		dir := filepath.Join(dataDir, strconv.Itoa(gid))
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return err
		}
		// The same store (and retention) as diskLayer opens.
		store, err := snapstore.New(dir, snapstore.Options{Retain: 2, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return fmt.Errorf("group %d: snapshot store: %w", gid, err)
		}
		sink, err := store.Create(raft.SnapshotVersionMax, g.Index, restoredTerm, cfg, g.Index, nil)
		if err != nil {
			return fmt.Errorf("group %d: snapshot: %w", gid, err)
		}
		if _, err := io.Copy(sink, g.Data); err != nil {
			_ = sink.Cancel()
			return fmt.Errorf("group %d: write snapshot: %w", gid, err)
		}
		// Close makes the snapshot durable (node/snapstore).
		if err := sink.Close(); err != nil {
			return fmt.Errorf("group %d: write snapshot: %w", gid, err)
		}
	}
	// The marker and the group directories' entries are made durable too,
	// so that a restore that returned survives a power loss whole.
	marker := filepath.Join(dataDir, bootstrapMarker)
	stamp := "restored " + time.Now().UTC().Format(time.RFC3339) + "\n"
	f, err := os.OpenFile(marker, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	_, err = f.WriteString(stamp)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return syncDir(dataDir)
}
