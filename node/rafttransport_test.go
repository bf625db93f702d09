package node

import (
	"math"
	"strings"
	"testing"
)

func TestRaftTransportConfig(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string // "" when valid
	}{
		{"default", func(*Config) {}, ""},
		{"msgpack", func(c *Config) { c.RaftTransport = RaftTransportMsgpack }, ""},
		{"pipelined", func(c *Config) { c.RaftPipeline = 32 }, ""},
		{"unknown transport", func(c *Config) { c.RaftTransport = "grpc" }, `RaftTransport "grpc" must be`},
		{"no depth", func(c *Config) { c.RaftPipeline = 0 }, "RaftPipeline must be in 1..64"},
		{"too deep", func(c *Config) { c.RaftPipeline = 65 }, "RaftPipeline must be in 1..64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig(t)
			tc.mutate(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestRaftFrameCap: the frame cap admits the largest AppendEntries a
// leader can build (maxAppendEntries entries of a full batch plus one
// command) up to the wire's 32-bit length, and never more than that.
func TestRaftFrameCap(t *testing.T) {
	c := DefaultConfig()
	c.MaxBatchBytes = 1 << 20
	entry := int64(c.MaxBatchBytes + c.maxCommandBytes())
	if got := c.raftFrameCap(); got < maxAppendEntries*entry || got > math.MaxUint32 {
		t.Fatalf("frame cap %d for entries up to %d bytes", got, entry)
	}
	c.MaxBatchBytes = 1 << 30
	if got := c.raftFrameCap(); got != math.MaxUint32 {
		t.Fatalf("huge batches: cap %d, want the wire's limit", got)
	}
}
