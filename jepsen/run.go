package jepsen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/sessionraft/sessionraft/client"
	"github.com/sessionraft/sessionraft/internal/testcluster"
	"github.com/sessionraft/sessionraft/internal/testcluster/netns"
	"github.com/sessionraft/sessionraft/transport/resp"
)

// RunConfig configures one run: a cluster, workloads run concurrently, and
// nemeses scheduled on and off.
type RunConfig struct {
	Binary    string   // sessionraft binary ("": testcluster.Binary())
	Dir       string   // cluster data and node logs
	OutDir    string   // on failure (or Always): history, visualisation, logs; "" = Dir
	Always    bool     // write OutDir even when every checker passes
	Workloads []string // register, set, ttl, cache
	Nemeses   []string // partition, kill, pause, clock, none
	Duration  time.Duration
	Nodes     int
	Workers   int // per workload (default 5)
	Keys      int // register sessions (default 4)
	// ClockSkew bounds the clock nemesis's offsets from true time (default
	// 200ms); the checkers allow twice it between two nodes.
	ClockSkew time.Duration
	// Faults are held for FaultFor, then healed for QuietFor (defaults 4s, 2s).
	FaultFor, QuietFor time.Duration
	MaxStaleness       time.Duration // server --max-staleness (default 1s)
	// Unsafe enables DEBUG.UNSAFE READS on every node: the checkers must fail.
	Unsafe bool
	// UnsafeExpiry enables DEBUG.UNSAFE EXPIRY on every node (expiry by
	// the node's clock alone); with the skew-followers nemesis the ttl
	// checker must fail.
	UnsafeExpiry bool
	ExtraArgs    []string // more server flags (later flags win)
	// NodeArgs are more server flags for single nodes, by id (n1, ...).
	NodeArgs map[string][]string
	// Client: TLS and credentials for the client ports, when ExtraArgs
	// secure them; used by the harness and the Go client alike.
	Client testcluster.ClientOptions
	// CacheLease is the cache workload's clients' CacheLease (default
	// 250ms). The cache checker's bound always assumes the default, so a
	// longer lease is the cache self-test: the checker must fail.
	CacheLease time.Duration
	// TTLSlack widens the ttl checker's bound (the unsafe-expiry self-test
	// allows for the log clock's replication lag on a skewed follower).
	TTLSlack time.Duration
	// Net is where the nodes run: "loopback" (the default: processes on
	// loopback ports, partitions simulated in the mux) or "netns" (each
	// node in a network namespace of its own on a private bridge,
	// faults cut by the kernel; Linux, root, ip and nft; see netrun.go).
	Net  string
	Logf func(format string, args ...any) `json:"-"`

	// lab is the network of a netns run, set in the child process that
	// runs the cluster and the clients inside it.
	lab *netns.Lab
}

// Network modes (RunConfig.Net).
const (
	NetLoopback = "loopback"
	NetNetns    = "netns"
)

