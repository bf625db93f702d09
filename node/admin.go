package node

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/node/metrics"
)

// admin is the node's observability: its Prometheus metrics (nil without
// Config.HTTPAddr: every recording method of a nil *metrics.Metrics does
// nothing), the admin HTTP server, and the recent leader changes every
// group's raft reported. The node is the metrics.Source (Status, Ready).
type admin struct {
	met *metrics.Metrics
	srv *metrics.Server

	mu      sync.Mutex
	changes []metrics.LeaderChange // ring, oldest first once full
	next    int

	ops opsSampler // INFO's instantaneous_ops_per_sec (info.go)
}

// maxLeaderChanges is how many leader changes the status page keeps.
const maxLeaderChanges = 32

// newAdmin makes the metrics when the node serves them.
func (n *Node) newAdmin() {
	if n.cfg.HTTPAddr != "" {
		n.admin.met = metrics.New(n)
	}
}

// Metrics returns the node's metrics, nil without Config.HTTPAddr. The
// server installs go-metrics' sink on it (metrics.InstallRaftSink).
func (n *Node) Metrics() *metrics.Metrics { return n.admin.met }

// HTTPAddr is the admin HTTP server's address, "" without one.
func (n *Node) HTTPAddr() string {
	if n.admin.srv == nil {
		return ""
	}
	return n.admin.srv.Addr()
}

// watchLeaders records every group's leader changes, and moves the
// topology epoch on them and on a leader's configuration changes
// (topowatch.go), until ctx ends.
func (n *Node) watchLeaders(ctx context.Context) {
	for _, g := range n.groups {
		ch := make(chan raft.Observation, 64)
		obs := raft.NewObserver(ch, false, func(o *raft.Observation) bool {
			switch o.Data.(type) {
			case raft.LeaderObservation, raft.PeerObservation:
				return true
			}
			return false
		})
		g.raft.RegisterObserver(obs)
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			defer g.raft.DeregisterObserver(obs)
			for {
				select {
				case <-ctx.Done():
					return
				case o := <-ch:
					switch d := o.Data.(type) {
					case raft.LeaderObservation:
						n.leaderChanged(g, string(d.LeaderID))
					case raft.PeerObservation:
						// A leader's configuration gained or lost a
						// server: TOPOLOGY's members changed.
						n.topo.bump()
					}
				}
			}
		}()
	}
}

// listenAdmin opens the admin port, if configured, before the node
// announces itself: its address travels in the gossip metadata, so every
// status page links to every node's.
func (n *Node) listenAdmin() error {
	if n.cfg.HTTPAddr == "" {
		return nil
	}
	srv, err := metrics.Listen(n.cfg.HTTPAddr, n.cfg.HTTPTLS, metrics.Handler(n.admin.met, n))
	if err != nil {
		return fmt.Errorf("listen http: %w", err)
	}
	n.admin.srv = srv
	return nil
}

// advertisedHTTP is the admin address others are told: the listen
// address, with the advertised client host when it listens on every
// interface.
func (n *Node) advertisedHTTP() string {
	addr := n.HTTPAddr()
	if addr == "" {
		return ""
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || !isWildcard(host) {
		return addr
	}
	if chost, _, err := net.SplitHostPort(n.clientAddr); err == nil && !isWildcard(chost) {
		return net.JoinHostPort(chost, port)
	}
	return addr
}

// stopAdmin closes the admin port, giving scrapes in flight a moment.
func (n *Node) stopAdmin() error {
	if n.admin.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return n.admin.srv.Close(ctx)
}

// leaderChanged records a leader change raft reported for g ("" while
// there is none).
func (n *Node) leaderChanged(g *group, leader string) {
	c := metrics.LeaderChange{Time: time.Now(), Group: g.id, Leader: leader, Term: g.raft.CurrentTerm()}
	a := &n.admin
	a.mu.Lock()
	if len(a.changes) < maxLeaderChanges {
		a.changes = append(a.changes, c)
	} else {
		a.changes[a.next] = c
		a.next = (a.next + 1) % maxLeaderChanges
	}
	a.mu.Unlock()
	n.topo.bump() // tell TOPOLOGY WAIT (topowatch.go)
	if leader != "" {
		a.met.LeaderChange(strconv.Itoa(g.id))
	}
}

func (a *admin) leaderChanges() []metrics.LeaderChange {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]metrics.LeaderChange, 0, len(a.changes))
	out = append(out, a.changes[a.next:]...)
	return append(out, a.changes[:a.next]...)
}

