package testcluster

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// HostAdder is an Options.Hosts that can make a host for a node added to
// a running cluster (AddNode), as netns.Lab does: a new machine.
type HostAdder interface {
	// AddHost makes host i, the next index, for the node with this id.
	AddHost(i int, id string) error
}

// AddNode starts one more server, id, as an operator grows a cluster: it
// joins the others' gossip with --join and has no --bootstrap-expect, so
// it waits until a MEMBER ADD takes it in. It runs the cluster's group
// count (--groups) and flags. WaitReady counts it like any running node,
// so call it once the node is a member. With Options.Hosts the node gets
// a new host of its own (Hosts must be a HostAdder) with the usual ports.
func (c *Cluster) AddNode(id string) (*Node, error) {
	if c.ByID(id) != nil {
		return nil, fmt.Errorf("add %s: already a node of this cluster", id)
	}
	idx := len(c.Nodes)
	host, ports := "127.0.0.1", HostPorts[:]
	if c.opts.Hosts != nil {
		ha, ok := c.opts.Hosts.(HostAdder)
		if !ok {
			return nil, fmt.Errorf("add %s: Options.Hosts (%T) cannot add a host", id, c.opts.Hosts)
		}
		if err := ha.AddHost(idx, id); err != nil {
			return nil, fmt.Errorf("add %s: %w", id, err)
		}
		host = c.opts.Hosts.IP(idx)
	} else {
		var err error
		if ports, err = FreePorts(3); err != nil {
			return nil, err
		}
	}
	addr := func(p int) string { return net.JoinHostPort(host, strconv.Itoa(p)) }
	nd := &Node{
		Spec: Spec{
			ID:      id,
			Client:  addr(ports[0]),
			Raft:    addr(ports[1]),
			Gossip:  addr(ports[2]),
			DataDir: filepath.Join(c.dir, id),
		},
		LogPath: filepath.Join(c.dir, id+".log"),
		index:   idx,
	}
	for _, o := range c.Nodes {
		nd.Join = append(nd.Join, o.Gossip)
	}
	groups := c.opts.Nodes
	nd.args = c.serverArgs(nd)
	nd.args = append(nd.args, "--groups", fmt.Sprint(groups))
	// A new server starts empty: a data directory left in the cluster's
	// directory by an earlier run would start it with that run's state
	// (a jepsen -out directory used twice did: every MEMBER ADD was then
	// refused as "state from an earlier membership").
	if ents, err := os.ReadDir(nd.DataDir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("add %s: %s is not empty (left by an earlier run?); a new server starts empty", id, nd.DataDir)
	}
	if err := os.MkdirAll(nd.DataDir, 0o755); err != nil {
		return nil, err
	}
	c.Nodes = append(c.Nodes, nd)
	if err := c.run(nd); err != nil {
		return nd, fmt.Errorf("add %s: %w (join %s)", id, err, strings.Join(nd.Join, ","))
	}
	return nd, nil
}

// Terminate sends SIGTERM to nd's server process, a graceful shutdown
// (leaderships handed over, requests in flight answered), and waits until
// it has exited.
func (c *Cluster) Terminate(nd *Node) error { return c.end(nd, syscall.SIGTERM) }