func (c *RunConfig) defaults() {
	if c.Nodes == 0 {
		c.Nodes = 3
	}
	if c.Workers == 0 {
		c.Workers = 5
	}
	if c.Keys == 0 {
		c.Keys = 4
	}
	if c.ClockSkew == 0 {
		c.ClockSkew = 200 * time.Millisecond
	}
	if c.FaultFor == 0 {
		c.FaultFor = 4 * time.Second
	}
	if c.QuietFor == 0 {
		c.QuietFor = 2 * time.Second
	}
	if c.MaxStaleness == 0 {
		c.MaxStaleness = time.Second
	}
	if c.OutDir == "" {
		c.OutDir = c.Dir
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	if c.Net == "" {
		c.Net = NetLoopback
	}
}

// UnsafeExpiryArgs are the server flags of the unsafe-expiry self-test: the
// sweeper and leadership balancing are slowed so that expired sessions stay
// in the log for their whole life in the test and a follower stays a
// follower. Correct nodes still hide expired sessions by the log clock; a
// node with DEBUG.UNSAFE EXPIRY on does not.
var UnsafeExpiryArgs = []string{"--sweep-interval", "1m", "--balance-interval", "1h"}

// skewBetweenNodes is the largest clock difference between two nodes the
// run can cause.
func (c *RunConfig) skewBetweenNodes() time.Duration {
	for _, n := range c.Nemeses {
		if n == "clock" { // not skew-followers: its 5s is outside any bound on purpose
			return 2 * c.ClockSkew
		}
	}
	return 0
}

// slack absorbs scheduling noise between the harness's clock and the
// nodes' (same machine, so small).
const slack = 150 * time.Millisecond

func (c *RunConfig) staleBound() time.Duration {
	return c.MaxStaleness + c.skewBetweenNodes() + slack
}

// cacheBound is client-side caching's revocation bound: the server's
// TrackingMaxStaleness (three quarters of --max-staleness by default),
// the caching clients' lease, the clock skew between nodes, and slack.
func (c *RunConfig) cacheBound() time.Duration {
	return c.MaxStaleness*3/4 + cacheLease + c.skewBetweenNodes() + slack
}

func (c *RunConfig) ttlBound() time.Duration { return c.skewBetweenNodes() + slack + c.TTLSlack }

// Counts are operation counts.
type Counts struct{ Ops, OK, Fail, Unknown int }

// Result is the outcome of a run.
type Result struct {
	Config  RunConfig
	Elapsed time.Duration
	Counts  map[string]Counts // per workload
	Checks  []CheckResult
	Faults  []string // nemesis log
	Valid   bool
	Ops     []Op
}

// Run runs one test and checks it. An error means the harness itself
// failed (the cluster did not start, or never healed); checker failures are
// in Result.
func Run(ctx context.Context, cfg RunConfig) (*Result, error) {
	cfg.defaults()
	if cfg.Duration <= 0 || len(cfg.Workloads) == 0 {
		return nil, errors.New("jepsen: need a duration and at least one workload")
	}
	var wls []Workload
	for _, name := range cfg.Workloads {
		w, err := NewWorkload(name)
		if err != nil {
			return nil, err
		}
		wls = append(wls, w)
	}
	var nems []Nemesis
	for _, name := range cfg.Nemeses {
		n, err := NewNemesis(name, cfg.ClockSkew)
		if err != nil {
			return nil, err
		}
		nems = append(nems, n)
		if name == "majorities-ring" && cfg.Nodes < 5 {
			return nil, fmt.Errorf("jepsen: majorities-ring needs at least 5 nodes, have %d", cfg.Nodes)
		}
		if (name == "loss" || name == "blackhole") && cfg.Net != NetNetns {
			return nil, fmt.Errorf("jepsen: nemesis %s %w", name, errNeedsLab)
		}
	}
	switch {
	case cfg.Net == NetNetns && cfg.lab == nil:
		// This process sets up the network; a child inside it runs the rest.
		return runNetns(ctx, cfg)
	case cfg.Net != NetNetns && cfg.Net != NetLoopback:
		return nil, fmt.Errorf("jepsen: network %q: want %s or %s", cfg.Net, NetLoopback, NetNetns)
	}
	began := time.Now()
	cl, err := StartCluster(ctx, ClusterConfig{Binary: cfg.Binary, Dir: cfg.Dir, Nodes: cfg.Nodes, MaxStaleness: cfg.MaxStaleness, ExtraArgs: append(memberArgs(cfg.Nemeses), cfg.ExtraArgs...), NodeArgs: cfg.NodeArgs, Lab: cfg.lab, Client: cfg.Client})
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	cfg.Logf("cluster up: %s", strings.Join(cl.ClientAddrs(), " "))
	for what, on := range map[string]bool{"READS": cfg.Unsafe, "EXPIRY": cfg.UnsafeExpiry} {
		if !on {
			continue
		}
		for _, n := range cl.Nodes {
			if _, err := cl.Admin(ctx, n, adminTimeout, "DEBUG.UNSAFE", what, "on"); err != nil {
				return nil, err
			}
		}
	}

	gc, err := client.New(ctx, client.Config{
		Seeds:           cl.ClientAddrs(),
		DialTimeout:     time.Second,
		RequestTimeout:  3 * time.Second,
		RefreshInterval: 500 * time.Millisecond,
		TLS:             cfg.Client.TLS,
		Username:        cfg.Client.Username,
		Password:        cfg.Client.Password,
	})
	if err != nil {
		return nil, err
	}
	defer gc.Close()
	h := newHistory(time.Now())
	e := &env{c: cl, cl: gc, h: h, cfg: cfg}
	for _, w := range wls {
		if err := w.Setup(ctx, e); err != nil {
			return nil, err
		}
	}

	// Workers and the nemesis schedule run for Duration.
	runCtx, stop := context.WithTimeout(ctx, cfg.Duration)
	defer stop()
	var wg sync.WaitGroup
	p := 0
	for _, w := range wls {
		for range cfg.Workers {
			wg.Add(1)
			go func(w Workload, p int) { defer wg.Done(); w.Worker(runCtx, e, p) }(w, p)
			p++
		}
	}
	res := &Result{Config: cfg, Counts: map[string]Counts{}}
	faultf := func(format string, args ...any) {
		s := fmt.Sprintf("[%6.1fs] ", time.Duration(h.Now()).Seconds()) + fmt.Sprintf(format, args...)
		res.Faults = append(res.Faults, s)
		cfg.Logf("nemesis %s", s)
	}
	nemDone := make(chan struct{})
	if len(nems) > 0 {
		go func() { defer close(nemDone); schedule(runCtx, cl, nems, cfg, faultf) }()
	} else {
		close(nemDone)
	}
	<-runCtx.Done()
	wg.Wait() // each operation is bounded by its own timeout
	<-nemDone // the last Stop is bounded by admin timeouts
	cfg.Logf("workers stopped after %v, %d ops", time.Duration(h.Now()).Round(time.Millisecond), len(h.Ops()))

	// Heal everything, wait for a healthy cluster, final reads.
	if err := healAll(ctx, cl, cfg, faultf); err != nil {
		return nil, err
	}
	if err := cl.WaitHealthy(ctx, 60*time.Second); err != nil {
		return nil, err
	}
	var finalErrs []error
	for _, w := range wls {
		finalErrs = append(finalErrs, w.Final(ctx, e))
	}
	ops := h.Ops()
	sort.Slice(ops, func(i, j int) bool { return ops[i].Call < ops[j].Call })
	res.Ops = ops
	for _, w := range wls {
		res.Checks = append(res.Checks, w.Check(e, ops)...)
	}
	res.Checks = append(res.Checks, checkReplicas(ctx, cl, 30*time.Second), checkExits(cl))
	if err := errors.Join(finalErrs...); err != nil {
		res.Checks = append(res.Checks, CheckResult{Name: "final-reads", Detail: err.Error()})
	}
	for _, op := range ops {
		c := res.Counts[op.Workload]
		c.Ops++
		switch op.Outcome {
		case OK:
			c.OK++
		case Fail:
			c.Fail++
		default:
			c.Unknown++
		}
		res.Counts[op.Workload] = c
	}
	res.Valid = true
	for _, c := range res.Checks {
		res.Valid = res.Valid && c.Valid
	}
	res.Elapsed = time.Since(began)
	if !res.Valid || cfg.Always {
		if err := res.writeOut(cl); err != nil {
			cfg.Logf("writing %s: %v", cfg.OutDir, err)
		}
	}
	return res, nil
}

// schedule runs the nemeses until ctx ends: quiet, one fault for
// FaultFor, heal, and again. The nemeses come in rounds, each once per
// round in a random order, so that a short run still injects every kind.
func schedule(ctx context.Context, cl *Cluster, nems []Nemesis, cfg RunConfig, logf func(string, ...any)) {
	var round []Nemesis
	for {
		if !wait(ctx, cfg.QuietFor) {
			return
		}
		if len(round) == 0 {
			round = append(round, nems...)
			rand.Shuffle(len(round), func(i, j int) { round[i], round[j] = round[j], round[i] })
		}
		n := round[0]
		round = round[1:]
		desc, err := n.Start(context.WithoutCancel(ctx), cl)
		logf("%s start: %s%s", n.Name(), desc, errSuffix(err))
		ok := wait(ctx, cfg.FaultFor)
		desc, err = n.Stop(context.WithoutCancel(ctx), cl)
		logf("%s stop: %s%s", n.Name(), desc, errSuffix(err))
		if !ok {
			return
		}
	}
}

// healAll ends every fault (retrying for a bounded time).
func healAll(ctx context.Context, cl *Cluster, cfg RunConfig, logf func(string, ...any)) error {
	heal := []Nemesis{pauseNemesis{}, killNemesis{}, partitionNemesis{}, clockNemesis{}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var errs []error
		for _, n := range heal {
			_, err := n.Stop(ctx, cl)
			errs = append(errs, err)
		}
		err := errors.Join(errs...)
		if err == nil {
			logf("healed everything")
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("could not heal the cluster: %w", err)
		}
		if !wait(ctx, 200*time.Millisecond) {
			return ctx.Err()
		}
	}
}

func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return " (error: " + err.Error() + ")"
}

