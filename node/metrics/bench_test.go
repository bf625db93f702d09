package metrics

import (
	"testing"
	"time"

	gometrics "github.com/hashicorp/go-metrics"
)

// BenchmarkObserveRequest is the per-request cost of the Dispatch hook.
func BenchmarkObserveRequest(b *testing.B) {
	m := New(nil)
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveRequest("SESSION.GET", "stale", "", 100*time.Microsecond)
	}
}

// BenchmarkRaftMetric is what one of hashicorp/raft's MeasureSince calls
// costs with the sink installed (go-metrics' filtering and key building
// included), against the blackhole go-metrics uses when none is.
func BenchmarkRaftMetric(b *testing.B) {
	for _, installed := range []bool{false, true} {
		name := "blackhole"
		var sink gometrics.MetricSink = &gometrics.BlackholeSink{}
		if installed {
			name, sink = "sink", newRaftSink(New(nil).reg)
		}
		b.Run(name, func(b *testing.B) {
			cfg := gometrics.DefaultConfig("")
			cfg.EnableHostname, cfg.EnableRuntimeMetrics = false, false
			m, err := gometrics.New(cfg, sink)
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			labels := []gometrics.Label{{Name: "peer_id", Value: "n2"}}
			b.ReportAllocs()
			for b.Loop() {
				m.MeasureSince([]string{"raft", "commitTime"}, start)
				m.MeasureSinceWithLabels([]string{"raft", "replication", "appendEntries", "rpc"}, start, labels)
			}
		})
	}
}
