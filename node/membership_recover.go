package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/node/snapstore"
)

// Recovery from lost quorum. When a majority of a cluster's servers is
// gone for good, no group can elect a leader and no configuration change
// can commit: MEMBER REMOVE cannot help. Recover rewrites, offline, the
// configuration of every group in one survivor's data directory to the
// survivors given, with raft.RecoverCluster. Run it on every survivor,
// with the same peers, while no server runs; then start them.
//
// What it costs: every entry in this survivor's log is taken as
// committed, including entries the old leader never had acknowledged (a
// write a client was told was INDETERMINATE may appear), and entries the
// lost servers had committed without this survivor are gone (writes that
// were acknowledged may be missing). Survivors with different logs may
// disagree until the new leader's log overwrites the others.

// RecoverPeer is one survivor: its server id and raft (internal) address.
type RecoverPeer struct{ ID, Addr string }

// RecoverReport says what Recover did to each group.
type RecoverReport struct {
	Group     int
	LastIndex uint64 // the last log index kept, all of it now committed
	LastTerm  uint64
}

// Recover rewrites the configuration of every group in dataDir (a
// stopped server's) to peers, which must include id. limits must be the
// record limits the cluster runs with: the log is replayed through the
// state machine to take a new snapshot.
func Recover(dataDir, id string, peers []RecoverPeer, limits fsm.Limits) ([]RecoverReport, error) {
	if len(peers) == 0 {
		return nil, fmt.Errorf("%w: no peers given", ErrBadArg)
	}
	seen := map[string]bool{}
	var servers []raft.Server
	for _, p := range peers {
		if p.ID == "" || p.Addr == "" || seen[p.ID] {
			return nil, fmt.Errorf("%w: peer %q=%q: empty or repeated", ErrBadArg, p.ID, p.Addr)
		}
		seen[p.ID] = true
		servers = append(servers, raft.Server{ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Addr), Suffrage: raft.Voter})
	}
	if !seen[id] {
		return nil, fmt.Errorf("%w: the peers must include this server (%s)", ErrBadArg, id)
	}
	var ident identityState
	if b, err := os.ReadFile(filepath.Join(dataDir, identityFile)); err == nil && len(b) > 0 {
		if err := ident.load(dataDir, true); err != nil {
			return nil, err
		}
		if ident.get().Removed {
			return nil, fmt.Errorf("%w: this data directory was removed from the cluster; recover from another survivor", ErrBadArg)
		}
	}
	ents, err := os.ReadDir(dataDir)
	if err != nil {
		return nil, err
	}
	var gids []int
	for _, e := range ents {
		if g, err := strconv.Atoi(e.Name()); err == nil && e.IsDir() && g >= 0 && g < maxGroups {
			gids = append(gids, g)
		}
	}
	sort.Ints(gids)
	if len(gids) == 0 {
		return nil, fmt.Errorf("%w: no group directories in %s", ErrBadArg, dataDir)
	}
	var out []RecoverReport
	for _, g := range gids {
		r, err := recoverGroup(filepath.Join(dataDir, strconv.Itoa(g)), g, id, servers, limits)
		if err != nil {
			return out, fmt.Errorf("group %d: %w", g, err)
		}
		r.Group = g
		out = append(out, r)
	}
	return out, nil
}

func recoverGroup(dir string, gid int, id string, servers []raft.Server, limits fsm.Limits) (RecoverReport, error) {
	store, err := raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(dir, "raft.db"),
		BoltOptions: &bbolt.Options{Timeout: 2 * time.Second, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType},
	})
	if err != nil {
		return RecoverReport{}, fmt.Errorf("open log store (is the server still running?): %w", err)
	}
	defer store.Close()
	var walErr error
	wal, err := openWAL(dir, store, false, func(err error) { walErr = err }, nil, nil)
	if err != nil {
		return RecoverReport{}, err
	}
	defer wal.Close()
	snaps, err := snapstore.New(dir, snapstore.Options{Retain: 2})
	if err != nil {
		return RecoverReport{}, err
	}
	if has, err := raft.HasExistingState(wal, store, snaps); err != nil || !has {
		return RecoverReport{}, errors.Join(err, errors.New("no raft state to recover"))
	}
	_, trans := raft.NewInmemTransport("")
	defer trans.Close()
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(id)
	rc.LogOutput = os.Stderr
	var fatal error
	rf := newRaftFSM(fsm.New(limits), gid, func(err error) { fatal = err })
	if err := raft.RecoverCluster(rc, rf, wal, store, snaps, trans, raft.Configuration{Servers: servers}); err != nil {
		return RecoverReport{}, err
	}
	if err := errors.Join(fatal, walErr); err != nil {
		return RecoverReport{}, err
	}
	// RecoverCluster snapshots what it replayed and compacts the log:
	// what was kept ends at the newest snapshot, or the log after it.
	var rep RecoverReport
	if metas, err := snaps.List(); err == nil && len(metas) > 0 {
		rep.LastIndex, rep.LastTerm = metas[0].Index, metas[0].Term
	}
	var e raft.Log
	if last, _ := wal.LastIndex(); last > rep.LastIndex && wal.GetLog(last, &e) == nil {
		rep.LastIndex, rep.LastTerm = last, e.Term
	}
	return rep, nil
}