// checkReplicas compares every node's per-group state digest (DEBUG.HASH).
// A replica's state at a given applied index is fixed, so observations made
// at different moments can be compared: a group passes once every node has
// been seen at one common applied index with one hash, and fails at once if
// two nodes were ever seen at the same index with different hashes. (Idle
// leaders append clock ticks, so all nodes are rarely at one index at one
// instant.) Every round asks all nodes at once, so that their digests are
// taken close together in time.
func checkReplicas(ctx context.Context, cl *Cluster, limit time.Duration) CheckResult {
	res := CheckResult{Name: "replicas"}
	obs := replicaObservations{}
	nodeErr := map[string]string{} // latest DEBUG.HASH failure per node
	deadline := time.Now().Add(limit)
	var last string
	for time.Now().Before(deadline) {
		// Ask every node at once: a digest takes a while on a big state,
		// and asked one after another the nodes would be sampled at
		// different indexes every time.
		answers := make([]resp.Value, len(cl.Nodes))
		errs := make([]error, len(cl.Nodes))
		var wg sync.WaitGroup
		for i, n := range cl.Nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				answers[i], errs[i] = cl.Admin(ctx, n, 5*time.Second, "DEBUG.HASH")
				if errs[i] == nil {
					errs[i] = answers[i].Err()
				}
			}()
		}
		wg.Wait()
		for i, n := range cl.Nodes {
			v, err := answers[i], errs[i]
			if err != nil {
				nodeErr[n.ID] = err.Error()
				continue
			}
			delete(nodeErr, n.ID)
			for _, g := range v.Elems {
				if len(g.Elems) == 4 {
					obs.add(int(g.Elems[0].Int), n.ID, replicaDigest{g.Elems[1].Int, g.Elems[2].Int, g.Elems[3].Str})
				}
			}
		}
		valid, done, detail := obs.verdict(len(cl.Nodes))
		if !valid || done {
			res.Valid, res.Detail = valid, detail
			return res
		}
		last = detail
		if !wait(ctx, 50*time.Millisecond) {
			break
		}
	}
	// Say why: which nodes did not answer, and where each group's
	// replicas were last seen.
	var why []string
	for _, id := range slices.Sorted(maps.Keys(nodeErr)) {
		why = append(why, fmt.Sprintf("%s: DEBUG.HASH failed: %s (goroutine stacks in its log)", id, nodeErr[id]))
		// A node that stopped answering: keep its goroutines for the
		// post-mortem.
		_ = cl.DumpStacks(cl.NodeByID(id))
	}
	for _, gid := range slices.Sorted(maps.Keys(obs)) {
		why = append(why, fmt.Sprintf("group %d last applied %v", gid, obs.latest(gid)))
	}
	res.Detail = "replicas did not converge within " + limit.String() + ": " + last + "; " + strings.Join(why, "; ")
	return res
}

