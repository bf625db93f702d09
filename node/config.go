package node

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/transport/admit"
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
	// RaftTransport is what raft RPCs are sent with: RaftTransportBinary
	// ("mux-binary", the default: transport/raftnet) or
	// RaftTransportMsgpack ("net-msgpack": raft's own transport). Both
	// are always accepted; see rafttransport.go for the upgrade order.
	RaftTransport string
	// RaftPipeline is how many AppendEntries a mux-binary leader keeps in
	// flight per follower. 1 (the default) is no pipelining: the next
	// append waits for the answer and carries everything appended
	// meanwhile, which on a CPU-bound node costs less per write than more,
	// smaller appends (docs/benchmarks.md, "Raft transport").
	RaftPipeline int

	// The disk budget (disk.go). Below MinFreeDisk bytes free under
	// DataDir, or MinFreeDiskPercent of its file system (the larger), the
	// node raises a disk alarm and the cluster refuses new writes with
	// DISKFULL until space returns; both 0 turn the guard off.
	// DiskCheckInterval is how often free space and log sizes are read.
	// MaxLogBytes (0: off) bounds a group's raft log: above it the group
	// snapshots and keeps fewer trailing entries.
	MinFreeDisk        uint64
	MinFreeDiskPercent float64
	DiskCheckInterval  time.Duration
	MaxLogBytes        int64
	// SnapshotLogBytes (0: off) makes a group snapshot once the entries it
	// applied since the last snapshot are larger than this and than half
	// that snapshot; TrailingLogBytes (0: off) bounds the entries kept
	// after a snapshot, beside TrailingLogs. Both are checked every
	// DiskCheckInterval (logsize.go).
	SnapshotLogBytes int64
	TrailingLogBytes int64

	// MaxBatchCmds and MaxBatchBytes bound one group-commit raft entry.
	MaxBatchCmds  int
	MaxBatchBytes int
	// MaxInflightApplies bounds raft entries proposed but not yet committed
	// per group; more requests queue into the next batch meanwhile.
	MaxInflightApplies int
	// PipelinedEntries is how many entries the batcher keeps in flight
	// before the next one waits to fill (write.go); only a full batch goes
	// beside them. 1 (the default) sends a group's next entry once the
	// last has committed and been applied on the leader: the fewest
	// fdatasyncs and AppendEntries per command. 2 lets the leader write an
	// entry to its log while the followers store the one before, which
	// lowers latency where the disks are slow and CPU is spare, at about
	// twice the per-entry work under load (docs/benchmarks.md, "One entry
	// in flight").
	PipelinedEntries int
	// BatchLinger is the longest the batcher holds a command that found a
	// free slot, waiting for the writers the last entry answered to send
	// their next commands (batchlinger.go). It never holds one longer than
	// half the last entry's commit time, nor after a quiet spell, nor for
	// a lone writer whose command was alone in the last entry. Under
	// steady load it lets the writers share one commit round instead of
	// taking turns in two. 0 turns it off.
	BatchLinger time.Duration

	// Client port security (auth.go). ClientTLS, when set, serves the
	// client port over TLS only (a plaintext client fails the handshake);
	// its GetConfigForClient may return a new config per handshake, which
	// is how certificates are reloaded without a restart. RequirePass
	// gives the default user a password, as Redis's requirepass does.
	// ACLFile names an ACL file in Redis's syntax (node/acl), read at start
	// and again by ACL LOAD and ReloadACL.
	ClientTLS   *tls.Config
	RequirePass string
	ACLFile     string
	// HTTPAddr, when set, is the admin HTTP port: /metrics, /health,
	// /ready and the status page (package node/metrics). HTTPTLS, when
	// set, serves it over TLS (the cluster's certificates when it has
	// them).
	HTTPAddr string
	HTTPTLS  *tls.Config
	// RaftLogLevel is the least level of raft's and memberlist's own log
	// records (the zero value is info); sessionraft dev raises it to warn
	// so a newcomer sees the cluster's own messages.
	RaftLogLevel slog.Level
	// Membership (membership.go). A non-voter added by MEMBER ADD is
	// promoted to voter in a group once its log is within PromoteMaxLag
	// entries of the leader's and has stayed so, with the node alive in
	// gossip, for PromoteStableFor. DeadServerCleanup, when > 0, lets a
	// group leader remove a voter that gossip has reported failed for that
	// long, one at a time and only while at least MinVoters voters remain
	// afterwards; 0 (the default) never removes anyone automatically.
	PromoteMaxLag     uint64
	PromoteStableFor  time.Duration
	DeadServerCleanup time.Duration
	MinVoters         int
	// MemberTimeout bounds one MEMBER command (a REPLACE waits for the
	// new node's promotion in every group).
	MemberTimeout time.Duration

	// TestMode enables fault-injection hooks. Never set in production.
	TestMode bool

	// Resource limits (docs/SECURITY.md, "Limits"). The client-port caps
	// live in RESP: MaxConns (--max-clients), IdleTimeout
	// (--client-idle-timeout), MaxInflight (--max-inflight-per-conn) and
	// MaxRunning (--max-running).
	//
	// MaxMemory, when > 0, is the node's quota in bytes for the state of
	// all its groups: records, tombstones and dedup entries, as the
	// state machines estimate them (fsm.FSM.MemoryUsage). Above it a
	// group leader refuses writes that add data with OOM; reads,
	// destroys, revokes, touches and expiry keep working. See memlimit.go
	// for where the check runs and how far past the quota a node can go.
	MaxMemory int64
	// NotifyKeyspaceEvents is the initial notify-keyspace-events value,
	// Redis's flags (K E g $ l s h z x e t m d n A; "" = off). CONFIG SET
	// changes it per node at run time (keyspace.go).
	NotifyKeyspaceEvents string
	// GCHeadroomPercent and GCHeadroomMin bound the garbage collector's
	// headroom over the live heap: after each collection the runtime's
	// soft memory limit becomes the live heap plus GCHeadroomPercent of it
	// (at least GCHeadroomMin bytes), so a node whose state is large does
	// not sit at twice its live heap as GOGC=100 alone allows (heapgov.go).
	// 0 turns the governor off; so does GOMEMLIMIT in the environment.
	GCHeadroomPercent int
	GCHeadroomMin     int64
	// Client-side caching (CLIENT TRACKING; tracking.go).
	// TrackingTableMaxKeys caps the keys the tracking table remembers
	// (Redis's tracking-table-max-keys); past it, keys are invalidated to
	// make room. 0: 1,000,000. TrackingMaxStaleness is the revocation
	// bound's node side: when a group's state here is older than it (by
	// the log clock), every client that may cache a key of the group gets
	// a flush-all invalidation. 0: three quarters of MaxStaleness; it must
	// exceed MaxStaleness/2, the age a healthy replica of an idle group
	// reaches.
	TrackingTableMaxKeys int
	TrackingMaxStaleness time.Duration

	Logger *slog.Logger

	// Internal-port security (issue 10; security.go, docs/SECURITY.md).
	// TLSCA, TLSCert and TLSKey (PEM files; all three or none) make the
	// internal port mutual TLS 1.3 only: the certificate must name this
	// node's ID (transport/tlsconf), peers must present certificates from
	// the same CA, and gossip makes no voter and moves no address until the
	// member proves its id over TLS. ReloadTLS re-reads the files.
	TLSCA, TLSCert, TLSKey string
	// MaxInternalConns caps accepted internal-port connections open at once
	// (mux.Config.MaxInboundConns); 0 means the mux's default.
	MaxInternalConns int
	// GossipKey is a base64 AES key (16, 24 or 32 bytes) encrypting and
	// authenticating gossip. GossipKeyringFile keeps the keyring across
	// restarts and rotations (GOSSIP.KEYS); when a key is given and the file
	// is not, it is <DataDir>/gossip.keyring. Neither: gossip is plaintext.
	GossipKey         string
	GossipKeyringFile string
	// Handshakes bounds the TLS handshakes of connections not yet
	// authenticated, on the internal port and, with ClientTLS, the client
	// port (each port has its own gate; handshakes.go). Zero fields take
	// admit.DefaultConfig's; the internal port's handshake deadline is the
	// mux's HeaderTimeout.
	Handshakes admit.Config
}

