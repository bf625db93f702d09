package node

import (
	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/fsm"
)

// The envelope gate: batch flags (fsm envelope version 2) in a rolling
// upgrade.
//
// A raft entry with batch flags (today FlagForgetFailures: a failed
// command takes no dedup entry) is refused by a node of an older version:
// it stops rather than apply the entry differently from its peers. So a
// group leader writes flags only once every server of the group's
// configuration (voters and non-voters: all of them apply the entries)
// has said it understands them, and writes version 1 entries, with the old
// dedup behaviour, until then.
//
// How a server says so: its gossip metadata carries Proto, the highest
// entry format it understands (envelopeProto); nodes older than the field
// gossip none, which reads as 0. It is the simplest place: every node
// already gossips its metadata and re-gossips on every change, the leader
// already keeps every member's latest metadata, and an unknown or missing
// report only delays the flags, never turns them on. The leader
// re-evaluates on every gossip change and membership pass (every 2 s), and
// when it takes a group's leadership, before its first write.
//
// What it does not cover: a server that goes back to an older version
// after the flags were in use, or an old server added to a cluster that
// already wrote flagged entries, meets them in the log and stops. A
// downgrade is not supported once every node runs a version that gossips
// Proto 2 (docs/ARCHITECTURE.md, "Rolling upgrades").

// envelopeProto is what this version gossips as Proto: 2, it understands
// envelope version 2 (batch flags, FlagForgetFailures).
const envelopeProto = 2

// batchFlags are the flags the leader writes into its next entry.
func (g *group) batchFlags() fsm.BatchFlags {
	if g.flagsOK.Load() {
		return fsm.FlagForgetFailures
	}
	return 0
}

// refreshEnvelopeGates re-evaluates every group's gate.
func (n *Node) refreshEnvelopeGates() {
	for _, g := range n.groups {
		g.refreshEnvelopeGate()
	}
}

// refreshEnvelopeGate sets flagsOK from the group's latest configuration
// and the members' gossiped metadata. Without a configuration it keeps
// what it had: a follower's gate is not used, and a leader's configuration
// is always readable.
func (g *group) refreshEnvelopeGate() {
	f := g.raft.GetConfiguration()
	if f.Error() != nil {
		return
	}
	g.n.mu.Lock()
	self := g.n.self
	g.n.mu.Unlock()
	ok, holdout := flagsUnderstood(f.Configuration().Servers, self, g.n.members())
	if was := g.flagsOK.Swap(ok); was != ok && g.isLeader() {
		if ok {
			g.n.log.Info("every server of the group understands batch flags; writing envelope version 2", "group", g.id)
		} else {
			g.n.log.Info("a server of the group may not understand batch flags; writing envelope version 1", "group", g.id, "server", holdout)
		}
	}
}

// flagsUnderstood reports whether every server of the configuration is
// known to understand batch flags: this node by what it gossips itself
// (always envelopeProto, but a test may pose as an older node); any other
// must have gossiped metadata under its id and raft address with Proto >=
// envelopeProto, and no entry under its id may report less. Otherwise it
// names a server that holds the flags back.
func flagsUnderstood(servers []raft.Server, self meta, ms []member) (bool, string) {
	if self.Proto < envelopeProto {
		return false, self.ID
	}
	for _, s := range servers {
		id := string(s.ID)
		if id == self.ID {
			continue
		}
		found := false
		for _, m := range ms {
			if m.ID != id {
				continue
			}
			if m.Proto < envelopeProto {
				return false, id
			}
			if m.Raft == string(s.Address) {
				found = true
			}
		}
		if !found {
			return false, id
		}
	}
	return true, ""
}
