package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sessionraft/sessionraft/client"
)

// benchOptions are the flags of "sessionraft bench".
type benchOptions struct {
	addrs         []string // sessionraft seeds; empty with --redis only
	redis         []string // [label=]host:port of Redis servers to drive too
	workloads     []string
	consistency   []string
	concurrency   int
	pipeline      int
	duration      time.Duration
	warmup        time.Duration
	valueSize     int
	keys          int
	ttl           time.Duration
	runs          int
	jsonOut       bool
	progress      bool
	timeout       time.Duration
	flushDelay    time.Duration
	spreadStale   bool
	spreadCreates bool
	linLeader     bool
	pprofAddr     string
	auth          clientAuth // TLS and credentials for sessionraft (clientauth.go)
}

// Workload names.
const (
	wlCreate = "create" // new session / SET EX of a new key
	wlGet    = "get"    // read a preloaded key
	wlSet    = "set"    // overwrite a field of a preloaded key
	wlTouch  = "touch"  // record an access (sessionraft TOUCH, Redis EXPIRE)
	wlMixed  = "mixed"  // 90% get, 10% set
	wlLoad   = "load"   // create exactly --keys sessions, then stop
)

var allWorkloads = []string{wlCreate, wlGet, wlSet, wlTouch, wlMixed, wlLoad}

func defaultBenchOptions() benchOptions {
	return benchOptions{
		addrs:       []string{"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"},
		workloads:   []string{wlCreate},
		consistency: []string{string(client.Linearizable)},
		concurrency: 64,
		pipeline:    1,
		duration:    10 * time.Second,
		warmup:      time.Second,
		valueSize:   256,
		keys:        10000,
		ttl:         time.Hour,
		runs:        1,
		progress:    true,
		timeout:     5 * time.Second,
	}
}