// DefaultConfig returns a configuration for a single local node; callers set
// at least ID, DataDir and the addresses.
func DefaultConfig() Config {
	return Config{
		ClientAddr:         "127.0.0.1:7001",
		RaftAddr:           "127.0.0.1:7101",
		GossipAddr:         "127.0.0.1:7201",
		Limits:             fsm.DefaultLimits(),
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
		RaftTransport:      RaftTransportBinary,
		RaftPipeline:       1,
		MaxBatchCmds:       2048,
		MaxBatchBytes:      8 << 20,
		MaxInflightApplies: 32,
		PipelinedEntries:   1,
		BatchLinger:        time.Millisecond,
		RESP:               defaultRESPConfig(),
		PromoteMaxLag:      1024,
		GCHeadroomPercent:  15,
		GCHeadroomMin:      64 << 20,
		PromoteStableFor:   10 * time.Second,
		MinVoters:          3,
		MemberTimeout:      5 * time.Minute,
		MinFreeDisk:        512 << 20,
		DiskCheckInterval:  2 * time.Second,
		MaxLogBytes:        1 << 30,
		SnapshotLogBytes:   64 << 20,
		TrailingLogBytes:   64 << 20,
	}
}

// defaultRESPConfig is resp's defaults plus an idle timeout for client
// connections: a connection that sends nothing for 5 minutes is closed,
// so abandoned connections cannot pile up to MaxConns. Pooled clients
// redial (the Go client pings its idle connections every second and never
// goes idle; see docs/SECURITY.md for other clients).
func defaultRESPConfig() resp.ServerConfig {
	c := resp.DefaultServerConfig()
	c.IdleTimeout = 5 * time.Minute
	return c
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
	v.check(c.TrackingTableMaxKeys >= 0, "TrackingTableMaxKeys must be >= 0")
	v.check(c.TrackingMaxStaleness == 0 || c.TrackingMaxStaleness > c.MaxStaleness/2,
		"TrackingMaxStaleness (%v) must be more than half of MaxStaleness (%v), or a healthy replica flushes its tracking clients", c.TrackingMaxStaleness, c.MaxStaleness)
	v.check(c.MaxBatchCmds >= 1, "MaxBatchCmds must be >= 1")
	v.check(c.RaftTransport == "" || c.RaftTransport == RaftTransportBinary || c.RaftTransport == RaftTransportMsgpack,
		"RaftTransport %q must be %q or %q", c.RaftTransport, RaftTransportBinary, RaftTransportMsgpack)
	v.check(c.RaftPipeline >= 1 && c.RaftPipeline <= maxRaftPipeline, "RaftPipeline must be in 1..%d", maxRaftPipeline)
	v.check(c.MaxBatchBytes >= minBatchBytes, "MaxBatchBytes must be at least %d (64 KiB)", minBatchBytes)
	v.check(c.MaxInflightApplies >= 1, "MaxInflightApplies must be >= 1")
	v.check(c.PipelinedEntries >= 1, "PipelinedEntries must be >= 1")
	v.check(c.BatchLinger >= 0 && c.BatchLinger <= maxBatchLinger, "BatchLinger must be in 0..%v", maxBatchLinger)
	c.validateClientSecurity(&v)
	v.check(c.RESP.MaxConns >= 0, "RESP.MaxConns must be >= 0 (0: the default)")
	v.check(c.RESP.IdleTimeout >= 0, "RESP.IdleTimeout must be >= 0 (0: never close idle connections)")
	v.check(c.RESP.MaxInflight >= 0, "RESP.MaxInflight must be >= 0 (0: the default)")
	v.check(c.RESP.MaxRunning >= 0, "RESP.MaxRunning must be >= 0 (0: the default)")
	v.check(c.MaxMemory >= 0, "MaxMemory must be >= 0 (0: no quota)")
	v.check(c.GCHeadroomPercent >= 0, "GCHeadroomPercent must be >= 0 (0: off)")
	v.check(c.GCHeadroomMin >= 0, "GCHeadroomMin must be >= 0")
	if c.HTTPAddr != "" {
		if err := checkHostPort(c.HTTPAddr); err != nil {
			v.addf("HTTPAddr %q: %v", c.HTTPAddr, err)
		}
	}
	v.check(c.PromoteStableFor >= 0, "PromoteStableFor must be >= 0")
	v.check(c.DeadServerCleanup >= 0, "DeadServerCleanup must be >= 0")
	v.check(c.MinVoters >= 1, "MinVoters must be >= 1")
	v.check(c.MemberTimeout > 0, "MemberTimeout must be > 0")
	c.validateSecurity(&v)
	v.check(c.MinFreeDiskPercent >= 0 && c.MinFreeDiskPercent < 100, "MinFreeDiskPercent must be in [0, 100)")
	v.check(c.DiskCheckInterval > 0, "DiskCheckInterval must be > 0")
	// raftwal drops whole 64 MiB segments only: a smaller budget could
	// never be met and would snapshot at every check.
	v.check(c.MaxLogBytes == 0 || c.MaxLogBytes >= minMaxLogBytes, "MaxLogBytes must be 0 (off) or at least %d (512 MiB)", int64(minMaxLogBytes))
	v.check(c.SnapshotLogBytes == 0 || c.SnapshotLogBytes >= 1<<20, "SnapshotLogBytes must be 0 (off) or at least 1 MiB")
	v.check(c.TrailingLogBytes == 0 || c.TrailingLogBytes >= 1<<20, "TrailingLogBytes must be 0 (off) or at least 1 MiB")

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
	// The batcher keeps at most PipelinedEntries of MaxInflightApplies
	// entries in flight before the next one waits to fill.
	if c.PipelinedEntries >= 1 && c.MaxInflightApplies >= 1 {
		v.check(c.PipelinedEntries <= c.MaxInflightApplies, "PipelinedEntries (%d) must not exceed MaxInflightApplies (%d)", c.PipelinedEntries, c.MaxInflightApplies)
	}

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

// trackingMaxKeys is TrackingTableMaxKeys with its default.
func (c *Config) trackingMaxKeys() int {
	if c.TrackingTableMaxKeys > 0 {
		return c.TrackingTableMaxKeys
	}
	return defaultTrackingMaxKeys
}

// trackingMaxStaleness is TrackingMaxStaleness with its default.
func (c *Config) trackingMaxStaleness() time.Duration {
	if c.TrackingMaxStaleness > 0 {
		return c.TrackingMaxStaleness
	}
	return c.MaxStaleness * 3 / 4
}
