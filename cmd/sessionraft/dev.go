package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sessionraft/sessionraft/internal/testcluster/netns"
)

type devOptions struct {
	dataDir  string
	fresh    bool
	basePort int
	nodes    int
	wait     time.Duration
	logLevel string
	stopWait time.Duration
	// pprofPort, when > 0, gives node i --pprof-addr 127.0.0.1:pprofPort+i.
	pprofPort int
	// netns puts every node in a network namespace of its own, on its own
	// address (see dev_netns.go).
	netns bool
	// secure turns on TLS, gossip encryption and a password (devsecure.go).
	secure bool
}

func newDevCmd() *cobra.Command {
	o := devOptions{
		dataDir:  filepath.Join("data", "dev"),
		basePort: 7001,
		nodes:    3,
		wait:     60 * time.Second,
		logLevel: "info",
		stopWait: 10 * time.Second,
	}
	cmd := &cobra.Command{
		Use:   "dev [flags] [-- server flags...]",
		Short: "Run a local three-node cluster, one process per node",
		Long: `Run a local cluster on 127.0.0.1 in one command. Each node is its own OS
process (this binary re-executed as "sessionraft server"), so you can kill -9
one to watch the others carry on.

Nodes are n1, n2, n3 with client ports base..base+2 (default 7001-7003), raft
ports base+100.. (7101-7103) and gossip ports base+200.. (7201-7203). Their
data lives in --data-dir/<id> and is kept across runs unless --fresh is given.

Every node's output is forwarded prefixed with its id ("n1 | ..."). Once all
nodes answer and every raft group has a leader, the client addresses are
printed. Ctrl-C stops every node (SIGTERM, then SIGKILL after 10s). A node
that dies is reported and the others keep running; dev exits when none is
left. Flags after "--" are passed to every node's "server" command.

With --netns (Linux, root, ip and nft), each node runs in a network namespace
of its own, as on its own host: n1, n2, n3 listen on 10.213.7.11, .12, .13 with
the same ports on each (base, base+100, base+200) and advertise those
addresses. The hosts share a private bridge inside a namespace dev creates, and
a clients' namespace (10.213.7.250) reaches them: dev prints the commands to
use it, and one that cuts a node's network and one that heals it. Nothing is
added to the host's own network; every namespace is removed on exit.`,
		Example: `  sessionraft dev
  sessionraft dev --fresh --base-port 9001 -- --log-level debug
  sudo sessionraft dev --netns --fresh`,
		RunE: func(cmd *cobra.Command, args []string) error {
			extra := args
			if at := cmd.ArgsLenAtDash(); at >= 0 {
				if at > 0 {
					return fmt.Errorf("unexpected arguments %q (server flags go after --)", args[:at])
				}
				extra = args[at:]
			} else if len(args) > 0 {
				return fmt.Errorf("unexpected arguments %q (server flags go after --)", args)
			}
			con := &console{out: cmd.OutOrStdout(), errOut: cmd.ErrOrStderr()}
			return runDev(cmd.Context(), o, extra, con)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.dataDir, "data-dir", o.dataDir, "parent directory of the nodes' data directories")
	fs.BoolVar(&o.fresh, "fresh", false, "delete the nodes' data directories first (start an empty cluster)")
	fs.IntVar(&o.basePort, "base-port", o.basePort, "client port of n1; raft ports start at base+100, gossip at base+200, admin HTTP at base+300")
	fs.IntVar(&o.nodes, "nodes", o.nodes, "number of nodes (1-9)")
	durationVar(fs, &o.wait, "wait", "how long to wait for the cluster to be ready before saying it is not")
	fs.StringVar(&o.logLevel, "log-level", o.logLevel, "nodes' log level: debug, info, warn or error")
	fs.IntVar(&o.pprofPort, "pprof-base-port", 0, "serve net/http/pprof of node i on 127.0.0.1:port+i (0: off)")
	fs.BoolVar(&o.netns, "netns", false, "run each node in its own network namespace, on its own address (Linux, root)")
	fs.BoolVar(&o.secure, "secure", false, "TLS on the internal and client ports, gossip encryption and a password; makes a CA, certificates, a gossip key and a password under --data-dir/secure")
	return cmd
}

// devNode is one child process of the dev cluster.
type devNode struct {
	id                   string
	client, raft, gossip string
	http                 string // admin port: metrics and the status page
	dir                  string
	cmd                  *exec.Cmd
	stdout, stderr       *prefixWriter
	exited               bool
}

type childExit struct {
	i     int
	state string
}

func runDev(ctx context.Context, o devOptions, extra []string, con *console) error {
	if o.nodes < 1 || o.nodes > 9 {
		return fmt.Errorf("--nodes %d: want 1 to 9", o.nodes)
	}
	if o.basePort < 1 || o.basePort+300+o.nodes-1 > 65535 {
		return fmt.Errorf("--base-port %d: base+%d must be a valid port", o.basePort, 300+o.nodes-1)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cannot find this program to start the nodes: %w", err)
	}
	dataDir, err := filepath.Abs(o.dataDir)
	if err != nil {
		return err
	}

	// Catch signals before the first namespace or child exists, so that
	// none is left behind.
	sigCh := make(chan os.Signal, 4)
	signal.Notify(sigCh, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigCh)

	var lab *netns.Lab
	if o.netns {
		if lab, err = newDevLab(ctx, o.nodes, con); err != nil {
			return err
		}
		defer closeDevLab(lab, con)
	}
	nodes := make([]*devNode, o.nodes)
	for i := range nodes {
		id := "n" + strconv.Itoa(i+1)
		// On loopback the nodes share 127.0.0.1 and take ports base+i;
		// in namespaces each has its own address and the same ports.
		host, off := "127.0.0.1", i
		if lab != nil {
			host, off = lab.Nodes[i].IP, 0
		}
		nodes[i] = &devNode{
			id:     id,
			client: net.JoinHostPort(host, strconv.Itoa(o.basePort+off)),
			raft:   net.JoinHostPort(host, strconv.Itoa(o.basePort+100+off)),
			gossip: net.JoinHostPort(host, strconv.Itoa(o.basePort+200+off)),
			http:   net.JoinHostPort(host, strconv.Itoa(o.basePort+300+off)),
			dir:    filepath.Join(dataDir, id),
		}
	}
	if lab == nil {
		if err := checkPortsFree(nodes); err != nil {
			return err
		}
	}
	for _, n := range nodes {
		if o.fresh {
			if err := os.RemoveAll(n.dir); err != nil {
				return fmt.Errorf("--fresh: %w", err)
			}
		}
		if err := os.MkdirAll(n.dir, 0o755); err != nil {
			return err
		}
	}
	var sec *devSecurity
	cc := dialer{}
	if o.secure {
		if o.fresh {
			if err := os.RemoveAll(filepath.Join(dataDir, devSecureDir)); err != nil {
				return fmt.Errorf("--fresh: %w", err)
			}
		}
		if sec, err = prepareDevSecurity(dataDir, nodes); err != nil {
			return fmt.Errorf("--secure: %w", err)
		}
		if cc, err = sec.clientConn(); err != nil {
			return fmt.Errorf("--secure: %w", err)
		}
		con.Printf("--secure: CA, certificates, gossip key and password in %s", sec.dir)
	}
	if o.fresh {
		con.Printf("--fresh: starting with empty data directories under %s", dataDir)
	} else {
		con.Printf("data directories under %s (kept across runs; --fresh wipes them)", dataDir)
	}

	for i, n := range nodes {
		var join []string
		for j, m := range nodes {
			if j != i {
				join = append(join, m.gossip)
			}
		}
		args := []string{"server",
			"--id", n.id,
			"--data-dir", n.dir,
			"--client-addr", n.client,
			"--raft-addr", n.raft,
			"--gossip-addr", n.gossip,
			"--bootstrap-expect", strconv.Itoa(o.nodes),
			"--log-level", o.logLevel,
			"--http-addr", n.http,
			// raft's and memberlist's chatter (elections, heartbeats,
			// stream connections) stays out of a newcomer's way;
			// "-- --raft-log-level info" brings it back.
			"--raft-log-level", "warn",
		}
		if len(join) > 0 {
			args = append(args, "--join", strings.Join(join, ","))
		}
		if lab != nil {
			// As on a real host: bound to its address, and saying so.
			args = append(args, "--advertise-client", n.client, "--advertise-raft", n.raft, "--advertise-gossip", n.gossip)
		}
		if o.pprofPort > 0 {
			host, _, _ := net.SplitHostPort(n.client)
			args = append(args, "--pprof-addr", net.JoinHostPort(host, strconv.Itoa(o.pprofPort+i)))
		}
		if sec != nil {
			args = append(args, sec.serverArgs(n)...)
		}
		args = append(args, extra...)
		argv := append([]string{exe}, args...)
		if lab != nil {
			argv = netns.Command(lab.Nodes[i], argv...) // ip netns exec: the pid stays the server's
		}
		c := exec.Command(argv[0], argv[1:]...)
		c.Env = append(os.Environ(), devGOMAXPROCS(len(nodes))...)
		if sec != nil {
			c.Env = append(c.Env, sec.env()...)
		}
		c.SysProcAttr = childProcAttr()
		n.stdout = newPrefixWriter(con, con.out, n.id+" | ")
		n.stderr = newPrefixWriter(con, con.errOut, n.id+" | ")
		c.Stdout, c.Stderr = n.stdout, n.stderr
		c.WaitDelay = 2 * time.Second
		n.cmd = c
	}

	exits := make(chan childExit, len(nodes))
	if err := startChildren(nodes); err != nil {
		for _, n := range nodes {
			if n.cmd.Process != nil {
				_ = n.cmd.Process.Kill()
				_ = n.cmd.Wait()
			}
		}
		return err
	}
	for i, n := range nodes {
		con.Printf("started %s pid=%d client=%s raft=%s gossip=%s http=%s", n.id, n.cmd.Process.Pid, n.client, n.raft, n.gossip, n.http)
		go func() {
			_ = n.cmd.Wait()
			n.stdout.Flush()
			n.stderr.Flush()
			exits <- childExit{i: i, state: n.cmd.ProcessState.String()}
		}()
	}

	pollCtx, cancelPoll := context.WithCancel(ctx)
	defer cancelPoll()
	readyCh := make(chan readyEvent, 2)
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.client
	}
	query := func(ctx context.Context) []nodeStatus { return queryNodesAs(ctx, cc, addrs, time.Second, false) }
	if lab != nil {
		// This process is not in the clients' namespace: ask from there.
		query = func(ctx context.Context) []nodeStatus { return queryFromNS(ctx, lab.Client, exe, addrs) }
	}
	go pollReady(pollCtx, query, o.wait, readyCh)

	alive := len(nodes)
	for alive > 0 {
		select {
		case s := <-sigCh:
			con.Printf("%v: stopping all nodes", s)
			cancelPoll()
			stopChildren(nodes, exits, sigCh, alive, o.stopWait, con)
			return nil
		case e := <-exits:
			alive--
			n := nodes[e.i]
			n.exited = true
			con.Printf("%s (pid %d) exited unexpectedly: %s; %d node(s) still running", n.id, n.cmd.Process.Pid, e.state, alive)
		case ev := <-readyCh:
			if ev.ready && lab != nil {
				con.Banner(netnsBanner(nodes, ev, lab, exe))
			} else if ev.ready {
				con.Banner(readyBanner(nodes, ev, sec))
			} else {
				con.Printf("cluster NOT ready after %s: %s\n(still waiting; check the node logs above)", o.wait, ev.reason)
			}
		case <-ctx.Done():
			cancelPoll()
			stopChildren(nodes, exits, sigCh, alive, o.stopWait, con)
			return ctx.Err()
		}
	}
	return errors.New("every node has exited")
}

