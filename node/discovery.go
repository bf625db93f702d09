package node

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"
)

// meta is what each node gossips about itself through memberlist.
type meta struct {
	ID     string `json:"id"`
	Raft   string `json:"raft"`           // mux address: raft for every group + forwarding RPC
	Client string `json:"client"`         // RESP address
	Groups int    `json:"groups"`         // G; every node of a cluster must agree
	HTTP   string `json:"http,omitempty"` // admin HTTP address (metrics, status page), if any
	// State says the node holds raft state (it was bootstrapped or joined).
	// bootstrap-expect refuses to bootstrap when any peer says so: a fresh
	// node must never start a second cluster beside an existing one.
	State bool `json:"state,omitempty"`
	// Identity and membership (membership.go): the data directory's
	// incarnation, whether the cluster admitted it, whether it was ever in
	// a configuration, whether it was removed, whether it is handing its
	// leaderships away (a removal, a shutdown).
	Inc      string `json:"inc,omitempty"`
	Admitted bool   `json:"admitted,omitempty"`
	Member   bool   `json:"member,omitempty"`
	Removed  bool   `json:"removed,omitempty"`
	Draining bool   `json:"draining,omitempty"`
	// DiskLow is the node's disk alarm (disk.go): while any member raises
	// it, every node refuses new writes.
	DiskLow bool `json:"disk_low,omitempty"`
	// Proto is the highest raft entry format the node understands
	// (envelopegate.go); absent (0) from nodes older than the field.
	Proto int `json:"proto,omitempty"`
}

// member is an alive memberlist node with decoded metadata.
type member struct {
	meta
	Alive bool
	// Since is when gossip last saw Alive change (zero: alive since first
	// seen); the dead-server cleanup measures failures from it.
	Since time.Time
}

type gossipDelegate struct{ n *Node }

