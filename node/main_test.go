package node

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// bbolt/raft-boltdb metrics and memberlist's DNS helper start
		// package-level goroutines that live for the process.
		goleak.IgnoreTopFunction("github.com/armon/go-metrics.(*InmemSink).run"),
		goleak.IgnoreTopFunction("github.com/hashicorp/go-metrics.(*InmemSink).run"),
		// memberlist's Shutdown does not interrupt a probe in progress; the
		// probe goroutine ends on its own after ProbeTimeout.
		goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"),
	)
}