// startChildren starts every node from one goroutine locked to its OS thread
// for the rest of dev's life. Linux sends a child its Pdeathsig when the
// thread that forked it exits, not the process; Go ends a thread only when a
// goroutine locked to it returns, which this one never does.
func startChildren(nodes []*devNode) error {
	errc := make(chan error)
	go func() {
		runtime.LockOSThread()
		var err error
		for _, n := range nodes {
			if err = n.cmd.Start(); err != nil {
				err = fmt.Errorf("start %s: %w", n.id, err)
				break
			}
		}
		errc <- err
		select {} // keep this thread alive until the process exits
	}()
	return <-errc
}

// stopChildren sends SIGTERM to every running node and waits for them,
// sending SIGKILL after stopWait or on a second signal.
func stopChildren(nodes []*devNode, exits <-chan childExit, sigCh <-chan os.Signal, alive int, stopWait time.Duration, con *console) {
	for _, n := range nodes {
		if !n.exited {
			if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				_ = n.cmd.Process.Kill()
			}
		}
	}
	killAll := func() {
		for _, n := range nodes {
			if !n.exited {
				_ = n.cmd.Process.Kill()
			}
		}
	}
	timer := time.NewTimer(stopWait)
	defer timer.Stop()
	for alive > 0 {
		select {
		case e := <-exits:
			alive--
			n := nodes[e.i]
			n.exited = true
			con.Printf("%s stopped (%s)", n.id, e.state)
		case <-sigCh:
			con.Printf("second signal: killing the remaining nodes")
			killAll()
		case <-timer.C:
			con.Printf("nodes still running after %s: killing them", stopWait)
			killAll()
		}
	}
}

