package testcluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// AddNode starts one more server, id, as an operator grows a cluster: it
// joins the others' gossip with --join and has no --bootstrap-expect, so
// it waits until a MEMBER ADD takes it in. It runs the cluster's group
// count (--groups) and flags. WaitReady counts it like any running node,
// so call it once the node is a member.
func (c *Cluster) AddNode(id string) (*Node, error) {
	if c.ByID(id) != nil {
		return nil, fmt.Errorf("add %s: already a node of this cluster", id)
	}
	ports, err := FreePorts(3)
	if err != nil {
		return nil, err
	}
	nd := &Node{
		Spec: Spec{
			ID:      id,
			Client:  fmt.Sprintf("127.0.0.1:%d", ports[0]),
			Raft:    fmt.Sprintf("127.0.0.1:%d", ports[1]),
			Gossip:  fmt.Sprintf("127.0.0.1:%d", ports[2]),
			DataDir: filepath.Join(c.dir, id),
		},
		LogPath: filepath.Join(c.dir, id+".log"),
	}
	for _, o := range c.Nodes {
		nd.Join = append(nd.Join, o.Gossip)
	}
	groups := c.opts.Nodes
	nd.args = c.serverArgs(nd)
	nd.args = append(nd.args, "--groups", fmt.Sprint(groups))
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
