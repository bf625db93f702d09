package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
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

	// MaxStaleness is the default bound for stale reads: a replica refuses
	// one when its applied state is older than this by the log clock (the
	// leader's time stamped on the newest applied entry; see staleCheck).
	// Hearing from the leader is not enough: a replica whose replication
	// is stalled still gets heartbeats. An idle group's leader proposes an
	// empty entry every MaxStaleness/4 so the clock keeps moving.
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

	// Raft timing. Defaults suit loopback and LAN clusters. Validate
	// requires LeaderLeaseTimeout <= HeartbeatTimeout <= ElectionTimeout
	// and MaxStaleness > 4 × CommitTimeout.
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

	// NotifyKeyspaceEvents is the initial notify-keyspace-events value,
	// Redis's flags (K E g $ l s h z x e t m d n A; "" = off). CONFIG SET
	// changes it per node at run time (keyspace.go).
	NotifyKeyspaceEvents string

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

// Validate reports every problem with c, or nil. The problems are joined
// with errors.Join in a fixed order, so the same configuration always gets
// the same message: first each field on its own, in declaration order, then
// the relations between fields. A relation is checked only when the fields
// it relates passed on their own, so one bad value is reported once.
// Start calls Validate before it touches the disk or opens a port.
func (c *Config) Validate() error {
	var v validator
	v.check(c.ID != "", "ID is required")
	v.check(c.DataDir != "", "DataDir is required")

	listen := []struct {
		name, addr, advName, adv string
	}{
		{"ClientAddr", c.ClientAddr, "AdvertiseClient", c.AdvertiseClient},
		{"RaftAddr", c.RaftAddr, "AdvertiseRaft", c.AdvertiseRaft},
		{"GossipAddr", c.GossipAddr, "AdvertiseGossip", c.AdvertiseGossip},
	}
	listenOK := make([]bool, len(listen))
	for i, a := range listen {
		if err := checkHostPort(a.addr); err != nil {
			v.addf("%s %q: %v", a.name, a.addr, err)
		} else {
			listenOK[i] = true
		}
	}
	for _, a := range listen {
		if a.adv == "" {
			continue
		}
		// An advertised address is dialled by others as is: a wildcard
		// host or port 0 cannot be dialled.
		if err := checkHostPort(a.adv); err != nil {
			v.addf("%s %q: %v", a.advName, a.adv, err)
		} else if host, port, _ := net.SplitHostPort(a.adv); isWildcard(host) || strings.Trim(port, "0") == "" {
			v.addf("%s %q: must name a host and port others can dial", a.advName, a.adv)
		}
	}

	v.check(c.BootstrapExpect >= 0, "BootstrapExpect must be >= 0")
	v.check(c.Groups >= 0 && c.Groups <= maxGroups, "Groups must be in 0..%d", maxGroups)
	if err := c.Limits.Validate(); err != nil {
		v.add(err)
	}
	if _, err := parseNotifyFlags(c.NotifyKeyspaceEvents); err != nil {
		v.addf("NotifyKeyspaceEvents %q: invalid flags (use letters of %q)", c.NotifyKeyspaceEvents, notifyClasses)
	}

	durations := []struct {
		name string
		d    time.Duration
		min  time.Duration
	}{
		{"MaxStaleness", c.MaxStaleness, 1},
		{"RequestTimeout", c.RequestTimeout, 1},
		{"SweepInterval", c.SweepInterval, 1},
		{"TouchInterval", c.TouchInterval, 1},
		{"BalanceInterval", c.BalanceInterval, 1},
		// hashicorp/raft's own minimums (raft.ValidateConfig): checked
		// here so a bad value fails before any port or file is opened,
		// not when the first group starts.
		{"HeartbeatTimeout", c.HeartbeatTimeout, 5 * time.Millisecond},
		{"ElectionTimeout", c.ElectionTimeout, 5 * time.Millisecond},
		{"LeaderLeaseTimeout", c.LeaderLeaseTimeout, 5 * time.Millisecond},
		{"CommitTimeout", c.CommitTimeout, time.Millisecond},
		{"SnapshotInterval", c.SnapshotInterval, 5 * time.Millisecond},
	}
	durOK := make(map[string]bool, len(durations)) // looked up only, never ranged over
	for _, f := range durations {
		switch {
		case f.min == 1 && f.d <= 0:
			v.addf("%s must be > 0", f.name)
		case f.d < f.min:
			v.addf("%s must be at least %v (got %v)", f.name, f.min, f.d)
		default:
			durOK[f.name] = true
		}
	}
	v.check(c.MaxBatchCmds >= 1, "MaxBatchCmds must be >= 1")
	v.check(c.MaxBatchBytes >= minBatchBytes, "MaxBatchBytes must be at least %d (64 KiB)", minBatchBytes)
	v.check(c.MaxInflightApplies >= 1, "MaxInflightApplies must be >= 1")

	// Relations between fields.

	// The three ports must not collide: memberlist binds GossipAddr on TCP
	// as well as UDP. Port 0 asks the kernel for a free port, so two port-0
	// addresses never collide.
	for i := range listen {
		for j := i + 1; j < len(listen); j++ {
			if listenOK[i] && listenOK[j] && sameListenAddr(listen[i].addr, listen[j].addr) {
				v.addf("%s and %s must differ (both %q)", listen[i].name, listen[j].name, listen[j].addr)
			}
		}
	}
	// A node tells its peers its raft address; a wildcard one would make
	// every peer dial itself. A lone node (bootstrapping alone, joining
	// nobody) has no peers to mislead.
	if host, _, err := net.SplitHostPort(c.RaftAddr); err == nil && isWildcard(host) {
		alone := c.BootstrapExpect == 1 && len(c.Join) == 0
		v.check(c.AdvertiseRaft != "" || alone,
			"RaftAddr %q listens on every interface: set AdvertiseRaft to the address peers dial", c.RaftAddr)
	}
	v.check(c.Groups != 0 || c.BootstrapExpect != 0, "Groups must be set when BootstrapExpect is 0")

	// The client port must accept every request the record limits allow:
	// otherwise a value the state machine accepts is refused as a protocol
	// error, which closes the connection. Zero limits mean their defaults.
	fl, rl := c.Limits, c.RESP.Limits
	fdef, rdef := fsm.DefaultLimits(), resp.DefaultLimits()
	if maxValue, maxBulk := positiveOr(fl.MaxValueBytes, fdef.MaxValueBytes), positiveOr(rl.MaxBulkLen, rdef.MaxBulkLen); maxValue > maxBulk {
		v.addf("Limits.MaxValueBytes (%d) must not exceed RESP.Limits.MaxBulkLen (%d)", maxValue, maxBulk)
	}
	if maxRecord, maxTotal := positiveOr(fl.MaxRecordBytes, fdef.MaxRecordBytes), positiveOr(rl.MaxTotalLen, rdef.MaxTotalLen); maxRecord > maxTotal {
		v.addf("Limits.MaxRecordBytes (%d) must not exceed RESP.Limits.MaxTotalLen (%d)", maxRecord, maxTotal)
	}

	// hashicorp/raft requires LeaderLeaseTimeout <= HeartbeatTimeout <=
	// ElectionTimeout: a leader must step down (lease) before a follower
	// may start an election (heartbeat timeout), or two leaders could
	// both serve leader reads.
	if durOK["LeaderLeaseTimeout"] && durOK["HeartbeatTimeout"] {
		v.check(c.LeaderLeaseTimeout <= c.HeartbeatTimeout,
			"LeaderLeaseTimeout (%v) must not exceed HeartbeatTimeout (%v)", c.LeaderLeaseTimeout, c.HeartbeatTimeout)
	}
	if durOK["HeartbeatTimeout"] && durOK["ElectionTimeout"] {
		v.check(c.HeartbeatTimeout <= c.ElectionTimeout,
			"HeartbeatTimeout (%v) must not exceed ElectionTimeout (%v)", c.HeartbeatTimeout, c.ElectionTimeout)
	}
	// Stale reads measure the age of applied state by the log clock. An
	// idle group's leader stamps a new entry once the clock is
	// MaxStaleness/4 old, checked every MaxStaleness/4, so the clock can
	// reach MaxStaleness/2 before an entry is proposed; a follower learns
	// that the entry committed on the leader's next AppendEntries, up to
	// 2 × CommitTimeout later. MaxStaleness > 4 × CommitTimeout keeps a
	// follower that keeps up under the bound (with MaxStaleness/2 -
	// 2 × CommitTimeout left for round trips and clock skew); a smaller
	// bound would refuse stale reads on a healthy idle cluster.
	if durOK["MaxStaleness"] && durOK["CommitTimeout"] {
		v.check(c.MaxStaleness > 4*c.CommitTimeout,
			"MaxStaleness (%v) must be more than four times CommitTimeout (%v), or replicas of an idle group refuse stale reads", c.MaxStaleness, c.CommitTimeout)
	}
	return v.err()
}

