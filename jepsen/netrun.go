//go:build linux

package jepsen

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/sessionraft/sessionraft/internal/testcluster/netns"
)

// A -net netns run is two processes. This one (the parent, in the root
// namespace) builds the lab (netns.New: a switch namespace with a bridge,
// one namespace per node and one for the clients), removes stale labs of
// crashed runs first and its own lab last, whatever happens. The child,
// the same executable re-run inside the clients' namespace with
// $JEPSEN_NETNS_CHILD naming a spec file, runs everything else: it starts
// the nodes in their namespaces (ip netns exec), drives the workloads and
// nemeses over the bridge, and checks. The child exists because a Go
// process cannot move all its threads into a namespace, and the client
// library dials from whatever thread it runs on; inside the child every
// socket is in the clients' namespace.

// LabKind prefixes the namespaces of jepsen's labs.
const LabKind = "srj"

// staleLabAge: Sweep removes a lab whose owner is gone once it is this old.
const staleLabAge = 10 * time.Second

// childEnv names the child's spec file.
const childEnv = "JEPSEN_NETNS_CHILD"

type childSpec struct {
	Config RunConfig  `json:"config"`
	Lab    *netns.Lab `json:"lab"`
}

type childResult struct {
	Result *Result `json:"result"`
	Err    string  `json:"err"`
}

// ChildMain runs the child of a -net netns run and exits, if this process
// is one; otherwise it returns at once. Every program that calls Run with
// Net "netns" calls it first thing in main (or TestMain): Run re-executes
// the program inside the clients' namespace.
func ChildMain() {
	spec := os.Getenv(childEnv)
	if spec == "" {
		return
	}
	if err := childMain(spec); err != nil {
		fmt.Fprintln(os.Stderr, "jepsen netns child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func childMain(specPath string) error {
	b, err := os.ReadFile(specPath)
	if err != nil {
		return err
	}
	var spec childSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		return fmt.Errorf("%s: %w", specPath, err)
	}
	cfg := spec.Config
	cfg.lab = spec.Lab
	// One line per message on stdout; the parent hands them to its Logf.
	var mu sync.Mutex
	cfg.Logf = func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Printf(format+"\n", args...)
	}
	// The parent asks the child to stop with SIGTERM (it owns the
	// terminal's SIGINT).
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	res, err := Run(ctx, cfg)
	// Run has stopped the servers; remove the hosts the membership
	// nemesis added (they are mounted in this process's mount namespace;
	// the parent's Close removes their names too, so a failure here
	// leaves nothing behind and does not void the run).
	if cerr := spec.Lab.Close(); cerr != nil {
		cfg.Logf("removing added hosts: %v", cerr)
	}
	out := childResult{Result: res}
	if err != nil {
		out.Err = err.Error()
	}
	f, err := os.Create(specPath + ".result")
	if err != nil {
		return err
	}
	if err := json.NewEncoder(f).Encode(out); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// runNetns is Run's parent side with Net "netns".
func runNetns(ctx context.Context, cfg RunConfig) (res *Result, err error) {
	if err := netns.Check(); err != nil {
		return nil, fmt.Errorf("jepsen -net netns: %w", err)
	}
	if gone, err := netns.Sweep(ctx, LabKind, staleLabAge); err != nil {
		cfg.Logf("sweeping stale labs: %v", err)
	} else if len(gone) > 0 {
		cfg.Logf("removed %d namespaces of crashed runs: %v", len(gone), gone)
	}
	// An interrupt ends the run early, but through the cleanup below.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	lab, err := netns.New(ctx, LabKind, cfg.Nodes)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := lab.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("removing lab %s: %w", lab.Prefix, cerr))
		}
	}()
	cfg.Logf("lab %s: nodes %v on %s.0/24, clients %s, switch %s", lab.Prefix, labIPs(lab), netns.Subnet, lab.Client.IP, lab.Switch)

	tmp, err := os.MkdirTemp("", "jepsen-netns-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	spec := filepath.Join(tmp, "spec.json")
	b, err := json.Marshal(childSpec{Config: cfg, Lab: lab})
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(spec, b, 0o600); err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if err := runChild(ctx, netns.Command(lab.Client, exe), spec, cfg.Logf); err != nil {
		return nil, err
	}
	b, err = os.ReadFile(spec + ".result")
	if err != nil {
		return nil, fmt.Errorf("jepsen netns child left no result: %w", err)
	}
	var out childResult
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("jepsen netns child result: %w", err)
	}
	if out.Err != "" {
		return nil, errors.New(out.Err)
	}
	if out.Result == nil {
		return nil, errors.New("jepsen netns child: no result")
	}
	out.Result.Config.Logf = cfg.Logf
	return out.Result, nil
}

func labIPs(l *netns.Lab) []string {
	var ips []string
	for _, h := range l.Nodes {
		ips = append(ips, h.Name+"="+h.IP)
	}
	return ips
}

// runChild runs argv (the child, in the clients' namespace) with the spec
// in its environment, forwarding its output lines to logf. When ctx ends
// it asks the child to stop (SIGTERM) and kills it a minute later. The
// kernel kills the child if this process dies (Pdeathsig), and the child's
// servers die with it.
func runChild(ctx context.Context, argv []string, spec string, logf func(string, ...any)) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), childEnv+"="+spec)
	// Its own process group: a terminal's Ctrl-C reaches only this
	// process, which stops the child in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	lines := make(chan struct{})
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
		for sc.Scan() {
			logf("%s", sc.Text())
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	started, done := make(chan error, 1), make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that forked the child exits:
		// this one lives until the child is reaped.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		done <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		pw.Close()
		<-lines
		return fmt.Errorf("start jepsen netns child: %w", err)
	}
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		logf("interrupted: stopping the run")
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err = <-done:
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			err = <-done
		}
		err = errors.Join(ctx.Err(), err)
	}
	pw.Close()
	<-lines
	if err != nil {
		return fmt.Errorf("jepsen netns child: %w", err)
	}
	return nil
}
