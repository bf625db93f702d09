package jepsen

import (
	"context"
	"errors"
	"fmt"

	"github.com/sessionraft/sessionraft/internal/testcluster/netns"
)

// cut is one link cut of a partition: node on stops talking with peer, in
// direction dir as seen from on: "in" (nothing from peer arrives), "out"
// (nothing reaches peer) or "both".
type cut struct {
	on, peer *Node
	dir      string
}

// cutLinks applies a partition's cuts. On loopback, through the test-mode
// hook DEBUG.FAULT BLOCK in each node's mux: raft and forwarding
// connections only, refused or closed (nodes that are down or paused are
// skipped; a restarted node starts with none). With a lab (-net netns),
// by the kernel: nftables rules on the peer's address, so every port is
// cut, gossip's UDP and TCP included, whatever state the node is in.
//
// A kernel cut of the direction a -> b is a rule in b's input chain, as
// if the network between them lost the packets: a's sends succeed and
// nothing comes back (dropping in a's output chain would make a's own
// sends fail at once with EPERM, which no real network does). With
// reject, b answers with a TCP reset (or ICMP administratively
// prohibited), as a firewall would, and a's connections fail at once.
func (c *Cluster) cutLinks(ctx context.Context, cuts []cut, reject bool) error {
	if c.lab == nil {
		var errs []error
		for _, k := range cuts {
			errs = append(errs, block(ctx, c, k.on, k.peer, k.dir))
		}
		return errors.Join(errs...)
	}
	return c.setRules(ctx, c.cutRules(cuts, reject))
}

// cutRules are the kernel rules of cuts (lab only).
func (c *Cluster) cutRules(cuts []cut, reject bool) hostRules {
	rules := hostRules{}
	for _, k := range cuts {
		if k.dir == "in" || k.dir == "both" {
			rules.drop(c.host(k.on), c.host(k.peer), 0, reject)
		}
		if k.dir == "out" || k.dir == "both" {
			rules.drop(c.host(k.peer), c.host(k.on), 0, reject)
		}
	}
	return rules
}

// hostRules are kernel faults to install, by host name.
type hostRules map[string][]netns.Rule

// drop makes to lose the packets it receives from from (lossPct of them
// at random, or all with 0), or refuse them with reject.
func (r hostRules) drop(to, from netns.Host, lossPct int, reject bool) {
	r[to.Name] = append(r[to.Name], netns.Rule{Chain: "input", Peer: from.IP, LossPct: lossPct, Reject: reject})
}

// host is n's host in the lab: an original node's by its index, a node
// the membership nemesis added by name (AddNode names its host for it).
func (c *Cluster) host(n *Node) netns.Host {
	for i, m := range c.Nodes {
		if m == n {
			return c.lab.Node(i)
		}
	}
	for _, h := range c.lab.Hosts() {
		if h.Name == n.ID {
			return h
		}
	}
	panic("jepsen: node " + n.ID + " is not in the cluster")
}

// setRules replaces the firewall rules of the hosts in rules (lab only);
// the other hosts keep theirs.
func (c *Cluster) setRules(ctx context.Context, rules hostRules) error {
	var errs []error
	for _, h := range c.lab.Hosts() {
		if rs, ok := rules[h.Name]; ok {
			errs = append(errs, c.lab.SetRules(ctx, h, rs))
		}
	}
	return errors.Join(errs...)
}

// healLinks ends every cut: DEBUG.FAULT CLEAR on every live node, or, with
// a lab, every rule of every host removed.
func (c *Cluster) healLinks(ctx context.Context) error {
	if c.lab != nil {
		return c.lab.Heal(ctx)
	}
	var errs []error
	for _, n := range live(c) {
		if _, err := c.Admin(ctx, n, adminTimeout, "DEBUG.FAULT", "CLEAR"); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n.ID, err))
		}
	}
	return errors.Join(errs...)
}

func block(ctx context.Context, c *Cluster, on, peer *Node, dir string) error {
	if !on.Running() || on.Paused() {
		return nil
	}
	_, err := c.Admin(ctx, on, adminTimeout, "DEBUG.FAULT", "BLOCK", peer.Raft, dir)
	if err != nil {
		return fmt.Errorf("%s: block %s: %w", on.ID, peer.ID, err)
	}
	return nil
}

// cutMode says how a kernel partition cuts, for the fault log.
func cutMode(c *Cluster, reject bool) string {
	switch {
	case c.lab == nil:
		return "mux"
	case reject:
		return "nft reject"
	default:
		return "nft drop"
	}
}
