package node

import (
	"strings"
	"testing"
	"time"
)

// validConfig is a configuration Validate accepts, as a test cluster node
// would have it.
func validConfig(t *testing.T) Config {
	t.Helper()
	c := DefaultConfig()
	c.ID, c.DataDir, c.BootstrapExpect = "n1", t.TempDir(), 3
	return c
}

func TestConfigValidateAccepts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
	}{
		{"defaults", func(*Config) {}},
		{"kernel-chosen ports may repeat", func(c *Config) { c.ClientAddr, c.RaftAddr = "127.0.0.1:0", "127.0.0.1:0" }},
		{"same port on different hosts", func(c *Config) { c.ClientAddr, c.RaftAddr = "127.0.0.1:7001", "127.0.0.2:7001" }},
		{"wildcard raft with advertise", func(c *Config) {
			c.RaftAddr, c.AdvertiseRaft = "0.0.0.0:7101", "10.0.0.1:7101"
		}},
		{"wildcard raft on a lone node", func(c *Config) { c.RaftAddr, c.BootstrapExpect = ":7101", 1 }},
		{"wildcard client and gossip", func(c *Config) { c.ClientAddr, c.GossipAddr = "[::]:7001", "0.0.0.0:7201" }},
		{"fixed groups, no bootstrap", func(c *Config) { c.Groups, c.BootstrapExpect = 4, 0 }},
		{"lease = heartbeat = election", func(c *Config) {
			c.LeaderLeaseTimeout, c.HeartbeatTimeout, c.ElectionTimeout = time.Second, time.Second, time.Second
		}},
		{"raft minimums", func(c *Config) {
			c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout = 5*time.Millisecond, 5*time.Millisecond, 5*time.Millisecond
			c.CommitTimeout, c.SnapshotInterval = time.Millisecond, 5*time.Millisecond
		}},
		{"zero limits mean defaults", func(c *Config) { c.Limits.MaxValueBytes, c.RESP.Limits.MaxBulkLen = 0, 0 }},
		{"value as large as a bulk string", func(c *Config) { c.Limits.MaxValueBytes, c.RESP.Limits.MaxBulkLen = 1<<20, 1<<20 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig(t)
			tc.mutate(&c)
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

func TestConfigValidateRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   []string // every problem, in the order reported
	}{
		{"no ID", func(c *Config) { c.ID = "" }, []string{"ID is required"}},
		{"no DataDir", func(c *Config) { c.DataDir = "" }, []string{"DataDir is required"}},
		{"bad listen addresses", func(c *Config) { c.ClientAddr, c.RaftAddr, c.GossipAddr = "nope", "h:port", "h:70000" }, []string{
			`ClientAddr "nope"`, `RaftAddr "h:port": port "port" is not a number`, `GossipAddr "h:70000": port "70000"`,
		}},
		{"advertise not dialable", func(c *Config) {
			c.AdvertiseClient, c.AdvertiseRaft, c.AdvertiseGossip = "0.0.0.0:7001", "10.0.0.1:0", "10.0.0.1"
		}, []string{
			`AdvertiseClient "0.0.0.0:7001": must name a host and port`,
			`AdvertiseRaft "10.0.0.1:0": must name a host and port`,
			`AdvertiseGossip "10.0.0.1"`,
		}},
		{"client and raft share a port", func(c *Config) { c.ClientAddr, c.RaftAddr = "127.0.0.1:7001", "127.0.0.1:7001" }, []string{
			`ClientAddr and RaftAddr must differ (both "127.0.0.1:7001")`,
		}},
		{"wildcard overlaps a host", func(c *Config) {
			c.RaftAddr, c.GossipAddr, c.AdvertiseRaft = "0.0.0.0:7201", "127.0.0.1:7201", "10.0.0.1:7201"
		}, []string{
			`RaftAddr and GossipAddr must differ`,
		}},
		{"all three share a port", func(c *Config) { c.ClientAddr, c.RaftAddr, c.GossipAddr = "[::1]:9", "[::1]:9", "[0:0:0:0:0:0:0:1]:9" }, []string{
			"ClientAddr and RaftAddr must differ", "ClientAddr and GossipAddr must differ", "RaftAddr and GossipAddr must differ",
		}},
		{"wildcard raft without advertise", func(c *Config) { c.RaftAddr = "0.0.0.0:7101" }, []string{
			`RaftAddr "0.0.0.0:7101" listens on every interface: set AdvertiseRaft`,
		}},
		{"wildcard raft on a lone node that joins", func(c *Config) { c.RaftAddr, c.BootstrapExpect, c.Join = ":7101", 1, []string{"10.0.0.2:7201"} }, []string{
			"set AdvertiseRaft",
		}},
		{"negative BootstrapExpect", func(c *Config) { c.BootstrapExpect, c.Groups = -1, 3 }, []string{"BootstrapExpect must be >= 0"}},
		{"too many groups", func(c *Config) { c.Groups = 5000 }, []string{"Groups must be in 0..1024"}},
		{"no group count", func(c *Config) { c.BootstrapExpect, c.Groups = 0, 0 }, []string{"Groups must be set when BootstrapExpect is 0"}},
		{"negative limit", func(c *Config) { c.Limits.MaxFields = -1 }, []string{"MaxFields is negative"}},
		{"zero durations", func(c *Config) {
			c.MaxStaleness, c.RequestTimeout, c.SweepInterval, c.TouchInterval, c.BalanceInterval = 0, 0, -1, 0, 0
		}, []string{
			"MaxStaleness must be > 0", "RequestTimeout must be > 0", "SweepInterval must be > 0",
			"TouchInterval must be > 0", "BalanceInterval must be > 0",
		}},
		{"below raft minimums", func(c *Config) {
			c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout = time.Millisecond, 0, 4*time.Millisecond
			c.CommitTimeout, c.SnapshotInterval = time.Microsecond, time.Millisecond
		}, []string{
			"HeartbeatTimeout must be at least 5ms (got 1ms)", "ElectionTimeout must be at least 5ms (got 0s)",
			"LeaderLeaseTimeout must be at least 5ms", "CommitTimeout must be at least 1ms", "SnapshotInterval must be at least 5ms",
		}},
		{"batching", func(c *Config) { c.MaxBatchCmds, c.MaxBatchBytes, c.MaxInflightApplies = 0, 10, 0 }, []string{
			"MaxBatchCmds must be >= 1", "MaxBatchBytes must be at least 65536", "MaxInflightApplies must be >= 1",
		}},
		{"pipelined entries", func(c *Config) { c.PipelinedEntries = 0 }, []string{
			"PipelinedEntries must be >= 1",
		}},
		{"batch linger", func(c *Config) { c.BatchLinger = time.Second }, []string{
			"BatchLinger must be in 0..100ms",
		}},
		{"negative batch linger", func(c *Config) { c.BatchLinger = -time.Millisecond }, []string{
			"BatchLinger must be in 0..100ms",
		}},
		{"more pipelined entries than in flight", func(c *Config) { c.MaxInflightApplies, c.PipelinedEntries = 2, 3 }, []string{
			"PipelinedEntries (3) must not exceed MaxInflightApplies (2)",
		}},
		{"lease longer than heartbeat", func(c *Config) { c.LeaderLeaseTimeout, c.HeartbeatTimeout = 2*time.Second, time.Second }, []string{
			"LeaderLeaseTimeout (2s) must not exceed HeartbeatTimeout (1s)",
		}},
		{"heartbeat longer than election", func(c *Config) { c.HeartbeatTimeout, c.ElectionTimeout = 2*time.Second, time.Second }, []string{
			"HeartbeatTimeout (2s) must not exceed ElectionTimeout (1s)",
		}},
		{"staleness bound too tight for the commit delay", func(c *Config) { c.MaxStaleness, c.CommitTimeout = 20*time.Millisecond, 5*time.Millisecond }, []string{
			"MaxStaleness (20ms) must be more than four times CommitTimeout (5ms)",
		}},
		{"values larger than a bulk string", func(c *Config) { c.Limits.MaxValueBytes = 9 << 20 }, []string{
			"Limits.MaxValueBytes (9437184) must not exceed RESP.Limits.MaxBulkLen (8388608)",
		}},
		{"records larger than a request", func(c *Config) { c.Limits.MaxRecordBytes, c.RESP.Limits.MaxTotalLen = 8<<20, 4<<20 }, []string{
			"Limits.MaxRecordBytes (8388608) must not exceed RESP.Limits.MaxTotalLen (4194304)",
		}},
		{"a bad value is reported once, not again in its relations", func(c *Config) { c.HeartbeatTimeout = 0 }, []string{
			"HeartbeatTimeout must be at least 5ms",
		}},
		{"many problems in field order, relations last", func(c *Config) {
			c.ID, c.ClientAddr, c.GossipAddr = "", "127.0.0.1:7101", ":bad"
			c.LeaderLeaseTimeout, c.MaxBatchCmds, c.BootstrapExpect = 2*time.Second, 0, 0
		}, []string{
			"ID is required", `GossipAddr ":bad"`, "MaxBatchCmds must be >= 1",
			`ClientAddr and RaftAddr must differ (both "127.0.0.1:7101")`, "Groups must be set when BootstrapExpect is 0", "LeaderLeaseTimeout (2s) must not exceed HeartbeatTimeout",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig(t)
			tc.mutate(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate accepted the configuration")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(lines), len(tc.want), err)
			}
			for i, want := range tc.want {
				if !strings.Contains(lines[i], want) {
					t.Errorf("problem %d = %q, want it to contain %q", i, lines[i], want)
				}
			}
			// The order is fixed: the same configuration gives the same text.
			for i := 0; i < 20; i++ {
				if again := c.Validate(); again.Error() != err.Error() {
					t.Fatalf("second call reported\n%v\nfirst call\n%v", again, err)
				}
			}
		})
	}
}