// Status implements metrics.Source.
func (n *Node) Status() metrics.Status {
	st := metrics.Status{
		NodeID:        n.cfg.ID,
		Version:       Version,
		ClientAddr:    n.clientAddr,
		DataDir:       n.cfg.DataDir,
		Started:       n.started,
		LeaderChanges: n.admin.leaderChanges(),
		Security:      n.securityTotals(), // info_security.go
	}
	if n.respSrv != nil {
		st.Connections = n.respSrv.NumConns()
		s := n.respSrv.Stats()
		st.Client = metrics.ClientTotals{ConnsAccepted: s.ConnsAccepted, ConnsRejected: s.ConnsRejected,
			Commands: s.Commands, BytesIn: s.BytesIn, BytesOut: s.BytesOut}
	}
	for _, m := range n.members() {
		st.Members = append(st.Members, metrics.Member{ID: m.ID, ClientAddr: m.Client, HTTPAddr: m.HTTP, Alive: m.Alive})
	}
	for _, g := range n.groups {
		gs := metrics.Group{
			ID:           g.id,
			Role:         roleName(g.raft.State()),
			Term:         g.raft.CurrentTerm(),
			CommitIndex:  g.raft.CommitIndex(),
			AppliedIndex: g.rfsm.applied.Load(),
			StateAge:     g.stateAge(),
			Sessions:     g.fsm.Len(),
		}
		gs.Tombstones, gs.DedupEntries = g.fsm.TableSizes()
		_, gs.Leader = g.leaderAddr()
		if gs.Role == "leader" && g.layer.followers != nil {
			gs.Followers = g.layer.followers.report(g)
		}
		st.Groups = append(st.Groups, gs)
	}
	return st
}

func roleName(s raft.RaftState) string {
	switch s {
	case raft.Leader:
		return "leader"
	case raft.Follower:
		return "follower"
	case raft.Candidate:
		return "candidate"
	default:
		return "shutdown"
	}
}

// Ready implements metrics.Source: every group has a known leader and
// this node's replica of it is within MaxStaleness by the log clock (the
// bound a stale read is checked against), so the node can serve every
// request, locally or by forwarding.
func (n *Node) Ready() (bool, string) {
	select {
	case <-n.closing:
		return false, "shutting down"
	default:
	}
	for _, g := range n.groups {
		if _, id := g.leaderAddr(); id == "" {
			return false, fmt.Sprintf("group %d has no leader", g.id)
		}
		if age := g.stateAge(); age > n.cfg.MaxStaleness {
			return false, fmt.Sprintf("group %d state is %v old (bound %v)", g.id, age.Round(time.Millisecond), n.cfg.MaxStaleness)
		}
	}
	return true, ""
}

var _ metrics.Source = (*Node)(nil)

// followerTrack is what a leader knows of its followers' logs: raft does
// not export its replication state, so the group's transport notes each
// AppendEntries answer (heartbeats included): the follower's last log
// index and when it answered.
type followerTrack struct {
	mu   sync.Mutex
	seen map[raft.ServerID]followerSeen
}

type followerSeen struct {
	lastLog uint64
	at      time.Time
}

func (f *followerTrack) note(id raft.ServerID, lastLog uint64) {
	now := time.Now()
	f.mu.Lock()
	if f.seen == nil {
		f.seen = make(map[raft.ServerID]followerSeen)
	}
	f.seen[id] = followerSeen{lastLog: lastLog, at: now}
	f.mu.Unlock()
}

// report lists the voters and non-voters of g's configuration other than
// this node, with their lag behind the leader's last index; one never
// heard from has the whole log as lag and no last contact (-1).
func (f *followerTrack) report(g *group) []metrics.Follower {
	cf := g.raft.GetConfiguration()
	if cf.Error() != nil {
		return nil
	}
	last := g.raft.LastIndex()
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []metrics.Follower
	for _, s := range cf.Configuration().Servers {
		if string(s.ID) == g.n.cfg.ID {
			continue
		}
		fl := metrics.Follower{ID: string(s.ID), Lag: last, LastContact: -1}
		if seen, ok := f.seen[s.ID]; ok {
			fl.MatchIndex = min(seen.lastLog, last)
			fl.Lag = last - fl.MatchIndex
			fl.LastContact = time.Since(seen.at)
		}
		out = append(out, fl)
	}
	return out
}
