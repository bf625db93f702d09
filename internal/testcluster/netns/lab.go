//go:build linux

package netns

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Subnet is the lab's /24 (as its first three octets). It exists only
// inside the namespaces a lab creates, one bridge per lab, so parallel
// labs can all use it.
const Subnet = "10.213.7"

// Host is one host of a lab: a node or the clients' host.
type Host struct {
	Name string `json:"name"` // n1, n2, ... or cl
	NS   string `json:"ns"`   // its network namespace
	IP   string `json:"ip"`   // its address (no mask)
	Port string `json:"port"` // its veth's name in the switch namespace (the "switch port")
}

// Lab is a private network of namespaces (see the package doc). Its
// exported fields describe it completely, so it can be handed to a child
// process as JSON (Open it there; only the creator Closes it).
type Lab struct {
	Prefix string `json:"prefix"` // every namespace's name starts with Prefix + "-"
	Switch string `json:"switch"` // the switch namespace
	Nodes  []Host `json:"nodes"`
	Client Host   `json:"client"`

	// mu guards Nodes once AddHost may run: a node added to a running
	// cluster while other goroutines look hosts up.
	mu        sync.Mutex
	added     []Host // hosts this Lab value added (AddHost); its Close removes them
	owner     bool
	closeOnce sync.Once
	closeErr  error
}

// NodeIP returns the address of node i (0-based) in every lab.
func NodeIP(i int) string { return fmt.Sprintf("%s.%d", Subnet, 11+i) }

// IP returns node i's address (0-based); with Command, the lab is a
// testcluster.Hosts.
func (l *Lab) IP(i int) string { return l.Node(i).IP }

// Command returns the command line that runs argv on node i (0-based).
func (l *Lab) Command(i int, argv []string) []string { return Command(l.Node(i), argv...) }

// Node returns node host i (0-based).
func (l *Lab) Node(i int) Host {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.Nodes[i]
}

// ClientIP is the address of the clients' host.
const ClientIP = Subnet + ".250"

// Table is the nftables table (family inet) of every host, with chains
// input and output.
const Table = "lab"

// Check reports why a lab cannot be built here: not root, or ip or nft
// missing. nil means New can be tried.
func Check() error {
	var why []string
	if os.Geteuid() != 0 {
		why = append(why, "not root (network namespaces need root)")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			why = append(why, tool+" not found (apt-get install -y "+map[string]string{"ip": "iproute2", "nft": "nftables"}[tool]+")")
		}
	}
	if len(why) > 0 {
		return errors.New("network namespaces unavailable: " + strings.Join(why, "; "))
	}
	return nil
}

// New builds a lab of kind (a short name prefix such as "srj") with nodes
// hosts n1..nN and the client host cl. On error everything it created is
// removed again. The caller must Close the lab, also on failure or
// interruption (register it before anything else can fail).
func New(ctx context.Context, kind string, nodes int) (*Lab, error) {
	if err := Check(); err != nil {
		return nil, err
	}
	if nodes < 1 || nodes > 200 {
		return nil, fmt.Errorf("netns: %d nodes: want 1 to 200", nodes)
	}
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	prefix := fmt.Sprintf("%s-%x-%d-%s", kind, time.Now().Unix(), os.Getpid(), hex.EncodeToString(rnd[:]))
	l := &Lab{Prefix: prefix, Switch: prefix + "-sw", owner: true}
	for i := range nodes {
		name := "n" + strconv.Itoa(i+1)
		l.Nodes = append(l.Nodes, Host{Name: name, NS: prefix + "-" + name, IP: NodeIP(i), Port: name})
	}
	l.Client = Host{Name: "cl", NS: prefix + "-cl", IP: ClientIP, Port: "cl"}
	if err := l.build(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("netns: build lab %s: %w", prefix, err), l.Close())
	}
	return l, nil
}

func (l *Lab) build(ctx context.Context) error {
	sw := l.Switch
	steps := [][]string{
		{"netns", "add", sw},
		{"-n", sw, "link", "set", "dev", "lo", "up"},
		{"-n", sw, "link", "add", "name", "br0", "type", "bridge"},
		{"-n", sw, "link", "set", "dev", "br0", "up"},
	}
	for _, s := range steps {
		if _, err := run(ctx, "", "ip", s...); err != nil {
			return err
		}
	}
	for _, h := range l.Hosts() {
		if err := l.buildHost(ctx, h); err != nil {
			return err
		}
	}
	return nil
}

// buildHost makes host h's namespace, plugs it into the bridge and gives
// it its fault table.
func (l *Lab) buildHost(ctx context.Context, h Host) error {
	sw := l.Switch
	steps := [][]string{
		{"netns", "add", h.NS},
		{"-n", h.NS, "link", "set", "dev", "lo", "up"},
		// Created in the switch namespace, peer moved straight into the
		// host's: the root namespace never sees either end.
		{"-n", sw, "link", "add", "name", h.Port, "type", "veth", "peer", "name", "eth0", "netns", h.NS},
		{"-n", sw, "link", "set", "dev", h.Port, "master", "br0", "up"},
		{"-n", h.NS, "addr", "add", h.IP + "/24", "dev", "eth0"},
		{"-n", h.NS, "link", "set", "dev", "eth0", "up"},
	}
	for _, s := range steps {
		if _, err := run(ctx, "", "ip", s...); err != nil {
			return err
		}
	}
	return l.nft(ctx, h, tableScript)
}

// maxNodes bounds a lab's node hosts: their addresses run from .11 and
// must stay below the clients' .250.
const maxNodes = 200

