package main

import (
	"fmt"
	"log/slog"

	"github.com/sessionraft/sessionraft/node"
	"github.com/sessionraft/sessionraft/node/metrics"
)

// observability applies --raft-log-level to cfg.
func (o *serverOptions) observability(cfg *node.Config) error {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(o.raftLogLevel)); err != nil {
		return fmt.Errorf("--raft-log-level %q: want debug, info, warn or error", o.raftLogLevel)
	}
	cfg.RaftLogLevel = lvl
	return nil
}

// installRaftSink sends hashicorp/raft's and memberlist's go-metrics to
// the node's /metrics. go-metrics is process-global, which is why the
// server does this and not the node (in-process test clusters run many
// nodes in one process). A failure costs raft's own figures only.
func installRaftSink(n *node.Node, log *slog.Logger) {
	if err := metrics.InstallRaftSink(n.Metrics()); err != nil {
		log.Warn("raft metrics unavailable", "err", err)
	}
}
