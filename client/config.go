package client

import (
	"crypto/tls"
	"log/slog"
	"strconv"
	"time"

	"github.com/sessionraft/sessionraft/transport/wire"
)

// Consistency is the level of a read. Writes are always linearizable.
type Consistency string

// Consistency levels, as spelled on the wire.
const (
	// Linearizable reads see every write acknowledged before they started.
	// A client sends them to its home replica of the group, as stale
	// reads, which serves them at a read index from the leader
	// (Config.LinearizableReadsToLeader).
	Linearizable Consistency = wire.Linearizable
	// Leader reads are served from the leader's local state without a
	// quorum round: cheaper, but a deposed leader can serve stale data for
	// up to its leader lease during a partition.
	Leader Consistency = wire.Leader
	// Stale reads are served by any replica of the group whose applied
	// state is younger than the staleness bound, measured by the log clock
	// (the leader's time stamped on the newest entry the replica applied);
	// a replica that lags refuses, and the client asks another. A client
	// sends a group's stale reads to one replica of its own choosing
	// (Config.SpreadStaleReads).
	Stale Consistency = wire.Stale
)

func (c Consistency) valid() bool { return wire.ValidConsistency(string(c)) }

// Config configures New. Zero values take the documented defaults.
type Config struct {
	// Seeds are client (RESP) addresses of any cluster nodes. The client
	// learns the rest of the cluster from the first that answers; any of
	// them may be down or wrong.
	Seeds []string
	// DefaultConsistency is the read level when a call does not choose one
	// with WithConsistency. Default Linearizable.
	DefaultConsistency Consistency
	// MaxStaleness bounds Stale reads when a call does not set
	// WithMaxStaleness. Zero leaves it to the server's --max-staleness
	// (2s by default).
	MaxStaleness time.Duration
	// SpreadStaleReads sends each stale read to the next of its group's
	// replicas in turn. By default a client sends a group's stale reads to
	// one replica, chosen by a random seed of its own when it is made, and
	// the next one only when that replica is down or refuses the read as
	// too stale: the requests of all its goroutines then share a
	// connection and reach the node in large pipelined batches, which cost
	// the node about a third of the CPU per read that batches of one or
	// two do (docs/benchmarks.md, "Stale reads from one replica"). A
	// replica that refuses a stale read as too stale goes last for a
	// second, or until it serves one again. Many clients spread over the
	// nodes by their own choices, but few do so unevenly (three clients
	// land on three different nodes of three only 2 times in 9): set this
	// when a few client processes' stale reads must load every node.
	SpreadStaleReads bool
	// LinearizableReadsToLeader sends linearizable reads to the group's
	// leader. By default they go to the client's home replica of the
	// group, as stale reads do (round-robin over its replicas with
	// SpreadStaleReads), and a replica that does not lead the group
	// answers at a read index it asks the leader for, one request per
	// batch of reads: a node then gets this client's reads for every
	// group in large pipelined batches, at about half the servers' CPU
	// per read of sending each to its leader (docs/benchmarks.md). For a
	// group this client wrote to in the last 50 ms, reads go to the
	// leader anyway: a replica learns of a commit with the leader's next
	// message (within about 2 x the servers' CommitTimeout when the group
	// is idle), and a read right after a write would wait that long for
	// it there. Set this when a few client processes must not all read
	// through one node.
	LinearizableReadsToLeader bool
	// SpreadCreates sends each new session to a group led by the next
	// node, round-robin. By default a client sends all its new sessions to
	// one group for 20 ms at a time, then to a group led by the next node:
	// a group's commit round (an fdatasync on each replica, two
	// AppendEntries round trips) then carries all of this client's creates
	// in flight instead of a third of them, at about 40% less server CPU
	// per create with three groups (docs/benchmarks.md). Over a few slices
	// the client's sessions spread evenly over the groups, and clients,
	// each starting its slices at its own phase, over the leaders. Set
	// this when a single client process's creates must load every leader
	// at every moment.
	SpreadCreates bool
	// DialTimeout bounds connecting to one node. Default 2s.
	DialTimeout time.Duration
	// RequestTimeout bounds one call, retries included, when its context
	// has no deadline. Default 5s.
	RequestTimeout time.Duration
	// RefreshInterval is how often the client re-reads the cluster
	// topology. It also refreshes at once when a node is unreachable or
	// answers NOTLEADER/UNAVAILABLE. Default 5s.
	RefreshInterval time.Duration
	// TopologyWait is how long each of the client's topology long polls
	// waits on a node (TOPOLOGY WAIT, client/topowatch.go). The client
	// keeps one pending, on one node, and refreshes the topology as soon
	// as that node reports a change (a leader moved, a member joined,
	// left or changed address) rather than at the next RefreshInterval.
	// Default 30s, at most 5m; negative turns the watch off. A server
	// without WAIT is asked again a minute later.
	TopologyWait time.Duration
	// MaxFlushDelay lets each connection wait up to this long before it
	// writes, so that requests from many goroutines leave in one write.
	// Zero (the default) writes at once. With 64 goroutines sharing a
	// connection, 20µs cut the client's write syscalls per request about
	// threefold; with 4-8 goroutines it made calls about 25% slower, since
	// the wait is rarely filled. Even at 64 goroutines it did not raise
	// read throughput against a 3-node dev cluster (docs/benchmarks.md):
	// measure before setting it. (rueidis's MaxFlushDelay.)
	MaxFlushDelay time.Duration
	// TLS, when set, is used for every connection (client port TLS:
	// docs/SECURITY.md). An empty ServerName is taken from each node's
	// address, so node certificates need the addresses clients dial.
	TLS *tls.Config
	// Username and Password authenticate every connection the client
	// opens (AUTH, or HELLO 3 AUTH for the cache; Username empty: the default user, as for
	// --requirepass). Refused credentials fail New with ErrAuth.
	Username, Password string
	// Logger receives topology changes (debug) and refresh failures
	// (warn). Default: discard.
	Logger *slog.Logger

	// Client-side caching of session reads (cache.go). CacheSize > 0
	// makes a cache of up to that many sessions, kept honest by the
	// server's invalidations on a tracking connection; a Get uses it when
	// called WithCache, or always with CacheReads (unless WithoutCache).
	// Only linearizable Gets are cached. A cached read does not count as
	// an access for the idle timeout (the read that filled the cache
	// did), and the *Session it returns is shared: do not modify it.
	// CacheLease bounds how long the cache is trusted without hearing
	// from the tracking connection (default 500ms): a destroyed session
	// leaves every cache within the server's TrackingMaxStaleness plus
	// CacheLease, even when a node is cut off or paused
	// (docs/ARCHITECTURE.md).
	CacheSize  int
	CacheReads bool
	CacheLease time.Duration

	// hooks are test-only observers; nil in production.
	hooks *hooks
}

