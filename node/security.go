package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/transport/mux"
	"github.com/sessionraft/sessionraft/transport/tlsconf"
)

// Internal-port security (issue 10; docs/SECURITY.md has the threat model).
//
// With Config.TLSCA/TLSCert/TLSKey the mux speaks mutual TLS 1.3 only and
// every peer's node id is proven by its certificate. On top of that the
// node decides whom it trusts with what:
//   - an RPC (forwarded read or write, term poll) is served only for a
//     caller whose proven id is a voter of one of this node's raft groups
//     (checkCaller);
//   - the mux learns which node id belongs at which address from the raft
//     configurations and from identities proven over TLS, never from gossip
//     alone (peerTable), so a dial to a voter's address only succeeds if
//     the server there proves that voter's id;
//   - gossip is only a hint: a server it announces becomes a voter, and a
//     voter moves to the address it announces, only after the node dials
//     that address and the server there proves the id (proveMember).
//
// Without TLS none of this can be proven: the node keeps the old behaviour
// (trust the network) and says so at start.

// peerTable is what the node knows for certain about node ids and
// addresses: the voters of its raft groups (committed by the cluster) and
// the servers that proved their id over TLS. It is rebuilt, never changed,
// so readers need no lock.
type peerTable struct {
	byAddr  map[string]string   // mux address -> node id
	members map[string]struct{} // node ids that are voters of some group
}

// keyringFileName is the default gossip keyring file in the data directory.
const keyringFileName = "gossip.keyring"

// peerRefreshGap rate-limits the peer table refreshes a refused caller
// triggers, so a certified stranger cannot make the node ask raft for its
// configurations on every request.
const peerRefreshGap = 250 * time.Millisecond

// validateSecurity checks the security fields (called by Validate).
func (c *Config) validateSecurity(v *validator) {
	set := 0
	for _, f := range []string{c.TLSCA, c.TLSCert, c.TLSKey} {
		if f != "" {
			set++
		}
	}
	v.check(set == 0 || set == 3, "TLSCA, TLSCert and TLSKey must be given together (or none of them)")
	v.check(c.MaxInternalConns >= 0, "MaxInternalConns must be >= 0")
	h := c.Handshakes
	v.check(h.MaxHandshakes >= 0 && h.MaxHandshakesPerIP >= 0 && h.BurstPerIP >= 0 && h.HandshakeTimeout >= 0,
		"Handshakes: MaxHandshakes, MaxHandshakesPerIP, BurstPerIP and HandshakeTimeout must be >= 0")
	if c.GossipKey != "" {
		if _, err := DecodeGossipKey(c.GossipKey); err != nil {
			v.addf("GossipKey: %s", strings.TrimPrefix(err.Error(), ErrBadArg.Error()+": "))
		}
	}
}

// tlsEnabled reports whether the internal port runs mutual TLS.
func (c *Config) tlsEnabled() bool { return c.TLSCert != "" }

// loadTLS loads the node's certificate and checks that it names cfg.ID:
// a node must not start under an identity its peers would refuse.
func loadTLS(cfg *Config) (*tlsconf.Store, error) {
	if !cfg.tlsEnabled() {
		return nil, nil
	}
	st, err := tlsconf.Load(tlsconf.Files{CA: cfg.TLSCA, Cert: cfg.TLSCert, Key: cfg.TLSKey})
	if err != nil {
		return nil, fmt.Errorf("internal TLS: %w", err)
	}
	switch id := st.NodeID(); {
	case id == "":
		return nil, fmt.Errorf("internal TLS: %s names no node id (a client certificate?); issue a node certificate with `sessionraft certs node --id %s`", cfg.TLSCert, cfg.ID)
	case id != cfg.ID:
		return nil, fmt.Errorf("internal TLS: %s is the certificate of node %q, not of this node %q", cfg.TLSCert, id, cfg.ID)
	}
	return st, nil
}

// ReloadTLS re-reads the internal port's CA, certificate and key (the
// server calls it on SIGHUP). New connections use them at once;
// established ones are unaffected. On error the old files stay in use.
// Without TLS configured it returns an error saying so.
func (n *Node) ReloadTLS() error {
	if n.tls == nil {
		return errors.New("internal TLS is not configured (no --tls-cert)")
	}
	if err := n.tls.Reload(); err != nil {
		return err
	}
	n.log.Info("internal TLS certificates reloaded", "not_after", n.tls.Certificate().NotAfter.UTC().Format(time.RFC3339))
	return nil
}