// AddHost adds node host i (0-based, the next one: len(Nodes)) named name
// to a running lab, as a new machine is racked: a namespace of its own,
// a port on the bridge, the next address (NodeIP(i), never one a host had
// before) and a fault table. With IP and Command, the lab is a
// testcluster.HostAdder: testcluster.AddNode calls it.
//
// A Lab opened from JSON (jepsen's child process) may add hosts too; its
// Close removes them, and the lab's builder's Close removes every
// namespace of the lab's prefix, added ones included. The child runs
// under ip netns exec, in a mount namespace of its own, so a namespace it
// adds is mounted under /run/netns only there: it is usable by the child
// and its processes, and vanishes with them; elsewhere only its name file
// shows (ip netns list), which either Close, or Sweep, removes.
func (l *Lab) AddHost(i int, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l.mu.Lock()
	defer l.mu.Unlock()
	if i != len(l.Nodes) {
		return fmt.Errorf("netns: add host %d: the next host is %d", i, len(l.Nodes))
	}
	if i >= maxNodes {
		return fmt.Errorf("netns: add host %s: a lab has at most %d nodes", name, maxNodes)
	}
	if !validHostName(name) {
		return fmt.Errorf("netns: add host %q: want 1 to 12 lowercase letters and digits", name)
	}
	for _, h := range append(l.Nodes, l.Client, Host{Name: "sw"}) {
		if h.Name == name {
			return fmt.Errorf("netns: add host %s: the lab already has a host of that name", name)
		}
	}
	h := Host{Name: name, NS: l.Prefix + "-" + name, IP: NodeIP(i), Port: name}
	if err := l.buildHost(ctx, h); err != nil {
		// Deleting the namespace deletes its veth, and so the bridge port.
		return errors.Join(fmt.Errorf("netns: add host %s: %w", name, err), deleteNS(ctx, h.NS))
	}
	l.Nodes = append(l.Nodes, h)
	l.added = append(l.added, h)
	return nil
}

// validHostName: a host name is part of a namespace name (split on "-"
// by Sweep) and is a veth's name in the switch (at most 15 bytes).
func validHostName(name string) bool {
	if name == "" || len(name) > 12 {
		return false
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

const tableScript = `table inet ` + Table + ` {
	chain input {
		type filter hook input priority 0; policy accept;
	}
	chain output {
		type filter hook output priority 0; policy accept;
	}
}
`

// Hosts returns the nodes, then the client host.
func (l *Lab) Hosts() []Host {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append(append([]Host(nil), l.Nodes...), l.Client)
}

// Command returns the command line that runs argv on host h.
func Command(h Host, argv ...string) []string {
	return append([]string{"ip", "netns", "exec", h.NS}, argv...)
}

// SetRules replaces host h's fault rules with rules, atomically (one nft
// transaction).
func (l *Lab) SetRules(ctx context.Context, h Host, rules []Rule) error {
	var b strings.Builder
	fmt.Fprintf(&b, "flush table inet %s\n", Table)
	for _, r := range rules {
		lines, err := r.Lines()
		if err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
		for _, line := range lines {
			fmt.Fprintf(&b, "add rule inet %s %s\n", Table, line)
		}
	}
	return l.nft(ctx, h, b.String())
}

// Heal removes every fault rule of every host.
func (l *Lab) Heal(ctx context.Context) error {
	var errs []error
	for _, h := range l.Hosts() {
		errs = append(errs, l.SetRules(ctx, h, nil))
	}
	return errors.Join(errs...)
}

// Rules lists host h's rules as nft prints them (for logs and tests).
func (l *Lab) Rules(ctx context.Context, h Host) (string, error) {
	return run(ctx, "", "ip", "netns", "exec", h.NS, "nft", "list", "table", "inet", Table)
}

func (l *Lab) nft(ctx context.Context, h Host, script string) error {
	_, err := run(ctx, script, "ip", "netns", "exec", h.NS, "nft", "-f", "-")
	if err != nil {
		return fmt.Errorf("%s: %w", h.Name, err)
	}
	return nil
}

// Close removes every namespace of the lab, with its links and rules.
// Processes still inside a node's namespace keep it alive, unnamed, until
// they exit; the caller stops them first. The Lab New returned removes
// the whole lab, and any namespace named with its prefix (hosts another
// process added); any other Lab value removes only the hosts it added
// (AddHost). Calling Close again returns the first result.
func (l *Lab) Close() error {
	l.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		l.mu.Lock()
		names := nsNames(l.added)
		if l.owner {
			names = append([]string{l.Switch}, nsNames(append(append([]Host(nil), l.Nodes...), l.Client))...)
		}
		l.mu.Unlock()
		var errs []error
		for _, ns := range names {
			if err := deleteNS(ctx, ns); err != nil {
				errs = append(errs, err)
			}
		}
		if l.owner {
			more, err := List(l.Prefix + "-")
			errs = append(errs, err)
			for _, ns := range more {
				errs = append(errs, deleteNS(ctx, ns))
			}
		}
		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
}

func nsNames(hs []Host) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.NS)
	}
	return out
}

// deleteNS deletes a namespace; one that does not exist is not an error.
func deleteNS(ctx context.Context, ns string) error {
	if _, err := os.Stat("/run/netns/" + ns); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	_, err := run(ctx, "", "ip", "netns", "delete", ns)
	return err
}

// List returns the names of the namespaces whose names start with prefix.
func List(prefix string) ([]string, error) {
	ents, err := os.ReadDir("/run/netns")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// run runs a command with stdin, within ctx, and returns its output; the
// error carries the command line and its output.
func run(ctx context.Context, stdin, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}