// hooks let the package's tests observe routing without a server-side
// metric.
type hooks struct {
	// served is called after a successful reply with the operation and the
	// address of the node that answered.
	served func(op, addr string)
	// refused is called when a replica refuses a stale read as too stale.
	refused func(op, addr string)
	// watched is called when the topology watch saw addr's epoch move.
	watched func(addr string)
}

// Defaults applied by New.
const (
	defaultDialTimeout     = 2 * time.Second
	defaultRequestTimeout  = 5 * time.Second
	defaultRefreshInterval = 5 * time.Second
	defaultTopologyWait    = 30 * time.Second
	maxTopologyWait        = 5 * time.Minute // the server's bound
	defaultCacheLease      = 500 * time.Millisecond
)

// withDefaults validates cfg and fills in zero fields.
func (cfg Config) withDefaults() (Config, error) {
	if len(cfg.Seeds) == 0 {
		return cfg, invalidf("Config.Seeds is empty: give the client address of at least one node")
	}
	seen := map[string]bool{}
	seeds := make([]string, 0, len(cfg.Seeds))
	for _, s := range cfg.Seeds {
		if s != "" && !seen[s] {
			seen[s] = true
			seeds = append(seeds, s)
		}
	}
	if len(seeds) == 0 {
		return cfg, invalidf("Config.Seeds has only empty addresses")
	}
	cfg.Seeds = seeds
	if cfg.DefaultConsistency == "" {
		cfg.DefaultConsistency = Linearizable
	}
	if !cfg.DefaultConsistency.valid() {
		return cfg, invalidf("Config.DefaultConsistency %q: want linearizable, leader or stale", cfg.DefaultConsistency)
	}
	switch {
	case cfg.TopologyWait == 0:
		cfg.TopologyWait = defaultTopologyWait
	case cfg.TopologyWait > 0 && (cfg.TopologyWait < time.Second || cfg.TopologyWait > maxTopologyWait):
		return cfg, invalidf("Config.TopologyWait %v: want 1s to %v, or negative for no watch", cfg.TopologyWait, maxTopologyWait)
	}
	for _, d := range []struct {
		name string
		p    *time.Duration
		def  time.Duration
	}{
		{"MaxStaleness", &cfg.MaxStaleness, 0},
		{"DialTimeout", &cfg.DialTimeout, defaultDialTimeout},
		{"RequestTimeout", &cfg.RequestTimeout, defaultRequestTimeout},
		{"RefreshInterval", &cfg.RefreshInterval, defaultRefreshInterval},
	} {
		if *d.p < 0 {
			return cfg, invalidf("Config.%s is negative (%v)", d.name, *d.p)
		}
		if *d.p == 0 {
			*d.p = d.def
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.CacheSize < 0:
		return cfg, invalidf("Config.CacheSize is negative (%d)", cfg.CacheSize)
	case cfg.CacheLease < 0:
		return cfg, invalidf("Config.CacheLease is negative (%v)", cfg.CacheLease)
	case cfg.CacheReads && cfg.CacheSize == 0:
		return cfg, invalidf("Config.CacheReads needs a cache: set Config.CacheSize")
	case cfg.CacheLease == 0:
		cfg.CacheLease = defaultCacheLease
	}
	return cfg, nil
}

// wireDuration formats d the way the server parses durations: whole
// milliseconds when exact (the common case, and short), else nanoseconds.
func wireDuration(d time.Duration) string {
	// strconv, not fmt: stale reads send this on every call.
	if d%time.Millisecond == 0 {
		return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
	}
	return strconv.FormatInt(int64(d), 10) + "ns"
}
