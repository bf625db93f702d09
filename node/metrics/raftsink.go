package metrics

import (
	"fmt"
	"time"

	gometrics "github.com/hashicorp/go-metrics"
	gmprom "github.com/hashicorp/go-metrics/prometheus"
)

// InstallRaftSink routes go-metrics, which hashicorp/raft and memberlist
// report through, into m's registry. go-metrics is process-global, so call
// this once per process (the server does; in-process test clusters do not).
// Raft's timers arrive as summaries in milliseconds under raft's own names,
// prefixed sessionraft_ (e.g. sessionraft_raft_commitTime).
func InstallRaftSink(m *Metrics) error {
	sink, err := gmprom.NewPrometheusSinkFrom(gmprom.PrometheusOpts{
		Registerer: m.reg,
		Name:       "sessionraft_gometrics",
		// A raft metric that stops being reported (a peer removed) goes
		// away after this, keeping series bounded.
		Expiration: 5 * time.Minute,
	})
	if err != nil {
		return fmt.Errorf("raft metrics sink: %w", err)
	}
	cfg := gometrics.DefaultConfig("sessionraft")
	cfg.EnableHostname = false       // the scraper labels the instance
	cfg.EnableRuntimeMetrics = false // the Go collector reports these
	cfg.EnableHostnameLabel = false
	if _, err := gometrics.NewGlobal(cfg, sink); err != nil {
		return fmt.Errorf("raft metrics sink: %w", err)
	}
	return nil
}