// maxGroups bounds Config.Groups.
const maxGroups = 1024

// minBatchBytes is the least Config.MaxBatchBytes.
const minBatchBytes = 64 << 10

// validator collects configuration problems in the order they are found.
type validator struct{ errs []error }

func (v *validator) add(err error) { v.errs = append(v.errs, err) }

func (v *validator) addf(format string, args ...any) { v.add(fmt.Errorf(format, args...)) }

// check records the problem described by format and args unless ok.
func (v *validator) check(ok bool, format string, args ...any) {
	if !ok {
		v.addf(format, args...)
	}
}

func (v *validator) err() error { return errors.Join(v.errs...) }

// checkHostPort accepts host:port with a numeric port in 0..65535; the host
// may be empty (every interface).
func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q is not a number in 0..65535", port)
	}
	return nil
}

// isWildcard reports whether host binds every interface.
func isWildcard(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

// sameListenAddr reports whether listening on a and b (valid host:port)
// would collide: the same non-zero port on the same host, or on any host
// when either binds every interface.
func sameListenAddr(a, b string) bool {
	ha, pa, _ := net.SplitHostPort(a)
	hb, pb, _ := net.SplitHostPort(b)
	na, _ := strconv.Atoi(pa)
	nb, _ := strconv.Atoi(pb)
	if na == 0 || na != nb {
		return false
	}
	if isWildcard(ha) || isWildcard(hb) || strings.EqualFold(ha, hb) {
		return true
	}
	ia, ib := net.ParseIP(ha), net.ParseIP(hb)
	return ia != nil && ib != nil && ia.Equal(ib)
}

// positiveOr returns v, or def when v is not positive (how fsm.Limits and
// resp.Limits read zero fields).
func positiveOr(v, def int) int {
	if v > 0 {
		return v
	}
	return def
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
