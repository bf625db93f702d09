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

// BenchmarkRaftMetric is what two of hashicorp/raft's MeasureSince calls
// cost with the sink installed (go-metrics' own work included), against
// go-metrics' default when no sink is installed ("none": every metric is
// filtered out at once) and a blackhole sink with the sink's settings.
func BenchmarkRaftMetric(b *testing.B) {
	for _, name := range []string{"none", "blackhole", "sink"} {
		var sink gometrics.MetricSink = &gometrics.BlackholeSink{}
		if name == "sink" {
			sink = newRaftSink(New(nil).reg)
		}
		b.Run(name, func(b *testing.B) {
			cfg := gometrics.DefaultConfig("")
			cfg.EnableHostname, cfg.EnableRuntimeMetrics = false, false
			cfg.FilterDefault = name != "none"
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

// BenchmarkObserveRequestParallel is the hook from both cores at once, as
// connections' goroutines run it under load.
func BenchmarkObserveRequestParallel(b *testing.B) {
	m := New(nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveRequest("SESSION.GET", "stale", "", 100*time.Microsecond)
		}
	})
}