// checkExits fails if a server exited without the harness stopping it: a
// crash, which the kill nemesis's restarts would otherwise hide.
func checkExits(cl *Cluster) CheckResult {
	if exits := cl.Exits(); len(exits) > 0 {
		return CheckResult{Name: "no-crash", Detail: "exited by themselves: " + strings.Join(exits, "; ")}
	}
	return CheckResult{Name: "no-crash", Valid: true, Detail: "no server exited unless stopped"}
}

// replicaDigest is one node's DEBUG.HASH answer for one group.
type replicaDigest struct {
	applied, sessions int64
	hash              string
}

// replicaObservations: group -> applied index -> node -> digest.
type replicaObservations map[int]map[int64]map[string]replicaDigest

func (o replicaObservations) add(gid int, node string, d replicaDigest) {
	if o[gid] == nil {
		o[gid] = map[int64]map[string]replicaDigest{}
	}
	if o[gid][d.applied] == nil {
		o[gid][d.applied] = map[string]replicaDigest{}
	}
	o[gid][d.applied][node] = d
}

// latest returns, per node, the highest applied index seen for group gid.
func (o replicaObservations) latest(gid int) map[string]int64 {
	out := map[string]int64{}
	for idx, seen := range o[gid] {
		for node := range seen {
			out[node] = max(out[node], idx)
		}
	}
	return out
}