// openKeyring opens the gossip keyring the configuration asks for: nil
// when gossip runs in plaintext.
func openKeyring(cfg *Config) (*gossipKeyring, error) {
	file := cfg.GossipKeyringFile
	if file == "" {
		def := filepath.Join(cfg.DataDir, keyringFileName)
		// A ring written by an earlier run is used even without the key
		// flag: it holds the rotations made since, and dropping the flag
		// must not silently turn encryption off.
		if _, err := os.Stat(def); cfg.GossipKey != "" || err == nil {
			file = def
		}
	} else if cfg.GossipKey == "" {
		if _, err := os.Stat(file); err != nil {
			return nil, fmt.Errorf("gossip keyring file: %w (give --gossip-key to create it)", err)
		}
	}
	return openGossipKeyring(cfg.GossipKey, file)
}

// peerID is the mux's Config.PeerID: the node id known to belong at addr.
func (n *Node) peerID(addr string) string {
	if t := n.peers.Load(); t != nil {
		return t.byAddr[addr]
	}
	return ""
}

// refreshPeers rebuilds the peer table from the groups' raft
// configurations and the identities proven so far.
func (n *Node) refreshPeers() {
	t := &peerTable{byAddr: map[string]string{}, members: map[string]struct{}{}}
	n.memberMu.Lock()
	for addr, id := range n.proven {
		t.byAddr[addr] = id
	}
	n.memberMu.Unlock()
	for _, g := range n.groups {
		f := g.raft.GetConfiguration()
		if f.Error() != nil {
			continue
		}
		for _, s := range f.Configuration().Servers {
			t.byAddr[string(s.Address)] = string(s.ID)
			t.members[string(s.ID)] = struct{}{}
		}
	}
	n.peers.Store(t)
	n.peersAt.Store(time.Now().UnixNano())
}

// isMember reports whether id is a voter of one of this node's groups,
// refreshing the table first if it does not know id (a voter just added).
func (n *Node) isMember(id string) bool {
	if t := n.peers.Load(); t != nil {
		if _, ok := t.members[id]; ok {
			return true
		}
	}
	if time.Now().UnixNano()-n.peersAt.Load() < int64(peerRefreshGap) {
		return false
	}
	n.refreshPeers()
	_, ok := n.peers.Load().members[id]
	return ok
}

// raftPeerOK is the mux's Config.RaftPeer: a raft connection is accepted
// from a voter of one of this node's groups. A node that knows no voter
// at all (it has not bootstrapped yet, or waits to be added) accepts any
// certified node: the leader adding it is not yet in any configuration it
// holds. Such a node holds no data to protect. Until the groups have
// opened nothing is accepted (raft dials again).
func (n *Node) raftPeerOK(id string) bool {
	if n.peers.Load() == nil {
		return false // the groups are still opening; raft will retry
	}
	return n.knowsNoMembers() || n.isMember(id)
}

// knowsNoMembers reports whether this node is in no configuration yet (a
// new server waiting for MEMBER ADD): it holds nothing, so any node with a
// cluster certificate may reach it (to replicate to it, to admit it).
func (n *Node) knowsNoMembers() bool {
	t := n.peers.Load()
	if t == nil || len(t.members) > 0 {
		return false
	}
	n.refreshPeers()
	return len(n.peers.Load().members) == 0
}

// errNotMember refuses an RPC from a caller that is not a proven member.
// It reads UNAVAILABLE to the caller: nothing was done.
var errNotMember = fmt.Errorf("%w: caller is not a verified cluster member", ErrUnavailable)

// checkCaller lets an RPC through when the internal port has no TLS (the
// network is trusted), or when the caller's certificate proved an id that
// is a voter of one of this node's groups, or any id while this node is in
// no configuration yet (knowsNoMembers).
func (n *Node) checkCaller(ctx context.Context) error {
	if n.tls == nil {
		return nil
	}
	c, ok := mux.CallerFrom(ctx)
	if ok && c.Verified && (n.isMember(c.ID) || n.knowsNoMembers()) {
		return nil
	}
	// At most one warning per peerRefreshGap: whoever holds a certificate
	// must not be able to flood the log.
	now, last := time.Now().UnixNano(), n.refusedAt.Load()
	if now-last >= int64(peerRefreshGap) && n.refusedAt.CompareAndSwap(last, now) {
		n.log.Warn("refusing internal RPC from a caller that is not a cluster member", "caller", c.ID, "addr", c.Addr, "verified", c.Verified)
	}
	return errNotMember
}

// raftRPCCheck decides whether a raft request that arrived on an internal
// connection whose certificate proved the node id certID may be handed to
// raft. req is one of raft's request types (*raft.AppendEntriesRequest,
// ...); only its sender fields need be filled in. Any raft transport
// that knows the certificate of a connection calls it before raft sees the
// message (raftguard.go does for raft's NetworkTransport).
type raftRPCCheck func(certID string, req raft.WithRPCHeader) error