type readyEvent struct {
	ready  bool
	after  time.Duration
	reason string
}

// pollReady polls the nodes until the cluster is ready and sends one event
// then. If the cluster is not ready after wait it sends a not-ready event
// with the reason first and keeps polling.
func pollReady(ctx context.Context, query func(context.Context) []nodeStatus, wait time.Duration, out chan<- readyEvent) {
	start := time.Now()
	warned := false
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, why := clusterReady(query(ctx))
		if ctx.Err() != nil {
			return
		}
		if ok {
			out <- readyEvent{ready: true, after: time.Since(start).Round(100 * time.Millisecond)}
			return
		}
		if !warned && time.Since(start) >= wait {
			warned = true
			out <- readyEvent{reason: why}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func readyBanner(nodes []*devNode, ev readyEvent, sec *devSecurity) string {
	var b strings.Builder
	port := func(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }
	fmt.Fprintf(&b, "\ncluster ready after %s: %d nodes, every raft group has a leader\n\n", ev.after, len(nodes))
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.client
		fmt.Fprintf(&b, "  %s  client %s  pid %d  status page http://%s/\n", n.id, n.client, n.cmd.Process.Pid, n.http)
	}
	p := port(nodes[0].client)
	q := port(nodes[len(nodes)-1].client)
	if sec != nil {
		fmt.Fprintf(&b, "\nSecure: TLS on every port, encrypted gossip, a password. Connect with:\n")
		fmt.Fprintf(&b, "  %s\n", sec.redisCLI(p))
		fmt.Fprintf(&b, "(files in %s)\n", sec.dir)
		fmt.Fprintf(&b, "\nCtrl-C stops the cluster; kill -9 a pid above to test failover.\n\n")
		return b.String()
	}
	fmt.Fprintf(&b, "\nTry:\n")
	fmt.Fprintf(&b, "  redis-cli -p %s SESSION.CREATE SUBJECT alice TTL 3600 FIELDS cart 3\n", p)
	fmt.Fprintf(&b, "  redis-cli -p %s SESSION.GET <id> CONSISTENCY stale\n", q)
	fmt.Fprintf(&b, "  redis-cli -p %s TOPOLOGY\n", p)
	fmt.Fprintf(&b, "  sessionraft status --addr %s\n", strings.Join(addrs, ","))
	fmt.Fprintf(&b, "  open http://%s/ (live status), curl http://%s/metrics\n", nodes[0].http, nodes[0].http)
	fmt.Fprintf(&b, "\nCtrl-C stops the cluster; kill -9 a pid above to test failover.\n\n")
	return b.String()
}

// checkPortsFree fails early, with a useful message, when a port the dev
// cluster needs is taken (often by another dev cluster).
func checkPortsFree(nodes []*devNode) error {
	for _, n := range nodes {
		for _, a := range []string{n.client, n.raft, n.gossip, n.http} {
			l, err := net.Listen("tcp", a)
			if err != nil {
				return fmt.Errorf("%s: tcp %s is not free (another dev cluster running? try --base-port): %w", n.id, a, err)
			}
			_ = l.Close()
		}
		pc, err := net.ListenPacket("udp", n.gossip)
		if err != nil {
			return fmt.Errorf("%s: udp %s is not free (another dev cluster running? try --base-port): %w", n.id, n.gossip, err)
		}
		_ = pc.Close()
	}
	return nil
}
