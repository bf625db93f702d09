package main

import (
	"context"
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

	"github.com/sessionraft/sessionraft/node"
	"github.com/sessionraft/sessionraft/transport/tlsconf"
)

// serverOptions holds the server flags. Most bind straight into cfg; the
// rest are converted by config.
type serverOptions struct {
	cfg       node.Config
	logLevel  string
	logFormat string
	limits    limitFlags
	pprofAddr string
	clientTLS tlsconf.Files // client port TLS files (security.go)
	reloads   []reloadable  // what SIGHUP reloads, made by config
	// raftLogLevel is --raft-log-level (observability.go).
	raftLogLevel string
}

// limitFlags mirrors the record limits of fsm.Limits; see limits.go.
type limitFlags struct {
	maxValueBytes, maxRecordBytes, maxFields, maxIDLen int64
	maxSubjectLen, maxFieldNameLen, maxReqIDLen        int64
	dedupWindow                                        time.Duration
}

func newServerCmd() *cobra.Command {
	cmd, _ := newServerCommand()
	return cmd
}

// newServerCommand returns the command and the options its flags fill.
func newServerCommand() (*cobra.Command, *serverOptions) {
	o := newServerOptions()
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run one sessionraft node",
		Long: `Run one sessionraft node: its raft groups, the internal (raft + forwarding) port,
memberlist gossip and the RESP client port.

A new cluster bootstraps itself once --bootstrap-expect nodes see each other
through gossip; give every node the gossip addresses of the others with --join.
To add a server to a running cluster, start it with --join and --groups but no
--bootstrap-expect, then run "sessionraft member add ID" (docs/OPERATIONS.md).

Every flag can also be set with an environment variable: SESSIONRAFT_ plus the
flag name in upper case with dashes as underscores (--data-dir is
SESSIONRAFT_DATA_DIR, --join is SESSIONRAFT_JOIN as a comma-separated list).
Precedence: a flag on the command line wins over the environment variable,
which wins over the built-in default.

Durations are integer seconds or Go durations (1500ms, 30m).
Logs go to stderr. SIGINT or SIGTERM shuts the node down gracefully (its
leaderships handed over, requests in flight answered); a second signal exits
at once. SIGHUP reloads the TLS certificates and the ACL file. The exit code
is 3 if the node met a raft log entry it cannot apply (see "sessionraft log
show" and docs/SECURITY.md), else 1 if it stopped with an error.`,
		Example: `  sessionraft server --id n1 --data-dir /var/lib/sessionraft \
    --client-addr 0.0.0.0:7001 --raft-addr 0.0.0.0:7101 --gossip-addr 0.0.0.0:7201 \
    --advertise-client 10.0.0.1:7001 --advertise-raft 10.0.0.1:7101 --advertise-gossip 10.0.0.1:7201 \
    --join 10.0.0.2:7201,10.0.0.3:7201 --bootstrap-expect 3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd.Flags(), os.LookupEnv); err != nil {
				return err
			}
			cfg, err := o.config(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if o.pprofAddr != "" {
				stopPprof, err := startPprof(o.pprofAddr, cfg.Logger)
				if err != nil {
					return err
				}
				defer stopPprof()
			}
			return runServer(cmd.Context(), cfg, o.reloads)
		},
	}
	o.addFlags(cmd.Flags())
	annotateEnv(cmd.Flags())
	return cmd, o
}

func newServerOptions() *serverOptions {
	o := &serverOptions{cfg: node.DefaultConfig(), logLevel: "info", logFormat: "text", raftLogLevel: "info"}
	o.limits = limitsToFlags(o.cfg)
	return o
}

func (o *serverOptions) addFlags(fs *pflag.FlagSet) {
	c := &o.cfg
	fs.SortFlags = false

	// Identity and addresses.
	fs.StringVar(&c.ID, "id", c.ID, "node id, unique in the cluster and stable across restarts (required)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory for raft logs and snapshots, one subdirectory per group (required)")
	fs.StringVar(&c.ClientAddr, "client-addr", c.ClientAddr, "RESP listen address for clients")
	fs.StringVar(&c.RaftAddr, "raft-addr", c.RaftAddr, "internal listen address: raft for every group plus request forwarding")
	fs.StringVar(&c.GossipAddr, "gossip-addr", c.GossipAddr, "memberlist gossip address (UDP and TCP)")
	fs.StringVar(&c.AdvertiseClient, "advertise-client", c.AdvertiseClient, "client address told to others, when --client-addr is a wildcard (default: --client-addr)")
	fs.StringVar(&c.AdvertiseRaft, "advertise-raft", c.AdvertiseRaft, "internal address told to others (default: --raft-addr)")
	fs.StringVar(&c.AdvertiseGossip, "advertise-gossip", c.AdvertiseGossip, "gossip address told to others (default: --gossip-addr)")

	// Cluster formation.
	fs.StringSliceVar(&c.Join, "join", c.Join, "gossip address of a member to join; repeatable or comma-separated")
	fs.IntVar(&c.BootstrapExpect, "bootstrap-expect", c.BootstrapExpect, "bootstrap a new cluster once this many nodes see each other (0: never bootstrap, only join)")
	fs.IntVar(&c.Groups, "groups", c.Groups, "number of raft groups (0: same as --bootstrap-expect)")

	// Request handling.
	durationVar(fs, &c.MaxStaleness, "max-staleness", "default bound for stale reads: a replica whose applied state is older than this by the log clock refuses them with STALE")
	durationVar(fs, &c.RequestTimeout, "request-timeout", "time limit for one client request, forwarding included")
	durationVar(fs, &c.SweepInterval, "sweep-interval", "how often each group leader looks for expired sessions")
	durationVar(fs, &c.TouchInterval, "touch-interval", "how often buffered idle-timeout accesses are flushed to the leaders; the precision of IDLE expiry")
	durationVar(fs, &c.BalanceInterval, "balance-interval", "how often a group leader checks that leadership is spread over the nodes")
	// Client-side caching (CLIENT TRACKING).
	durationVar(fs, &c.TrackingMaxStaleness, "tracking-max-staleness", "client-side caching: when a group's state here is older than this by the log clock, flush every client that may cache its keys (0: 3/4 of --max-staleness)")
	fs.IntVar(&c.TrackingTableMaxKeys, "tracking-table-max-keys", c.TrackingTableMaxKeys, "client-side caching: most keys the tracking table remembers; past it keys are invalidated to make room (0: 1000000)")

	// Record limits. Apply enforces them, so every node must use the same.
	fs.Int64Var(&o.limits.maxValueBytes, "max-value-bytes", o.limits.maxValueBytes, "largest field value, in bytes")
	fs.Int64Var(&o.limits.maxRecordBytes, "max-record-bytes", o.limits.maxRecordBytes, "largest session record (id, subject, field names and values), in bytes")
	fs.Int64Var(&o.limits.maxFields, "max-fields", o.limits.maxFields, "most fields in one session")
	fs.Int64Var(&o.limits.maxIDLen, "max-id-len", o.limits.maxIDLen, "longest session id or key, in bytes (every node must use the same value: during an upgrade from a release with 128, set 128 until every node runs this one)")
	fs.Int64Var(&o.limits.maxSubjectLen, "max-subject-len", o.limits.maxSubjectLen, "longest subject, in bytes")
	fs.Int64Var(&o.limits.maxFieldNameLen, "max-field-name-len", o.limits.maxFieldNameLen, "longest field name, in bytes")
	fs.Int64Var(&o.limits.maxReqIDLen, "max-reqid-len", o.limits.maxReqIDLen, "longest REQID, in bytes")
	durationVar(fs, &o.limits.dedupWindow, "dedup-window", "how long (in log time) a REQID's result is remembered, so a retry applies at most once")

	// Raft tuning.
	durationVar(fs, &c.HeartbeatTimeout, "heartbeat-timeout", "raft: follower timeout without leader contact before an election")
	durationVar(fs, &c.ElectionTimeout, "election-timeout", "raft: candidate timeout")
	durationVar(fs, &c.LeaderLeaseTimeout, "leader-lease-timeout", "raft: a leader steps down when it has not reached a quorum for this long; bounds how stale CONSISTENCY leader reads can be")
	durationVar(fs, &c.CommitTimeout, "commit-timeout", "raft: longest wait before a heartbeat carries a new commit index")
	durationVar(fs, &c.SnapshotInterval, "snapshot-interval", "raft: how often to check whether to snapshot")
	fs.Uint64Var(&c.SnapshotThreshold, "snapshot-threshold", c.SnapshotThreshold, "raft: log entries since the last snapshot that trigger a new one")
	fs.Uint64Var(&c.TrailingLogs, "trailing-logs", c.TrailingLogs, "raft: log entries kept after a snapshot, so slow followers can catch up without one")
	fs.StringVar(&c.NotifyKeyspaceEvents, "notify-keyspace-events", c.NotifyKeyspaceEvents, "initial keyspace notifications, Redis's flags (e.g. KEA; empty: off); CONFIG SET changes them per node")
	fs.StringVar(&c.RaftTransport, "raft-transport", c.RaftTransport, "what raft RPCs are sent with: mux-binary (compact, pipelined) or net-msgpack (raft's own; both are always accepted, see docs/ARCHITECTURE.md before switching a running cluster)")
	fs.IntVar(&c.RaftPipeline, "raft-pipeline", c.RaftPipeline, "with --raft-transport mux-binary, AppendEntries in flight per follower (1: no pipelining, the default; more lowers write latency but costs CPU per write, see docs/benchmarks.md)")
	fs.BoolVar(&c.NoSync, "no-sync", c.NoSync, "do not fsync the raft log: faster, but acknowledged writes can be lost on power failure (tests only)")

	// Disk budget (node/disk.go).
	fs.Var(&minFreeDiskValue{c}, "min-free-disk", "below this much free space under --data-dir (bytes such as 512MiB, or a share of the file system such as 5%; 0: off) the cluster refuses new writes with DISKFULL until space returns; reads and deletes go on")
	byteSizeVar(fs, &c.MaxLogBytes, "max-log-bytes", "a group whose raft log grows past this size (such as 1GiB, at least 512MiB; 0: off) snapshots and keeps fewer trailing entries")
	byteSizeVar(fs, &c.SnapshotLogBytes, "snapshot-log-bytes", "a group snapshots once its raft log since the last snapshot is larger than this (such as 64MiB, at least 1MiB; 0: off) and than half that snapshot")
	byteSizeVar(fs, &c.TrailingLogBytes, "trailing-log-bytes", "raft log kept after a snapshot, in bytes, beside --trailing-logs (such as 64MiB, at least 1MiB; 0: no byte bound)")
	durationVar(fs, &c.DiskCheckInterval, "disk-check-interval", "how often free disk space and log sizes are checked")

	// Group commit.
	fs.IntVar(&c.MaxBatchCmds, "max-batch-cmds", c.MaxBatchCmds, "most client commands packed into one raft entry")
	fs.IntVar(&c.MaxBatchBytes, "max-batch-bytes", c.MaxBatchBytes, "largest raft entry made by packing client commands, in bytes (>= 65536)")
	fs.IntVar(&c.MaxInflightApplies, "max-inflight-applies", c.MaxInflightApplies, "raft entries proposed but not yet committed per group")
	fs.IntVar(&c.PipelinedEntries, "pipelined-entries", c.PipelinedEntries, "raft entries a group proposes at once before the next one waits to fill: 1 the fewest fsyncs per write, 2 lower latency where CPU is spare and disks slow")
	durationVar(fs, &c.BatchLinger, "batch-linger", "longest a write waits for the writers the last raft entry answered, so that they share the next entry (at most half the last entry's commit time; 0: off)")

	// Resource limits: no client can exhaust the node (docs/SECURITY.md).
	fs.IntVar(&c.RESP.MaxConns, "max-clients", c.RESP.MaxConns, "most open client connections; one more is answered BUSY and closed")
	durationVar(fs, &c.RESP.IdleTimeout, "client-idle-timeout", "close a client connection that sends nothing for this long with no request in flight (0: never)")
	fs.IntVar(&c.RESP.MaxInflight, "max-inflight-per-conn", c.RESP.MaxInflight, "most requests of one client connection in flight; beyond it the node stops reading that connection")
	fs.IntVar(&c.RESP.MaxRunning, "max-running", c.RESP.MaxRunning, "most client requests executing at once on this node; one more is answered BUSY")
	byteSizeVar(fs, &c.MaxMemory, "max-memory", "quota for the sessions, tombstones and dedup entries this node holds (e.g. 2gb); above it writes that add data get OOM (0: no quota)")
	fs.IntVar(&c.GCHeadroomPercent, "gc-headroom", c.GCHeadroomPercent, "garbage collector headroom over the live heap, in percent (at least --gc-headroom-min): bounds RSS to about the state plus this; 0 leaves Go's GOGC pacing alone, as does GOMEMLIMIT")
	byteSizeVar(fs, &c.GCHeadroomMin, "gc-headroom-min", "smallest garbage collector headroom over the live heap (e.g. 64mb)")
	// Membership (sessionraft member; docs/OPERATIONS.md).
	durationVar(fs, &c.PromoteStableFor, "promote-stable-for", "how long a server added with member add must stay caught up and healthy before it becomes a voter")
	fs.Uint64Var(&c.PromoteMaxLag, "promote-max-lag", c.PromoteMaxLag, "log entries a non-voter may lag behind its group leader and still count as caught up")
	durationVar(fs, &c.DeadServerCleanup, "dead-server-cleanup", "remove a voter that gossip has reported failed for this long (0: never; at most one at a time, and only while --min-voters remain)")
	fs.IntVar(&c.MinVoters, "min-voters", c.MinVoters, "voters a group must keep after a dead-server cleanup removal")

	// Logging.
	fs.StringVar(&o.logLevel, "log-level", o.logLevel, "log level: debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", o.logFormat, "log format: text or json")

	// Client port security (security.go, docs/SECURITY.md).
	o.addSecurityFlags(fs)

	fs.StringVar(&o.pprofAddr, "pprof-addr", o.pprofAddr, "serve net/http/pprof on this loopback address (host:port); off when empty")

	// Observability: the admin HTTP port and library log levels.
	fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "admin HTTP address: Prometheus /metrics, /health, /ready and a live status page at /; off when empty")
	fs.StringVar(&o.raftLogLevel, "raft-log-level", o.raftLogLevel, "least level of raft's and memberlist's own log records: debug, info, warn or error")
	// Internal-port TLS and gossip encryption (docs/SECURITY.md).
	fs.StringVar(&c.TLSCA, "tls-ca", c.TLSCA, "internal port: PEM bundle of the cluster CA; with --tls-cert and --tls-key the internal port is mutual TLS only")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "internal port: this node's PEM certificate, naming --id (sessionraft certs node); reloaded on SIGHUP")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "internal port: the PEM private key of --tls-cert; reloaded on SIGHUP")
	fs.IntVar(&c.MaxInternalConns, "max-internal-conns", c.MaxInternalConns, "most inbound internal-port connections open at once (0: 1024)")
	// TLS handshake admission, each TLS port on its own (docs/SECURITY.md, Limits).
	fs.IntVar(&c.Handshakes.MaxHandshakes, "max-handshakes", c.Handshakes.MaxHandshakes, "most TLS handshakes running at once per port (0: 256)")
	fs.IntVar(&c.Handshakes.MaxHandshakesPerIP, "max-handshakes-per-ip", c.Handshakes.MaxHandshakesPerIP, "most TLS handshakes running at once per port from one IPv4 address or IPv6 /64 (0: 32)")
	fs.Float64Var(&c.Handshakes.RatePerIP, "conn-rate-per-ip", c.Handshakes.RatePerIP, "new TLS connections per second one source may open per port, on average (0: 50; negative: no limit)")
	fs.IntVar(&c.Handshakes.BurstPerIP, "conn-burst-per-ip", c.Handshakes.BurstPerIP, "new TLS connections one source may open at once per port (0: 200)")
	fs.DurationVar(&c.Handshakes.HandshakeTimeout, "handshake-timeout", c.Handshakes.HandshakeTimeout, "client port: time a TLS handshake may take (0: 10s; the internal port uses 5s)")
	fs.StringVar(&c.GossipKey, "gossip-key", c.GossipKey, "base64 AES key (16, 24 or 32 bytes) encrypting gossip (sessionraft gossip-keys generate); better set as SESSIONRAFT_GOSSIP_KEY")
	fs.StringVar(&c.GossipKeyringFile, "gossip-keyring-file", c.GossipKeyringFile, "gossip keyring kept across restarts and rotations (default with --gossip-key: <data-dir>/gossip.keyring)")

	fs.BoolVar(&c.TestMode, "test-mode", c.TestMode, "enable fault-injection hooks (never in production)")
	_ = fs.MarkHidden("test-mode")
}

// config returns the node configuration from the parsed flags (and the
// environment, applied before), with a logger writing to logOut.
func (o *serverOptions) config(logOut io.Writer) (node.Config, error) {
	cfg := o.cfg
	cfg.Join = splitList(cfg.Join)
	// A slice, not a map: the first bad flag reported is always the same.
	for _, l := range []struct {
		name string
		v    int64
	}{
		{"max-value-bytes", o.limits.maxValueBytes}, {"max-record-bytes", o.limits.maxRecordBytes},
		{"max-fields", o.limits.maxFields}, {"max-id-len", o.limits.maxIDLen},
		{"max-subject-len", o.limits.maxSubjectLen}, {"max-field-name-len", o.limits.maxFieldNameLen},
		{"max-reqid-len", o.limits.maxReqIDLen},
	} {
		if l.v < 0 {
			return cfg, fmt.Errorf("--%s must not be negative", l.name)
		}
	}
	limitsFromFlags(&cfg, o.limits)
	logger, err := newLogger(logOut, o.logLevel, o.logFormat)
	if err != nil {
		return cfg, err
	}
	cfg.Logger = logger
	if err := o.securityConfig(&cfg); err != nil {
		return cfg, err
	}
	if err := o.observability(&cfg); err != nil {
		return cfg, err
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(format) {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
}

// runServer runs one node until SIGINT/SIGTERM or until it stops by itself.
func runServer(ctx context.Context, cfg node.Config, reloads []reloadable) error {
	log := cfg.Logger
	sigCtx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// SIGHUP reloads certificates and the ACL file (a bad file keeps the
	// previous one in use); caught from here on, so one during start-up is
	// handled once the node runs rather than killing it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	n, err := node.Start(sigCtx, cfg)
	if err == nil {
		installRaftSink(n, log)
	}
	if err != nil && sigCtx.Err() != nil && ctx.Err() == nil {
		// SIGINT/SIGTERM during start-up: Start closed what it had opened;
		// stopping on request is a clean exit, as after start-up.
		log.Info("start-up interrupted by a signal; stopped")
		return nil
	}
	if err != nil {
		log.Error("node failed to start", "err", err)
		return fmt.Errorf("start node %s: %w", cfg.ID, err)
	}
	log.Info("sessionraft node running", "id", cfg.ID, "client_addr", n.ClientAddr(),
		"raft_addr", cfg.RaftAddr, "gossip_addr", cfg.GossipAddr, "join", cfg.Join,
		"bootstrap_expect", cfg.BootstrapExpect, "data_dir", cfg.DataDir)

	if cfg.TLSCert != "" {
		reloads = append(reloads, reloadable{"internal port TLS " + cfg.TLSCert, n.ReloadTLS})
	}
	if cfg.ACLFile != "" {
		reloads = append(reloads, reloadable{"ACL file " + cfg.ACLFile, n.ReloadACL})
	}
wait:
	for {
		select {
		case <-hup:
			reloadAll(log, reloads)
		case <-sigCtx.Done():
			log.Info("shutting down (signal again to exit at once)")
			break wait
		case <-n.Done():
			log.Warn("node stopped by itself")
			break wait
		}
	}
	stop() // from here a second SIGINT/SIGTERM kills the process
	if sigCtx.Err() != nil && ctx.Err() == nil {
		// Graceful: hand leaderships over and finish the requests in
		// flight first (node.Drain), so clients see no error.
		dctx, cancel := context.WithTimeout(ctx, cfg.RequestTimeout+3*cfg.ElectionTimeout)
		n.Drain(dctx)
		cancel()
	}
	if err := n.Close(); err != nil {
		log.Warn("unclean shutdown", "err", err)
	}
	if err := n.Err(); err != nil {
		log.Error("node stopped with an error", "err", err)
		return withExitStatus(fmt.Errorf("node %s: %w", cfg.ID, err))
	}
	log.Info("node stopped")
	return nil
}