func newBenchCmd() *cobra.Command {
	o := defaultBenchOptions()
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test a sessionraft cluster (and Redis, for comparison)",
		Long: `Drive a sessionraft cluster through the Go client with a workload and print
throughput, latency percentiles (p50/p99/p999) and errors by kind.

Workloads (--workload, comma-separated to run several in turn):
  create   create sessions with one field of --value-size bytes and --ttl
  get      read preloaded sessions (--keys of them) at each --consistency level
  set      overwrite the field of preloaded sessions
  touch    record an access to preloaded sessions
  mixed    90% get (first --consistency level), 10% set
  load     create exactly --keys sessions and stop (fills a cluster, e.g. for
           memory and restart measurements)

--redis [label=]host:port (repeatable) also drives a Redis server with the same
workloads, so both are measured by one tool in one run: create is SET key value
EX ttl of a fresh key, get is GET, set is SET EX of a preloaded key, touch is
EXPIRE. Consistency levels do not apply to Redis; its get runs once. Use
--addr none to drive only Redis.

Concurrency: --concurrency goroutines each run one request at a time.
--pipeline N gives every one of them N requests in flight (N goroutines that
share its slot); the Go client and the Redis client (rueidis) both auto-pipeline
concurrent requests onto one connection per node, so concurrency x pipeline is
the number of requests in flight and many of them travel in one write.

With --runs N every workload runs N times, interleaved over targets (so slow
phases of a shared machine hit every target alike), and the table shows each
run and the median. Latency is measured per request from just before the call
to its return, retries included; the first --warmup of each run is not counted.

CPU per operation, over each run's measured window: "cpu/op us" is the servers'
(used_cpu_user + used_cpu_sys from INFO of every node, or of the Redis server),
"tool cpu/op us" this process's own (its workers and the client library). On
one machine the two together bound ops/s.`,
		Example: `  sessionraft bench --workload create,get --consistency linearizable,leader,stale
  sessionraft bench --workload create --redis fsync=127.0.0.1:6390 --runs 3
  sessionraft bench --workload get --pipeline 8 --json
  sessionraft bench --workload load --keys 1000000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.auth.fromEnv(cmd.Flags(), os.LookupEnv); err != nil {
				return err
			}
			if err := o.normalize(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if o.pprofAddr != "" {
				stopPprof, err := startPprof(o.pprofAddr, slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil)))
				if err != nil {
					return err
				}
				defer stopPprof()
			}
			return runBench(ctx, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

func (o *benchOptions) addFlags(fs *pflag.FlagSet) {
	fs.SortFlags = false
	fs.StringSliceVar(&o.addrs, "addr", o.addrs, "sessionraft client addresses (seeds), comma-separated; \"none\" drives only --redis")
	fs.StringArrayVar(&o.redis, "redis", nil, "also drive a Redis server: [label=]host:port (repeatable)")
	fs.StringSliceVar(&o.workloads, "workload", o.workloads, "workloads to run in turn: "+strings.Join(allWorkloads, ", "))
	fs.StringSliceVar(&o.consistency, "consistency", o.consistency, "read levels for get (each is its own run): linearizable, leader, stale")
	fs.IntVar(&o.concurrency, "concurrency", o.concurrency, "concurrent clients (goroutines)")
	fs.IntVar(&o.pipeline, "pipeline", o.pipeline, "requests in flight per client (auto-pipelined onto shared connections)")
	durationVar(fs, &o.duration, "duration", "how long each workload runs (after --warmup)")
	durationVar(fs, &o.warmup, "warmup", "load before measuring starts, not counted")
	fs.IntVar(&o.valueSize, "value-size", o.valueSize, "bytes per session value")
	fs.IntVar(&o.keys, "keys", o.keys, "sessions preloaded for get/set/touch/mixed; sessions created by load")
	durationVar(fs, &o.ttl, "ttl", "absolute lifetime of the sessions (Redis: EX)")
	fs.IntVar(&o.runs, "runs", o.runs, "repeat every workload this many times and report the median")
	durationVar(fs, &o.timeout, "request-timeout", "time limit of one request, retries included")
	durationVar(fs, &o.flushDelay, "max-flush-delay", "let each connection wait up to this long to batch writes, for sessionraft and Redis alike (client.Config.MaxFlushDelay; 0: write at once)")
	fs.BoolVar(&o.spreadStale, "spread-stale-reads", o.spreadStale, "send stale reads round-robin over each group's replicas instead of to one replica per client (client.Config.SpreadStaleReads)")
	fs.BoolVar(&o.spreadCreates, "spread-creates", o.spreadCreates, "send each create to a group led by the next node instead of to one group per 20 ms (client.Config.SpreadCreates)")
	fs.BoolVar(&o.linLeader, "linearizable-reads-to-leader", o.linLeader, "send linearizable reads to each group's leader instead of to the client's home replica (client.Config.LinearizableReadsToLeader)")
	fs.BoolVar(&o.jsonOut, "json", o.jsonOut, "print the results as JSON instead of a table")
	fs.BoolVar(&o.progress, "progress", o.progress, "show a progress line on stderr while running")
	fs.StringVar(&o.pprofAddr, "pprof-addr", "", "serve net/http/pprof of the load tool itself on this loopback address")
	o.auth.addFlags(fs)
}

// normalize checks the options and expands lists.
func (o *benchOptions) normalize() error {
	var errs []error
	if len(o.addrs) == 1 && (o.addrs[0] == "none" || o.addrs[0] == "") {
		o.addrs = nil
	}
	if len(o.addrs) == 0 && len(o.redis) == 0 {
		errs = append(errs, errors.New("nothing to drive: give --addr or --redis"))
	}
	for _, r := range o.redis {
		if _, _, err := parseRedisTarget(r); err != nil {
			errs = append(errs, err)
		}
	}
	if len(o.workloads) == 0 {
		errs = append(errs, errors.New("--workload: give at least one"))
	}
	for i, w := range o.workloads {
		w = strings.ToLower(strings.TrimSpace(w))
		o.workloads[i] = w
		if !contains(allWorkloads, w) {
			errs = append(errs, fmt.Errorf("--workload %q: want one of %s", w, strings.Join(allWorkloads, ", ")))
		}
	}
	if len(o.consistency) == 0 {
		errs = append(errs, errors.New("--consistency: give at least one level"))
	}
	for i, c := range o.consistency {
		c = strings.ToLower(strings.TrimSpace(c))
		o.consistency[i] = c
		switch client.Consistency(c) {
		case client.Linearizable, client.Leader, client.Stale:
		default:
			errs = append(errs, fmt.Errorf("--consistency %q: want linearizable, leader or stale", c))
		}
	}
	if o.concurrency < 1 || o.concurrency > 100000 {
		errs = append(errs, fmt.Errorf("--concurrency %d: want 1..100000", o.concurrency))
	}
	if o.pipeline < 1 || o.pipeline > 1024 {
		errs = append(errs, fmt.Errorf("--pipeline %d: want 1..1024", o.pipeline))
	}
	if o.concurrency*o.pipeline > 100000 {
		errs = append(errs, errors.New("--concurrency x --pipeline must be at most 100000"))
	}
	if o.duration <= 0 && !(len(o.workloads) == 1 && o.workloads[0] == wlLoad) {
		errs = append(errs, errors.New("--duration must be > 0"))
	}
	if o.warmup < 0 {
		errs = append(errs, errors.New("--warmup must be >= 0"))
	}
	if o.valueSize < 0 || o.valueSize > 1<<20 {
		errs = append(errs, fmt.Errorf("--value-size %d: want 0..1048576", o.valueSize))
	}
	if o.keys < 1 || o.keys > 100_000_000 {
		errs = append(errs, fmt.Errorf("--keys %d: want 1..100000000", o.keys))
	}
	if o.ttl < time.Second {
		errs = append(errs, errors.New("--ttl must be at least 1s"))
	}
	if o.runs < 1 || o.runs > 100 {
		errs = append(errs, fmt.Errorf("--runs %d: want 1..100", o.runs))
	}
	if o.timeout <= 0 {
		errs = append(errs, errors.New("--request-timeout must be > 0"))
	}
	if o.flushDelay < 0 || o.flushDelay > time.Millisecond {
		errs = append(errs, fmt.Errorf("--max-flush-delay %v: want 0..1ms", o.flushDelay))
	}
	return errors.Join(errs...)
}

// parseRedisTarget splits "[label=]host:port"; the label defaults to
// "redis".
func parseRedisTarget(s string) (label, addr string, err error) {
	label, addr = "redis", s
	if i := strings.IndexByte(s, '='); i >= 0 {
		label, addr = s[:i], s[i+1:]
	}
	if label == "" || !validHostPort(addr) {
		return "", "", fmt.Errorf("--redis %q: want [label=]host:port", s)
	}
	return "redis:" + label, addr, nil
}

func validHostPort(a string) bool {
	i := strings.LastIndexByte(a, ':')
	return i > 0 && i < len(a)-1
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// phases expands workloads x consistency levels for one target kind.
func (o *benchOptions) phases(isRedis bool) []phase {
	var ps []phase
	for _, w := range o.workloads {
		switch {
		case w == wlGet && !isRedis:
			for _, c := range o.consistency {
				ps = append(ps, phase{workload: w, consistency: c})
			}
		case (w == wlMixed) && !isRedis:
			ps = append(ps, phase{workload: w, consistency: o.consistency[0]})
		default:
			ps = append(ps, phase{workload: w})
		}
	}
	return ps
}

// phase is one workload at one consistency level.
type phase struct {
	workload    string
	consistency string // reads of sessionraft only
}

func (p phase) String() string {
	if p.consistency != "" {
		return p.workload + "/" + p.consistency
	}
	return p.workload
}

// runBench connects to every target, preloads keys when a workload needs
// them, runs every phase --runs times and prints the results.
func runBench(ctx context.Context, o benchOptions, out, errOut io.Writer) error {
	targets, err := openTargets(ctx, o)
	if err != nil {
		return err
	}
	defer func() {
		for _, t := range targets {
			t.Close()
		}
	}()
	needKeys := false
	for _, w := range o.workloads {
		if w == wlGet || w == wlSet || w == wlTouch || w == wlMixed {
			needKeys = true
		}
	}
	keys := make(map[string][]string, len(targets))
	if needKeys {
		for _, t := range targets {
			ks, err := preload(ctx, t, o, errOut)
			if err != nil {
				return fmt.Errorf("%s: preload: %w", t.Name(), err)
			}
			keys[t.Name()] = ks
		}
	}
	var results []*phaseResult
	byKey := map[string]*phaseResult{}
	for run := 0; run < o.runs; run++ {
		for _, t := range targets {
			for _, p := range o.phases(t.IsRedis()) {
				if ctx.Err() != nil {
					break
				}
				r, err := runPhase(ctx, t, p, keys[t.Name()], o, run, errOut)
				if err != nil {
					return fmt.Errorf("%s %s: %w", t.Name(), p, err)
				}
				k := t.Name() + " " + p.String()
				agg := byKey[k]
				if agg == nil {
					agg = &phaseResult{Target: t.Name(), Workload: p.workload, Consistency: p.consistency}
					byKey[k] = agg
					results = append(results, agg)
				}
				agg.Runs = append(agg.Runs, r)
			}
		}
	}
	for _, r := range results {
		r.summarize()
	}
	rep := benchReport{Options: o.summary(), Results: results}
	if o.jsonOut {
		return rep.writeJSON(out)
	}
	rep.writeTable(out)
	return ctx.Err()
}
