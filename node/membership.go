package node

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Identity. A server id names a role in the cluster; an incarnation names
// one life of a data directory under that id. Each data directory holds an
// incarnation made when it was first initialised, gossiped in the node's
// metadata, so that a wiped node coming back under its old id is never
// mistaken for the node that held the acknowledged data: that data is
// gone, and counting the empty node as a voter could lose writes.
//
// A fresh incarnation takes no part in raft (gateTransport refuses its raft
// traffic, votes included) until a MEMBER ADD admits it: the command checks
// the cluster's view first (cmd_member.go), so an id still present in a
// configuration must be removed before a wiped node may come back under it,
// and a data directory that was removed cannot rejoin with its old state.
// The node's data directory records what happened to it (identityFile).

const identityFile = "identity.json"

// identity is what a data directory records about its own membership.
type identity struct {
	Incarnation string    `json:"incarnation"`
	Created     time.Time `json:"created"`
	// Admitted: the cluster took this incarnation in (bootstrap, or
	// MEMBER ADD's admit RPC). Until then raft traffic is refused.
	Admitted bool `json:"admitted"`
	// Member: some group's configuration included this node; only then
	// can its absence from every configuration mean it was removed (a
	// node catching up replays configurations from before its addition).
	Member bool `json:"member"`
	// Removed: every group removed this node; it serves no request again.
	Removed bool `json:"removed"`
	// Founders are the incarnations of the servers this node bootstrapped
	// the cluster with (id → incarnation, as gossiped then). A founder
	// slower than the others sees their state and does not bootstrap
	// itself; a leader that recorded its incarnation admits it
	// (membership_promote.go). A founder wiped since has a new
	// incarnation and stays refused.
	Founders map[string]string `json:"founders,omitempty"`
}

// identityState is the node's identity and the flags derived from it that
// the hot paths read.
type identityState struct {
	mu       sync.Mutex
	dir      string
	id       identity
	admitted atomic.Bool
	removed  atomic.Bool
	draining atomic.Bool
}

// loadIdentity reads the data directory's identity, making one when there
// is none. hadState says the groups already held raft state: a directory
// from before incarnations existed is admitted as it is.
func (s *identityState) load(dir string, hadState bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dir = dir
	b, err := os.ReadFile(filepath.Join(dir, identityFile))
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &s.id); err != nil || s.id.Incarnation == "" {
			return fmt.Errorf("%s is corrupt; restore it or wipe the data directory", filepath.Join(dir, identityFile))
		}
	case errors.Is(err, fs.ErrNotExist):
		var r [12]byte
		if _, err := rand.Read(r[:]); err != nil {
			return err
		}
		s.id = identity{Incarnation: hex.EncodeToString(r[:]), Created: time.Now().UTC(), Admitted: hadState, Member: hadState}
		if err := s.saveLocked(); err != nil {
			return err
		}
	default:
		return err
	}
	s.admitted.Store(s.id.Admitted)
	s.removed.Store(s.id.Removed)
	return nil
}

func (s *identityState) get() identity {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

// update changes the identity with fn and saves it when it changed.
func (s *identityState) update(fn func(*identity)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.id
	old.Founders = maps.Clone(s.id.Founders)
	fn(&s.id)
	s.admitted.Store(s.id.Admitted)
	s.removed.Store(s.id.Removed)
	if s.dir == "" || reflect.DeepEqual(s.id, old) {
		return nil
	}
	return s.saveLocked()
}

// saveLocked writes the identity atomically (temporary file, fsync,
// rename): a torn identity would refuse the node at its next start.
func (s *identityState) saveLocked() error {
	b, err := json.MarshalIndent(s.id, "", "  ")
	if err != nil {
		return err
	}
	p := filepath.Join(s.dir, identityFile)
	f, err := os.OpenFile(p+".tmp", os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	_, werr := f.Write(append(b, '\n'))
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return err
	}
	return os.Rename(p+".tmp", p)
}

// errNotAdmitted answers raft traffic sent to an incarnation the cluster
// has not admitted; the sender's raft logs it and retries later.
var errNotAdmitted = errors.New("this server's data directory has not been admitted to the cluster (run MEMBER ADD for it)")

// gateTransport is a group's raft transport, refusing every incoming raft
// request while open() is false: a node whose data directory is new must
// not vote, nor accept entries, before MEMBER ADD admitted it, nor a
// removed one ever again (an empty
// log grants any candidate its vote, and a wiped voter would be counted in
// a quorum it cannot vouch for). Outgoing requests pass as they are.
type gateTransport struct {
	raft.Transport
	open func() bool
	out  chan raft.RPC
	stop chan struct{}
	once sync.Once
}

func newGateTransport(inner raft.Transport, open func() bool) *gateTransport {
	t := &gateTransport{Transport: inner, open: open, out: make(chan raft.RPC), stop: make(chan struct{})}
	go t.pump()
	return t
}

func (t *gateTransport) pump() {
	in := t.Transport.Consumer()
	for {
		select {
		case <-t.stop:
			return
		case rpc := <-in:
			if !t.open() {
				refuse(rpc)
				continue
			}
			select {
			case t.out <- rpc:
			case <-t.stop:
				refuseWith(rpc, raft.ErrTransportShutdown)
				return
			}
		}
	}
}

// refuse answers rpc with errNotAdmitted and an empty response of its
// type: some transports (raft's in-memory pipeline) read the response
// before the error.
func refuse(rpc raft.RPC) { refuseWith(rpc, errNotAdmitted) }

func refuseWith(rpc raft.RPC, err error) {
	var resp any
	switch rpc.Command.(type) {
	case *raft.AppendEntriesRequest:
		resp = &raft.AppendEntriesResponse{}
	case *raft.RequestVoteRequest:
		resp = &raft.RequestVoteResponse{}
	case *raft.RequestPreVoteRequest:
		resp = &raft.RequestPreVoteResponse{}
	case *raft.InstallSnapshotRequest:
		resp = &raft.InstallSnapshotResponse{}
	case *raft.TimeoutNowRequest:
		resp = &raft.TimeoutNowResponse{}
	}
	rpc.Respond(resp, err)
}

func (t *gateTransport) Consumer() <-chan raft.RPC { return t.out }

func (t *gateTransport) SetHeartbeatHandler(cb func(raft.RPC)) {
	if cb == nil {
		t.Transport.SetHeartbeatHandler(nil)
		return
	}
	t.Transport.SetHeartbeatHandler(func(rpc raft.RPC) {
		if !t.open() {
			refuse(rpc)
			return
		}
		cb(rpc)
	})
}

// RequestPreVote keeps the inner transport's pre-vote support visible to
// raft, which looks for it with a type assertion.
func (t *gateTransport) RequestPreVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	pv, ok := t.Transport.(raft.WithPreVote)
	if !ok {
		return raft.ErrUnsupportedProtocol
	}
	return pv.RequestPreVote(id, target, args, resp)
}

// Close stops the gate and closes the inner transport (raft calls it on
// shutdown).
func (t *gateTransport) Close() error {
	t.once.Do(func() { close(t.stop) })
	if c, ok := t.Transport.(raft.WithClose); ok {
		return c.Close()
	}
	return nil
}

// AppendEntriesPipeline passes the inner transport's pipeline (or its
// refusal) through: replication is outgoing, the gate is for incoming RPCs.
func (t *gateTransport) AppendEntriesPipeline(id raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	return t.Transport.AppendEntriesPipeline(id, target)
}
