// Command jepsen runs sessionraft's fault-injection tests: a real cluster
// of server processes on loopback (or, with -net netns, each in its own
// network namespace), concurrent workloads, scheduled faults, and
// checkers. See docs/jepsen.md.
//
//	go run ./jepsen/cmd/jepsen -workload register,set -nemesis partition,kill -time 10m -nodes 3 -out dir
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/sessionraft/sessionraft/internal/testcluster"
	"github.com/sessionraft/sessionraft/jepsen"
)

func main() {
	jepsen.ChildMain() // with -net netns, the run re-executes this program inside the clients' namespace
	var (
		workloads = flag.String("workload", "register,set,ttl", "comma-separated workloads: register, set (with destroy/rotate), ttl, cache (client-side caching's revocation bound)")
		nemeses   = flag.String("nemesis", "partition,kill,pause,clock", "comma-separated nemeses: partition, partition-leader, majorities-ring (5+ nodes), kill, pause, clock, skew-followers, transfer, disk, member (add, replace and remove servers; also member-grow, member-replace), none; with -net netns also loss (packet loss) and blackhole")
		dur       = flag.Duration("time", time.Minute, "how long to run the workloads")
		nodes     = flag.Int("nodes", 3, "cluster size (3 or 5)")
		out       = flag.String("out", "", "output directory: node data and logs, history, visualisation (default: a new temp dir)")
		workers   = flag.Int("workers", 5, "concurrent clients per workload")
		keys      = flag.Int("keys", 4, "register workload: number of sessions")
		skew      = flag.Duration("skew", 200*time.Millisecond, "clock nemesis: largest offset from true time")
		faultFor  = flag.Duration("fault-for", 4*time.Second, "how long each fault lasts")
		quietFor  = flag.Duration("quiet-for", 2*time.Second, "healthy time between faults")
		unsafe    = flag.Bool("unsafe-reads", false, "turn on DEBUG.UNSAFE READS on every node (the checkers should fail)")
		unsafeExp = flag.Bool("unsafe-expiry", false, "turn on DEBUG.UNSAFE EXPIRY on every node, slow sweeping and balancing (use with -workload ttl -nemesis skew-followers: the ttl checker should fail)")
		race      = flag.Bool("race", false, "build the server with -race")
		each      = flag.Bool("each", false, "run every workload x nemesis combination separately, -time each")
		srvFlags  = flag.String("server-flags", "", "more server flags for every node, space-separated (e.g. --raft-pipeline=32)")
		network   = flag.String("net", jepsen.NetLoopback, "where the nodes run: loopback (partitions simulated in the mux) or netns (each node in its own network namespace on a private bridge, faults cut by nftables; Linux, root, ip and nft)")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	dir := *out
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "jepsen-"); err != nil {
			log.Fatal(err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Fatal(err)
	}
	bin, err := testcluster.Build(ctx, dir, *race)
	if err != nil {
		log.Fatal(err)
	}
	type combo struct{ w, n []string }
	var combos []combo
	ws, ns := split(*workloads), split(*nemeses)
	if *each {
		for _, w := range ws {
			for _, n := range ns {
				combos = append(combos, combo{[]string{w}, []string{n}})
			}
		}
	} else {
		combos = append(combos, combo{ws, ns})
	}
	var extra []string
	if *unsafeExp {
		extra = jepsen.UnsafeExpiryArgs
	}
	extra = append(extra, strings.Fields(*srvFlags)...)
	valid := true
	for i, c := range combos {
		runDir := filepath.Join(dir, fmt.Sprintf("run%02d-%s-%s", i+1, strings.Join(c.w, "+"), strings.Join(c.n, "+")))
		if _, err := os.Stat(runDir); err == nil {
			// Its nodes' data directories would be reused: the cluster
			// would start from an earlier run's state, and the member
			// nemesis's new servers with it.
			log.Fatalf("%s exists from an earlier run: choose another -out, or remove it", runDir)
		}
		res, err := jepsen.Run(ctx, jepsen.RunConfig{
			Binary: bin, Dir: runDir, Always: true,
			Workloads: c.w, Nemeses: c.n, Duration: *dur, Nodes: *nodes,
			Workers: *workers, Keys: *keys, ClockSkew: *skew,
			FaultFor: *faultFor, QuietFor: *quietFor, Unsafe: *unsafe,
			UnsafeExpiry: *unsafeExp, ExtraArgs: extra, Net: *network,
			Logf: func(format string, args ...any) { log.Printf(format, args...) },
		})
		if err != nil {
			log.Printf("run %s: harness error: %v", runDir, err)
			valid = false
			continue
		}
		fmt.Println()
		res.Summary(os.Stdout)
		fmt.Println("output:", runDir)
		valid = valid && res.Valid
	}
	if !valid {
		os.Exit(1)
	}
}

func split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
