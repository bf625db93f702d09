package jepsen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/sessionraft/sessionraft/internal/testcluster/netns"
)

// Nemeses that only the kernel can inject: they need a lab (-net netns).

// errNeedsLab is returned by the kernel-only nemeses on loopback.
var errNeedsLab = errors.New("needs -net netns (kernel faults)")

// lossNemesis drops a random share of the packets (5, 20 or 40%, nftables
// numgen) on a random set of links: some node-to-node links (both
// directions, every port) and some links between a node and the clients'
// host. TCP retransmits; raft heartbeats, gossip probes and client
// requests are late or time out. Stop removes it.
type lossNemesis struct{}

func (lossNemesis) Name() string { return "loss" }

func (lossNemesis) Start(ctx context.Context, c *Cluster) (string, error) {
	if c.lab == nil {
		return "nothing", errNeedsLab
	}
	pct := []int{5, 20, 40}[rand.IntN(3)]
	rules := hostRules{}
	var links []string
	for len(links) == 0 {
		for i, a := range c.Nodes {
			ha := c.host(a)
			for _, b := range c.Nodes[i+1:] {
				if rand.IntN(2) == 0 {
					rules.drop(ha, c.host(b), pct, false)
					rules.drop(c.host(b), ha, pct, false)
					links = append(links, a.ID+"-"+b.ID)
				}
			}
			if rand.IntN(3) == 0 {
				rules.drop(ha, c.lab.Client, pct, false)
				rules.drop(c.lab.Client, ha, pct, false)
				links = append(links, a.ID+"-clients")
			}
		}
	}
	return fmt.Sprintf("%d%% packet loss on %s", pct, strings.Join(links, " ")), c.setRules(ctx, rules)
}

func (lossNemesis) Stop(ctx context.Context, c *Cluster) (string, error) {
	return partitionNemesis{}.Stop(ctx, c)
}

// blackholeNemesis makes one node (often a leader) lose every packet it
// receives or sends, clients' included, silently: its connections
// stay open, half-dead, until timeouts notice; when healed, TCP
// retransmits and they may come back to life. The process runs on, as a
// host whose cable was pulled (unlike pause, its timers fire). Stop
// removes it.
type blackholeNemesis struct{}

func (blackholeNemesis) Name() string { return "blackhole" }

func (blackholeNemesis) Start(ctx context.Context, c *Cluster) (string, error) {
	if c.lab == nil {
		return "nothing", errNeedsLab
	}
	n := leaderOrRandom(ctx, c)
	if rand.IntN(3) == 0 {
		n = randomNode(c)
	}
	// Every other host loses what n sends, and n loses what it
	// receives: no host's own sends fail (see cutLinks).
	rules := hostRules{}
	h := c.host(n)
	for _, o := range c.lab.Hosts() {
		if o != h {
			rules.drop(o, h, 0, false)
		}
	}
	rules[h.Name] = []netns.Rule{{Chain: "input"}}
	return fmt.Sprintf("blackhole %s (every packet in and out dropped)", n.ID), c.setRules(ctx, rules)
}

func (blackholeNemesis) Stop(ctx context.Context, c *Cluster) (string, error) {
	return partitionNemesis{}.Stop(ctx, c)
}
