package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/sessionraft/sessionraft/node/snapstore"
	"github.com/sessionraft/sessionraft/transport/mux"
)

// groupLayer is what one raft group runs on: raft's transport and its
// three stores, and the way the group reaches the other voters' nodes for
// the term polls of its read rounds (leadercheck.go). The node builds the
// real ones (diskLayer: the mux, raftwal, raft-boltdb, snapstore);
// the group tests build raft's in-memory ones and cut them to make
// partitions, so the batcher, the term barrier, readiness and the read
// rounds can be tested in milliseconds.
type groupLayer struct {
	trans  raft.Transport
	logs   raft.LogStore
	stable raft.StableStore
	snaps  raft.SnapshotStore
	peers  peerCaller
	// followers notes followers' AppendEntries answers for the leader's
	// lag figures (admin.go); nil on layers that do not track them.
	followers *followerTrack
	// pauseGCOpen keeps the collector paused over all of raft.NewRaft,
	// which is worth it only while the log it reads is small (see
	// newGroup); otherwise only the snapshot restore is paused.
	pauseGCOpen bool
	// logBytes is the log's size on disk, for the byte bounds (logsize.go),
	// and logBytesFrom the bytes of the entries from an index on (the
	// log past a snapshot); nil when unknown.
	logBytes     func() int64
	logBytesFrom func(uint64) int64
	// dir is the group's directory on disk ("" in memory), and
	// snapsBefore the snapshot directories found there before raft
	// started (snapshotcheck.go).
	dir         string
	snapsBefore []string
	// stableLive, when the stable store is a checkedStable, is set once
	// raft runs (newRaftNoPanic).
	stableLive *atomic.Bool
	// closers release the transport and the stores, in order, once raft
	// has shut down.
	closers []io.Closer
}

// peerCaller sends one internal RPC (forward.go's methods) to the node at
// addr and returns its reply. *mux.Mux is the production one. The term
// poll needs only what mux.Call promises: an error for any request not
// answered, and a reply that is the peer's own.
type peerCaller interface {
	Call(ctx context.Context, addr string, method uint8, payload []byte) ([]byte, error)
}

var _ peerCaller = (*mux.Mux)(nil)

// close releases what the layer holds; raft must be shut down first.
func (l *groupLayer) close() error {
	var errs []error
	for _, c := range l.closers {
		errs = append(errs, c.Close())
	}
	l.closers = nil
	return errors.Join(errs...)
}

// diskLayer opens group id's production layer under <DataDir>/<id>: the
// raftwal log (behind a cache of its newest entries, logcache.go),
// raft-boltdb for the term and vote, crash-safe file snapshots
// (node/snapstore), a raft transport over the mux and the mux for polls.
// On failure whatever it opened is closed again.
func (n *Node) diskLayer(id int) (_ groupLayer, err error) {
	cfg := &n.cfg
	dir := filepath.Join(cfg.DataDir, strconv.Itoa(id))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return groupLayer{}, err
	}
	if !cfg.NoSync {
		// The group directory's own entry must survive a crash as what
		// is in it does (raftwal and snapstore sync the entries inside).
		if err := syncDir(cfg.DataDir); err != nil {
			return groupLayer{}, err
		}
	}
	l := groupLayer{peers: n.mux}
	defer func() {
		if err != nil {
			_ = l.close()
		}
	}()
	store, err := raftboltdb.New(raftboltdb.Options{
		Path: filepath.Join(dir, "raft.db"),
		// NoFreelistSync + the map freelist keep bbolt's commit cost flat as
		// the log file grows; the freelist is rebuilt at open instead.
		BoltOptions: &bbolt.Options{
			Timeout:        2 * time.Second,
			NoFreelistSync: true,
			FreelistType:   bbolt.FreelistMapType,
		},
		NoSync: cfg.NoSync,
	})
	if err != nil {
		return groupLayer{}, fmt.Errorf("open log store: %w", err)
	}
	// A failed save of the term or vote stops the node (stablestore.go).
	l.stableLive = new(atomic.Bool)
	stable := checkedStable{StableStore: store, group: id, live: l.stableLive, onFailure: n.fatal}
	if cfg.TestMode {
		stable.fault = n.disk.termErr // DEBUG.DISK FAIL-TERM (disk_debug.go)
	}
	l.stable = stable
	// A log that cannot write stops the node: restarting replays what is
	// intact, staying up would leave the group unable to append.
	wal, err := openWAL(dir, store, cfg.NoSync, n.fatal, n.log.With("group", id), n.admin.met.LogAppendFunc())
	if err != nil {
		store.Close()
		return groupLayer{}, err
	}
	l.closers = append(l.closers, wal, store)
	l.pauseGCOpen = wal.Bytes() <= maxUncollectedLog
	logger := n.hclogger(fmt.Sprintf("raft-g%d", id))
	l.dir = dir
	if l.snapsBefore, err = snapshotDirs(dir); err != nil { // snapshotcheck.go
		return groupLayer{}, fmt.Errorf("snapshot store: %w", err)
	}
	// A crash-safe store (node/snapstore) in raft's FileSnapshotStore
	// layout; New removes the snapshots a crash left half-written.
	if l.snaps, err = snapstore.New(dir, snapstore.Options{Retain: 2, NoSync: cfg.NoSync, Logger: n.log.With("group", id)}); err != nil {
		return groupLayer{}, fmt.Errorf("snapshot store: %w", err)
	}
	l.logBytes, l.logBytesFrom = wal.Bytes, wal.BytesFrom
	var logs raft.LogStore = checkedLog{Log: wal, group: id, onFailure: n.fatal}
	if cfg.TestMode {
		logs = faultyLog{LogStore: logs, d: &n.disk, onFailure: n.fatal} // DEBUG.DISK (disk.go)
	}
	l.logs = newLogCache(logs, logCacheEntries, logCacheBytes) // logcache.go
	l.followers = &followerTrack{}
	trans, err := n.groupTransport(id, logger, l.followers) // rafttransport.go
	if err != nil {
		return groupLayer{}, err
	}
	// Closed in this order: the transport, the log, the bolt store.
	l.closers = append([]io.Closer{trans}, l.closers...)
	l.trans = trans
	return l, nil
}

// syncDir makes dir's entries durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
