package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/sessionraft/sessionraft/internal/testcluster/netns"
)

// "sessionraft dev --netns": every node in a network namespace of its own
// (package netns builds them: a switch namespace with a bridge, one
// namespace per node, one for clients), so a newcomer can try three
// "hosts" on one machine and cut one's network.

// devLabKind prefixes the namespaces of dev's labs.
const devLabKind = "srdev"

// geteuid is os.Geteuid; a test replaces it.
var geteuid = os.Geteuid

// newDevLab builds the lab, after removing those of dev runs that died
// without removing theirs.
func newDevLab(ctx context.Context, nodes int, con *console) (*netns.Lab, error) {
	if geteuid() != 0 {
		return nil, errors.New("--netns needs root: it creates network namespaces (run it with sudo, or drop --netns)")
	}
	if err := netns.Check(); err != nil {
		return nil, fmt.Errorf("--netns: %w", err)
	}
	if gone, err := netns.Sweep(ctx, devLabKind, 10*time.Second); err != nil {
		con.Printf("removing namespaces of earlier dev runs: %v", err)
	} else if len(gone) > 0 {
		con.Printf("removed %d namespaces left by earlier dev runs", len(gone))
	}
	lab, err := netns.New(ctx, devLabKind, nodes)
	if err != nil {
		return nil, fmt.Errorf("--netns: %w", err)
	}
	con.Printf("network namespaces %s-*: nodes on %s.0/24, clients' namespace %s (%s)", lab.Prefix, netns.Subnet, lab.Client.NS, lab.Client.IP)
	return lab, nil
}

func closeDevLab(lab *netns.Lab, con *console) {
	if err := lab.Close(); err != nil {
		con.Printf("removing network namespaces %s-*: %v", lab.Prefix, err)
		return
	}
	con.Printf("removed network namespaces %s-*", lab.Prefix)
}

// queryFromNS asks the nodes, as queryNodes does, from inside the
// clients' namespace: it runs "sessionraft status --json" there.
func queryFromNS(ctx context.Context, h netns.Host, exe string, addrs []string) []nodeStatus {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	argv := netns.Command(h, exe, "status", "--json", "--timeout", "1s", "--addr", strings.Join(addrs, ","))
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = devChildEnv()
	out, err := cmd.Output() // it fails when no node answers, and still prints them
	var sts []nodeStatus
	if jerr := json.Unmarshal(out, &sts); jerr != nil || len(sts) != len(addrs) {
		sts = make([]nodeStatus, len(addrs))
		for i, a := range addrs {
			sts[i] = nodeStatus{Addr: a, Error: fmt.Sprintf("status from %s: %v", h.NS, errors.Join(err, jerr))}
		}
	}
	return sts
}

// devChildEnv is this process's environment without SESSIONRAFT_*
// variables, which would set the status command's flags.
func devChildEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SESSIONRAFT_") {
			env = append(env, kv)
		}
	}
	return env
}

func netnsBanner(nodes []*devNode, ev readyEvent, lab *netns.Lab, exe string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\ncluster ready after %s: %d nodes, each in its own network namespace, every raft group has a leader\n\n", ev.after, len(nodes))
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.client
		fmt.Fprintf(&b, "  %s  client %s  raft %s  gossip %s  pid %d  namespace %s\n", n.id, n.client, n.raft, n.gossip, n.cmd.Process.Pid, lab.Nodes[i].NS)
	}
	cl := "ip netns exec " + lab.Client.NS
	first, _, _ := net.SplitHostPort(nodes[0].client)
	last, port, _ := net.SplitHostPort(nodes[len(nodes)-1].client)
	fmt.Fprintf(&b, "\nThe nodes are reached from the clients' namespace %s (%s):\n", lab.Client.NS, lab.Client.IP)
	fmt.Fprintf(&b, "  %s redis-cli -h %s -p %s SESSION.CREATE SUBJECT alice TTL 3600 FIELDS cart 3\n", cl, first, port)
	fmt.Fprintf(&b, "  %s redis-cli -h %s -p %s SESSION.GET <id> CONSISTENCY stale\n", cl, last, port)
	fmt.Fprintf(&b, "  %s %s status --addr %s\n", cl, exe, strings.Join(addrs, ","))
	victim := lab.Nodes[len(lab.Nodes)-1]
	fmt.Fprintf(&b, "\nCut %s's network (its switch port goes down: nothing in or out, as a pulled cable):\n", victim.Name)
	fmt.Fprintf(&b, "  ip -n %s link set dev %s down\n", lab.Switch, victim.Port)
	fmt.Fprintf(&b, "Heal it:\n")
	fmt.Fprintf(&b, "  ip -n %s link set dev %s up\n", lab.Switch, victim.Port)
	fmt.Fprintf(&b, "\nCtrl-C stops the cluster and removes every namespace; kill -9 a pid above to test failover.\n\n")
	return b.String()
}
