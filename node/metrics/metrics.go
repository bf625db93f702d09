package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics is one node's metric families. Create it with New; the zero value
// is not usable. A nil *Metrics is valid and records nothing, so code that
// runs without metrics (unit tests) needs no checks.
type Metrics struct {
	reg *prometheus.Registry
	// reqReg holds only the request families, so the status page's
	// per-command totals do not run the Source collector (a Status call,
	// a disk walk) on every poll.
	reqReg *prometheus.Registry

	requests      *prometheus.HistogramVec // by command, consistency
	reqSeries     reqCache                 // requests' series, resolved once
	errors        *prometheus.CounterVec   // by command, code
	forwarded     *prometheus.CounterVec   // by kind (read, write, read-index)
	batchCommands prometheus.Histogram
	batchBytes    prometheus.Histogram
	readRounds    *prometheus.CounterVec // by outcome
	logAppend     prometheus.Histogram
	logSync       prometheus.Histogram
	snapshots     *prometheus.CounterVec   // by group
	snapshotSecs  *prometheus.HistogramVec // by group
	snapshotBytes *prometheus.GaugeVec     // by group
	leaderChanges *prometheus.CounterVec   // by group
}

// latencyBuckets spans 50 us to 10 s: a stale read on a local replica is
// tens of microseconds, a write with fdatasync a few milliseconds, and a
// request that waits out an election seconds.
var latencyBuckets = prometheus.ExponentialBucketsRange(50e-6, 10, 18)

// New makes the registry with every family, Go runtime and process metrics
// (memory, GC, CPU seconds, RSS, open files), and the collector that reads
// src at scrape time.
func New(src Source) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg:    reg,
		reqReg: prometheus.NewRegistry(),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "sessionraft", Name: "request_duration_seconds",
			Help:    "Client-port requests by command and read consistency level (reads only; writes have \"\"), from dispatch to reply.",
			Buckets: latencyBuckets,
		}, []string{"command", "consistency"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sessionraft", Name: "request_errors_total",
			Help: "Client-port error replies by command and error code.",
		}, []string{"command", "code"}),
		forwarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sessionraft", Name: "forwarded_requests_total",
			Help: "Requests this node forwarded to a group leader, by kind.",
		}, []string{"kind"}),
		batchCommands: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "sessionraft", Name: "batch_commands",
			Help:    "Commands packed into one raft entry by the group-commit batcher.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		batchBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "sessionraft", Name: "batch_bytes",
			Help:    "Size of raft entries proposed by the group-commit batcher.",
			Buckets: prometheus.ExponentialBuckets(64, 4, 10),
		}),
		readRounds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sessionraft", Name: "read_rounds_total",
			Help: "Linearizable read rounds run as leader, by outcome: poll (a majority confirmed the term), fallback (an empty entry was committed instead), failed.",
		}, []string{"outcome"}),
		logAppend: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "sessionraft", Name: "log_append_seconds",
			Help:    "Time to append entries to a raft log, fdatasync included.",
			Buckets: latencyBuckets,
		}),
		logSync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "sessionraft", Name: "log_fdatasync_seconds",
			Help:    "Time of the raft log's fdatasync calls.",
			Buckets: latencyBuckets,
		}),
		snapshots: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sessionraft", Name: "snapshots_total",
			Help: "Snapshots this node wrote, by group.",
		}, []string{"group"}),
		snapshotSecs: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "sessionraft", Name: "snapshot_duration_seconds",
			Help:    "Time to write a snapshot, by group.",
			Buckets: prometheus.ExponentialBucketsRange(1e-3, 120, 14),
		}, []string{"group"}),
		snapshotBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "sessionraft", Name: "snapshot_size_bytes",
			Help: "Size of the latest snapshot written, by group.",
		}, []string{"group"}),
		leaderChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sessionraft", Name: "leader_changes_total",
			Help: "Leader changes this node observed, by group.",
		}, []string{"group"}),
	}
	reg.MustRegister(
		m.requests, m.errors, m.forwarded, m.batchCommands, m.batchBytes,
		m.readRounds, m.logAppend,
		m.logSync, m.snapshots, m.snapshotSecs, m.snapshotBytes, m.leaderChanges,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{Namespace: "sessionraft"}),
	)
	m.reqReg.MustRegister(m.requests, m.errors)
	m.reqSeries.vec = m.requests
	if src != nil {
		reg.MustRegister(newSourceCollector(src))
	}
	return m
}

// Registry is the registry behind /metrics (for tests and extra sinks).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveRequest records one client request. code is "" on success.
func (m *Metrics) ObserveRequest(command, consistency, code string, d time.Duration) {
	if m == nil {
		return
	}
	m.reqSeries.observer(command, consistency).Observe(d.Seconds())
	if code != "" {
		m.errors.WithLabelValues(command, code).Inc()
	}
}

// Forwarded counts one request forwarded to a leader; kind is "read" or
// "write".
func (m *Metrics) Forwarded(kind string) {
	if m != nil {
		m.forwarded.WithLabelValues(kind).Inc()
	}
}

// Batch records one raft entry proposed by the batcher.
func (m *Metrics) Batch(commands, bytes int) {
	if m != nil {
		m.batchCommands.Observe(float64(commands))
		m.batchBytes.Observe(float64(bytes))
	}
}

// ReadRound records one linearizable read round: outcome is "poll",
// "fallback" or "failed".
func (m *Metrics) ReadRound(outcome string) {
	if m != nil {
		m.readRounds.WithLabelValues(outcome).Inc()
	}
}

// LogAppend records one StoreLogs call and its fdatasync.
func (m *Metrics) LogAppend(total, sync time.Duration) {
	if m != nil {
		m.logAppend.Observe(total.Seconds())
		m.logSync.Observe(sync.Seconds())
	}
}

// Snapshot records a snapshot written for group.
func (m *Metrics) Snapshot(group string, d time.Duration, size int64) {
	if m != nil {
		m.snapshots.WithLabelValues(group).Inc()
		m.snapshotSecs.WithLabelValues(group).Observe(d.Seconds())
		m.snapshotBytes.WithLabelValues(group).Set(float64(size))
	}
}

// LeaderChange counts a change of leader observed for group.
func (m *Metrics) LeaderChange(group string) {
	if m != nil {
		m.leaderChanges.WithLabelValues(group).Inc()
	}
}

// LogAppendFunc returns LogAppend as a raftwal observer, or nil for a nil
// *Metrics so the log does not even read the clock.
func (m *Metrics) LogAppendFunc() func(total, sync time.Duration) {
	if m == nil {
		return nil
	}
	return m.LogAppend
}

// SnapshotFunc returns a snapshot observer for group, or nil for a nil
// *Metrics.
func (m *Metrics) SnapshotFunc(group string) func(d time.Duration, size int64) {
	if m == nil {
		return nil
	}
	return func(d time.Duration, size int64) { m.Snapshot(group, d, size) }
}
