package netns

import (
	"fmt"
	"strconv"
)

// Rule is one fault in a host's firewall: packets to or from a peer (or
// every packet but loopback's) dropped, all of them or a random share, or
// refused.
type Rule struct {
	// Chain is "input" (packets arriving from Peer) or "output" (packets
	// leaving for Peer).
	Chain string
	// Peer is the other end's address; "" matches every packet except
	// those on the host's own loopback.
	Peer string
	// LossPct, from 1 to 99, drops that share of the matching packets at
	// random (nftables numgen); 0 matches them all.
	LossPct int
	// Reject answers instead of dropping silently: a TCP reset for TCP,
	// ICMP administratively prohibited otherwise, so connections fail at
	// once instead of timing out.
	Reject bool
}

// Lines renders r as the body of nft "add rule inet lab ..." lines.
func (r Rule) Lines() ([]string, error) {
	var match string
	switch {
	case r.Chain != "input" && r.Chain != "output":
		return nil, fmt.Errorf("rule chain %q: want input or output", r.Chain)
	case r.LossPct < 0 || r.LossPct > 99:
		return nil, fmt.Errorf("rule loss %d%%: want 0 to 99", r.LossPct)
	case r.Peer == "" && r.Chain == "input":
		match = `iifname != "lo"`
	case r.Peer == "":
		match = `oifname != "lo"`
	case r.Chain == "input":
		match = "ip saddr " + r.Peer
	default:
		match = "ip daddr " + r.Peer
	}
	if r.LossPct > 0 {
		match += " numgen random mod 100 < " + strconv.Itoa(r.LossPct)
	}
	if !r.Reject {
		return []string{r.Chain + " " + match + " drop"}, nil
	}
	return []string{
		r.Chain + " " + match + " meta l4proto tcp reject with tcp reset",
		r.Chain + " " + match + " reject with icmpx type admin-prohibited",
	}, nil
}