// verdict reports valid=false with the evidence as soon as two nodes were
// seen at one applied index with different hashes; done once every group
// has an index at which all nodes were seen (with equal hashes).
func (o replicaObservations) verdict(nodes int) (valid, done bool, detail string) {
	if len(o) == 0 {
		return true, false, "no digests yet"
	}
	var parts, pending []string
	for _, gid := range slices.Sorted(maps.Keys(o)) {
		var best int64 = -1
		for _, idx := range slices.Sorted(maps.Keys(o[gid])) {
			seen := o[gid][idx]
			var first *replicaDigest
			for _, node := range slices.Sorted(maps.Keys(seen)) {
				d := seen[node]
				if first == nil {
					first = &d
				} else if d.hash != first.hash || d.sessions != first.sessions {
					return false, true, fmt.Sprintf("group %d: replicas differ at applied index %d: %v", gid, idx, seen)
				}
			}
			if len(seen) == nodes {
				best = idx
			}
		}
		if best < 0 {
			pending = append(pending, fmt.Sprintf("group %d: no index seen on all %d nodes yet", gid, nodes))
			continue
		}
		var any replicaDigest
		for _, d := range o[gid][best] {
			any = d
			break
		}
		parts = append(parts, fmt.Sprintf("g%d: %d sessions @%d", gid, any.sessions, best))
	}
	if len(pending) > 0 {
		return true, false, strings.Join(pending, "; ")
	}
	return true, true, "all replicas identical (" + strings.Join(parts, ", ") + ")"
}

// writeOut saves the history, summary and node logs.
func (r *Result) writeOut(cl *Cluster) error {
	dir := r.Config.OutDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "history.jsonl"))
	if err != nil {
		return err
	}
	if err := WriteJSON(f, r.Ops); err != nil {
		f.Close()
		return err
	}
	f.Close()
	var b strings.Builder
	r.Summary(&b)
	if err := os.WriteFile(filepath.Join(dir, "summary.txt"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	if filepath.Clean(dir) != filepath.Clean(cl.Cfg.Dir) {
		for _, n := range cl.Nodes {
			data, err := os.ReadFile(n.LogPath)
			if err != nil {
				continue
			}
			_ = os.WriteFile(filepath.Join(dir, n.ID+".log"), data, 0o644)
		}
	}
	return nil
}

// Summary prints the summary table.
func (r *Result) Summary(w io.Writer) {
	fmt.Fprintf(w, "workloads %s, nemeses %s, %d nodes, network %s, %v (elapsed %v)\n",
		strings.Join(r.Config.Workloads, ","), strings.Join(orNone(r.Config.Nemeses), ","), r.Config.Nodes,
		r.Config.Net, r.Config.Duration, r.Elapsed.Round(time.Second))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "workload\tops\tok\tfailed\tunknown")
	var names []string
	for k := range r.Counts {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		c := r.Counts[k]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", k, c.Ops, c.OK, c.Fail, c.Unknown)
	}
	tw.Flush()
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "checker\tverdict\tdetail")
	for _, c := range r.Checks {
		v := "PASS"
		if !c.Valid {
			v = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, v, c.Detail)
	}
	tw.Flush()
	fmt.Fprintf(w, "faults injected: %d\n", (len(r.Faults)+1)/2)
	verdict := "VALID"
	if !r.Valid {
		verdict = "INVALID"
	}
	fmt.Fprintln(w, "verdict:", verdict)
}

func orNone(s []string) []string {
	if len(s) == 0 {
		return []string{"none"}
	}
	return s
}