func (d gossipDelegate) NodeMeta(limit int) []byte {
	d.n.mu.Lock()
	self := d.n.self
	d.n.mu.Unlock()
	b, _ := json.Marshal(self)
	if len(b) > limit {
		d.n.log.Error("node metadata exceeds memberlist limit", "size", len(b), "limit", limit)
		return nil
	}
	return b
}
func (gossipDelegate) NotifyMsg([]byte)                           {}
func (gossipDelegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (gossipDelegate) LocalState(join bool) []byte                { return nil }
func (gossipDelegate) MergeRemoteState(buf []byte, join bool)     {}

type gossipEvents struct{ n *Node }

// The event callbacks copy what they need: memberlist hands out pointers to
// its own node records and keeps updating them, so reading them later (as
// through Memberlist.Members) would race.
func (e gossipEvents) NotifyJoin(m *memberlist.Node)   { e.n.setMember(m, true) }
func (e gossipEvents) NotifyLeave(m *memberlist.Node)  { e.n.setMember(m, false) }
func (e gossipEvents) NotifyUpdate(m *memberlist.Node) { e.n.setMember(m, true) }

func (n *Node) setMember(m *memberlist.Node, alive bool) {
	var md meta
	if err := json.Unmarshal(m.Meta, &md); err != nil || md.ID == "" {
		return
	}
	n.noteMember(m.Name, md, alive)
}

// noteMember records a member's latest metadata and liveness.
func (n *Node) noteMember(name string, md meta, alive bool) {
	n.memberMu.Lock()
	if n.memberTable == nil {
		n.memberTable = map[string]member{}
	}
	old, seen := n.memberTable[name]
	since := old.Since
	if seen && old.Alive != alive {
		since = time.Now()
	} else if !seen && !alive {
		since = time.Now()
	}
	n.memberTable[name] = member{meta: md, Alive: alive, Since: since}
	low := ""
	for _, m := range n.memberTable {
		if m.Alive && m.DiskLow && (low == "" || m.ID < low) {
			low = m.ID
		}
	}
	n.diskLowPeer.Store(&low)
	n.memberMu.Unlock()
	if !seen || old.Alive != alive || old.Client != md.Client || old.Raft != md.Raft || old.ID != md.ID {
		n.topo.bump() // what TOPOLOGY reports changed (topowatch.go)
	}
	n.kickMembership()
}

func (n *Node) startGossip() error {
	host, portStr, err := net.SplitHostPort(n.cfg.GossipAddr)
	if err != nil {
		return err
	}
	port, _ := strconv.Atoi(portStr)
	mc := memberlist.DefaultLANConfig()
	if n.cfg.TestMode {
		mc = memberlist.DefaultLocalConfig()
	}
	mc.Name = n.cfg.ID
	// Gossip messages are a few hundred bytes: compressing each (a new
	// LZW writer per message) cost allocation and CPU for nothing.
	// Receiving stays compatible: memberlist reads compressed messages
	// whatever this says.
	mc.EnableCompression = false
	mc.BindAddr = host
	mc.BindPort = port
	if adv := n.cfg.AdvertiseGossip; adv != "" {
		ah, ap, err := net.SplitHostPort(adv)
		if err != nil {
			return fmt.Errorf("advertise gossip: %w", err)
		}
		mc.AdvertiseAddr = ah
		mc.AdvertisePort, _ = strconv.Atoi(ap)
	}
	if n.gossipKeys != nil {
		// memberlist then encrypts everything it sends and drops whatever
		// does not decrypt under a key of the ring (GossipVerifyIncoming).
		mc.Keyring = n.gossipKeys.ring
		mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	}
	mc.Delegate = gossipDelegate{n}
	mc.Events = gossipEvents{n}
	mc.LogOutput = &memberlistWriter{log: n.log.With("component", "memberlist"), level: n.cfg.RaftLogLevel}
	ml, err := memberlist.Create(mc)
	if err != nil {
		return fmt.Errorf("memberlist: %w", err)
	}
	n.ml = ml
	return nil
}

// joinLoop keeps trying to join the configured peers until one answers:
// in a fresh cluster the peers may not be up yet.
func (n *Node) joinLoop(ctx context.Context) {
	if len(n.cfg.Join) == 0 {
		return
	}
	backoff := 200 * time.Millisecond
	for {
		if _, err := n.ml.Join(n.cfg.Join); err == nil {
			return
		} else {
			n.log.Debug("join failed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		if backoff < 2*time.Second {
			backoff *= 2
		}
	}
}

// members returns the known members with valid metadata (alive or not),
// sorted by id.
func (n *Node) members() []member {
	n.memberMu.Lock()
	out := make([]member, 0, len(n.memberTable))
	for _, m := range n.memberTable {
		out = append(out, m)
	}
	n.memberMu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (n *Node) memberByID(id string) (member, bool) {
	for _, m := range n.members() {
		if m.ID == id {
			return m, true
		}
	}
	return member{}, false
}

func (n *Node) kickMembership() {
	select {
	case n.membershipKick <- struct{}{}:
	default:
	}
}

// membershipLoop bootstraps once enough servers are seen, and lets each
// group leader follow address changes of its servers. Gossip never adds or
// removes a server: MEMBER ADD/REMOVE do (cmd_member.go).
func (n *Node) membershipLoop(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		n.maybeBootstrap()
		n.refreshState()
		n.reconcileVoters()
		n.refreshPeers()
		n.refreshEnvelopeGates() // envelopegate.go
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-n.membershipKick:
		}
	}
}

const bootstrapMarker = "bootstrapped"

// maybeBootstrap bootstraps every group when exactly BootstrapExpect alive
// servers agree on the group count and this node has no raft state.
// Every node computes the same configuration (all seen servers, sorted by
// id) so they may all bootstrap it: raft accepts identical bootstraps, and a
// node with existing state never bootstraps again (raft refuses, and the
// marker file makes the decision visible to operators).
func (n *Node) maybeBootstrap() {
	if n.cfg.BootstrapExpect == 0 || n.bootstrapped.Load() {
		return
	}
	marker := filepath.Join(n.cfg.DataDir, bootstrapMarker)
	if _, err := os.Stat(marker); err == nil {
		n.bootstrapped.Store(true)
		return
	}
	for _, g := range n.groups {
		if has, err := g.hasState(); err != nil || has {
			if err == nil {
				n.bootstrapped.Store(true)
			}
			return
		}
	}
	var alive []member
	for _, m := range n.members() {
		if !m.Alive {
			continue
		}
		if m.State && m.ID != n.cfg.ID {
			n.log.Warn("a peer already holds raft state; not bootstrapping (to join that cluster, start without --bootstrap-expect and run MEMBER ADD on a member)", "peer", m.ID)
			return
		}
		alive = append(alive, m)
	}
	if len(alive) < n.cfg.BootstrapExpect {
		return
	}
	if len(alive) > n.cfg.BootstrapExpect {
		n.log.Error("more servers than bootstrap-expect; refusing to bootstrap", "seen", len(alive), "expect", n.cfg.BootstrapExpect)
		return
	}
	var servers []raft.Server
	for _, m := range alive {
		if m.Groups != len(n.groups) {
			n.log.Error("group count mismatch; refusing to bootstrap", "peer", m.ID, "peer_groups", m.Groups, "groups", len(n.groups))
			return
		}
		// Every voter of the first configuration must prove its id (with
		// TLS): a forged gossip member must not become one.
		if m.ID != n.cfg.ID && !n.proveMember(m) {
			return
		}
		servers = append(servers, raft.Server{ID: raft.ServerID(m.ID), Address: raft.ServerAddress(m.Raft), Suffrage: raft.Voter})
	}
	for _, g := range n.groups {
		if err := g.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil && err != raft.ErrCantBootstrap {
			n.log.Error("bootstrap failed", "group", g.id, "err", err)
			return
		}
	}
	if err := os.WriteFile(marker, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o640); err != nil {
		n.log.Warn("cannot write bootstrap marker", "err", err)
	}
	n.bootstrapped.Store(true)
	founders := map[string]string{}
	for _, m := range alive {
		founders[m.ID] = m.Inc
	}
	if err := n.ident.update(func(i *identity) { i.Admitted, i.Member, i.Founders = true, true, founders }); err != nil {
		n.log.Error("cannot record admission", "err", err)
	}
	n.gossipSelf()
	n.markState()
	n.log.Info("bootstrapped raft groups", "groups", len(n.groups), "servers", len(servers))
}

// markState gossips that this node holds raft state, once it does.
func (n *Node) markState() {
	n.mu.Lock()
	changed := !n.self.State
	n.self.State = true
	n.mu.Unlock()
	if changed && n.ml != nil {
		if err := n.ml.UpdateNode(time.Second); err != nil {
			n.log.Debug("gossip state update", "err", err)
		}
	}
}

// refreshState notices raft state gained by joining an existing cluster
// (a leader added this node) and gossips it.
func (n *Node) refreshState() {
	n.mu.Lock()
	known := n.self.State
	n.mu.Unlock()
	if known {
		return
	}
	for _, g := range n.groups {
		if has, err := g.hasState(); err == nil && has {
			n.markState()
			return
		}
	}
}

// reconcileVoters follows the address changes of servers already in a
// group's configuration, keeping their suffrage. It never adds a server
// (MEMBER ADD does, as a non-voter first) and never removes one: a kill -9
// must not shrink the quorum, nor a new server grow it.
// Gossip is only a hint: with TLS an address moves only once the server at
// the announced address has proven the id (proveMember).
func (n *Node) reconcileVoters() {
	ms := n.members()
	proofs := map[member]bool{}
	proved := func(m member) bool {
		ok, done := proofs[m]
		if !done {
			ok = n.proveMember(m)
			proofs[m] = ok
		}
		return ok
	}
	for _, g := range n.groups {
		if !g.isLeader() {
			continue
		}
		f := g.raft.GetConfiguration()
		if f.Error() != nil {
			continue
		}
		known := map[raft.ServerID]raft.ServerAddress{}
		suffrage := map[raft.ServerID]raft.ServerSuffrage{}
		for _, s := range f.Configuration().Servers {
			known[s.ID] = s.Address
			suffrage[s.ID] = s.Suffrage
		}
		for _, m := range ms {
			if !m.Alive || m.Groups != len(n.groups) {
				continue
			}
			addr, ok := known[raft.ServerID(m.ID)]
			if !ok || addr == raft.ServerAddress(m.Raft) || !m.Admitted || !proved(m) {
				continue
			}
			n.log.Info("server address changed", "group", g.id, "id", m.ID, "addr", m.Raft)
			var f raft.IndexFuture
			if suffrage[raft.ServerID(m.ID)] == raft.Voter {
				f = g.raft.AddVoter(raft.ServerID(m.ID), raft.ServerAddress(m.Raft), 0, 10*time.Second)
			} else {
				f = g.raft.AddNonvoter(raft.ServerID(m.ID), raft.ServerAddress(m.Raft), 0, 10*time.Second)
			}
			if err := f.Error(); err != nil {
				n.log.Warn("address update failed", "group", g.id, "id", m.ID, "err", err)
			}
		}
	}
}