// checkRaftSender returns the check: a raft request must name certID as its
// sender (RPCHeader.ID, which raft's voting and leader tracking go by), and
// every address it claims as the sender's (RPCHeader.Addr, and the older
// Leader or Candidate fields raft still reads) must not belong to another
// node as far as peerID knows. An empty RPCHeader.ID is refused too: raft
// would then identify the sender by those addresses alone.
func checkRaftSender(peerID func(addr string) string) raftRPCCheck {
	return func(certID string, req raft.WithRPCHeader) error {
		h := req.GetRPCHeader()
		if string(h.ID) != certID {
			return fmt.Errorf("certificate names node %q, raft message claims to come from %q", certID, clip(h.ID))
		}
		addrs := [][]byte{h.Addr}
		switch r := req.(type) {
		case *raft.AppendEntriesRequest:
			addrs = append(addrs, r.Leader)
		case *raft.InstallSnapshotRequest:
			addrs = append(addrs, r.Leader)
		case *raft.RequestVoteRequest:
			addrs = append(addrs, r.Candidate)
		}
		for _, a := range addrs {
			if len(a) == 0 || peerID == nil {
				continue
			}
			if owner := peerID(string(a)); owner != "" && owner != certID {
				return fmt.Errorf("node %q sent a raft message claiming address %q, which belongs to node %q", certID, clip(a), owner)
			}
		}
		return nil
	}
}

// clip bounds a peer-supplied name quoted in a log line.
func clip(b []byte) string {
	const maxQuoted = 64
	if len(b) > maxQuoted {
		return string(b[:maxQuoted]) + "..."
	}
	return string(b)
}

// guardRaftStream puts the raft message guard (raftguard.go) on a group's
// stream layer when the internal port runs TLS; without TLS nothing is
// proven and the layer is returned as is.
func (n *Node) guardRaftStream(l raft.StreamLayer) raft.StreamLayer {
	if n.tls == nil {
		return l
	}
	return &guardedStreamLayer{
		StreamLayer: l,
		certID:      mux.PeerCertID,
		check:       checkRaftSender(n.peerID),
		refused:     n.raftRefused,
	}
}

// raftRefused counts a raft message or connection the guard refused and
// warns, at most once per peerRefreshGap (a certified peer must not be
// able to flood the log). Node ids and addresses are not secrets.
func (n *Node) raftRefused(certID string, err error) {
	n.raftGuard.refused.Add(1)
	now, last := time.Now().UnixNano(), n.raftGuard.warnAt.Load()
	if now-last >= int64(peerRefreshGap) && n.raftGuard.warnAt.CompareAndSwap(last, now) {
		n.log.Warn("refusing a raft message whose sender is not the node its certificate proves; closing the connection", "cert_id", certID, "err", err)
	}
}

// proveMember reports whether gossip's claim that node m.ID listens at
// m.Raft may be acted on. With TLS the node dials that address and the
// server must prove m.ID with its certificate; a proven identity is
// remembered for the peer table. Without TLS nothing can be proven and the
// claim is believed (the network is trusted; start-up warned about it).
func (n *Node) proveMember(m member) bool {
	if n.tls == nil {
		return true
	}
	if err := n.mux.VerifyPeer(m.Raft, m.ID); err != nil {
		n.log.Warn("gossip announces a server that did not prove its identity; ignoring it", "id", m.ID, "addr", m.Raft, "err", err)
		return false
	}
	n.memberMu.Lock()
	if n.proven == nil {
		n.proven = map[string]string{}
	}
	n.proven[m.Raft] = m.ID
	n.memberMu.Unlock()
	return true
}

// voterChange is what reconcileVoters would do for a gossiped member.
func voterChange(known map[raft.ServerID]raft.ServerAddress, m member) (add bool, moved bool) {
	addr, ok := known[raft.ServerID(m.ID)]
	switch {
	case !ok:
		return true, false
	case addr != raft.ServerAddress(m.Raft):
		return true, true
	}
	return false, false
}

// warnInsecure says at start what is not protected.
func (n *Node) warnInsecure() {
	if n.tls == nil {
		n.log.Warn("the internal port is unauthenticated (no --tls-cert): anyone who reaches it can read and write sessions and take part in raft; gossip can add voters and move their addresses. Use TLS outside closed test networks (docs/SECURITY.md)")
	}
	if n.gossipKeys == nil {
		n.log.Warn("gossip is not encrypted (no --gossip-key): anyone who reaches the gossip port can read and forge membership (docs/SECURITY.md)")
	}
}
