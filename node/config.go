package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/transport/resp"
)

// Config configures one server process. Start from DefaultConfig and call
// Validate (Start calls it too).
type Config struct {
	// ID names this node in every raft group and in memberlist. It must be
	// unique in the cluster and stable across restarts.
	ID string
	// DataDir holds one subdirectory per raft group: <DataDir>/<group>/.
	DataDir string

	// ClientAddr is the RESP listen address (host:port).
	ClientAddr string
	// RaftAddr is the internal port: raft traffic for every group plus the
	// forwarding RPC, multiplexed.
	RaftAddr string
	// GossipAddr is memberlist's UDP+TCP address.
	GossipAddr string
	// Advertise* override the addresses other nodes and clients are told,
	// when the listen address is a wildcard. Empty means the listen address.
	AdvertiseClient, AdvertiseRaft, AdvertiseGossip string

	// Join lists gossip addresses of existing members to join at start.
	Join []string
	// BootstrapExpect, when > 0, bootstraps every group once exactly this
	// many servers are seen through memberlist and none has raft state.
	BootstrapExpect int
	// Groups is the number of raft groups G. 0 means "as many as
	// BootstrapExpect" (the default: one group led by each node).
	Groups int

	// Limits bounds record sizes; see fsm.DefaultLimits.
	Limits fsm.Limits
	// RESP configures the client port's protocol limits and connection caps.
	RESP resp.ServerConfig

	// MaxStaleness is the default bound for stale reads: a replica that has
	// not heard from its leader (or not caught up) within it refuses them.
	MaxStaleness time.Duration
	// RequestTimeout bounds each client request (forwarding retries included).
	RequestTimeout time.Duration
	// SweepInterval is how often each group leader looks for expired records.
	SweepInterval time.Duration
	// TouchInterval is how often buffered idle-timeout accesses are flushed
	// to the group leaders. It is the precision of idle expiry.
	TouchInterval time.Duration
	// BalanceInterval is how often a group leader checks leadership balance.
	BalanceInterval time.Duration

	// Raft timing. Defaults suit loopback and LAN clusters.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	SnapshotInterval   time.Duration
	SnapshotThreshold  uint64
	TrailingLogs       uint64
	// NoSync disables fsync of the raft log (tests only; loses durability).
	NoSync bool

	// MaxBatchCmds and MaxBatchBytes bound one group-commit raft entry.
	MaxBatchCmds  int
	MaxBatchBytes int
	// MaxInflightApplies bounds raft entries proposed but not yet committed
	// per group; more requests queue into the next batch meanwhile.
	MaxInflightApplies int

	// TestMode enables fault-injection hooks. Never set in production.
	TestMode bool

	Logger *slog.Logger
}

// DefaultConfig returns a configuration for a single local node; callers set
// at least ID, DataDir and the addresses.
func DefaultConfig() Config {
	return Config{
		ClientAddr:         "127.0.0.1:7001",
		RaftAddr:           "127.0.0.1:7101",
		GossipAddr:         "127.0.0.1:7201",
		Limits:             fsm.DefaultLimits(),
		RESP:               resp.DefaultServerConfig(),
		MaxStaleness:       2 * time.Second,
		RequestTimeout:     5 * time.Second,
		SweepInterval:      100 * time.Millisecond,
		TouchInterval:      500 * time.Millisecond,
		BalanceInterval:    5 * time.Second,
		HeartbeatTimeout:   1000 * time.Millisecond,
		ElectionTimeout:    1000 * time.Millisecond,
		LeaderLeaseTimeout: 500 * time.Millisecond,
		CommitTimeout:      5 * time.Millisecond,
		SnapshotInterval:   30 * time.Second,
		SnapshotThreshold:  16384,
		TrailingLogs:       10240,
		MaxBatchCmds:       2048,
		MaxBatchBytes:      8 << 20,
		MaxInflightApplies: 32,
	}
}

// Validate reports the first problem with c, or nil.
func (c *Config) Validate() error {
	var errs []error
	if c.ID == "" {
		errs = append(errs, errors.New("node: ID is required"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("node: DataDir is required"))
	}
	for name, a := range map[string]string{"ClientAddr": c.ClientAddr, "RaftAddr": c.RaftAddr, "GossipAddr": c.GossipAddr} {
		if _, _, err := net.SplitHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("node: %s %q: %w", name, a, err))
		}
	}
	if c.BootstrapExpect < 0 {
		errs = append(errs, errors.New("node: BootstrapExpect must be >= 0"))
	}
	if c.Groups < 0 || c.Groups > 1024 {
		errs = append(errs, errors.New("node: Groups must be in 0..1024"))
	}
	if c.Groups == 0 && c.BootstrapExpect == 0 {
		errs = append(errs, errors.New("node: Groups must be set when BootstrapExpect is 0"))
	}
	if err := c.Limits.Validate(); err != nil {
		errs = append(errs, err)
	}
	positive := map[string]time.Duration{
		"MaxStaleness": c.MaxStaleness, "RequestTimeout": c.RequestTimeout,
		"SweepInterval": c.SweepInterval, "TouchInterval": c.TouchInterval,
		"BalanceInterval": c.BalanceInterval, "HeartbeatTimeout": c.HeartbeatTimeout,
		"ElectionTimeout": c.ElectionTimeout, "LeaderLeaseTimeout": c.LeaderLeaseTimeout,
		"CommitTimeout": c.CommitTimeout, "SnapshotInterval": c.SnapshotInterval,
	}
	for name, d := range positive {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("node: %s must be > 0", name))
		}
	}
	if c.MaxBatchCmds < 1 || c.MaxBatchBytes < 1<<16 || c.MaxInflightApplies < 1 {
		errs = append(errs, errors.New("node: MaxBatchCmds, MaxBatchBytes (>= 64 KiB) and MaxInflightApplies must be positive"))
	}
	return errors.Join(errs...)
}

// groupCount is the effective number of raft groups.
func (c *Config) groupCount() int {
	if c.Groups > 0 {
		return c.Groups
	}
	return c.BootstrapExpect
}

func orDefault(s, def string) string {
	if s != "" {
		return s
	}
	return def
}
