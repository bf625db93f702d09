package metrics

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	gometrics "github.com/hashicorp/go-metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// InstallRaftSink routes go-metrics, which hashicorp/raft and memberlist
// report through, into m's registry. go-metrics is process-global, so call
// this once per process (the server does; in-process test clusters do not,
// and since every group of the process reports under the same names, the
// figures are the node's, not a group's).
//
// go-metrics' own Prometheus sink keeps raft's names (raft_commitTime),
// reports timers in milliseconds as summaries and counters without _total,
// which promtool's lint refuses. raftSink renames instead: snake case,
// durations in seconds as histograms (_seconds), counters with _total, so
// raft's commit time is sessionraft_raft_commit_time_seconds.
func InstallRaftSink(m *Metrics) error {
	if m == nil {
		return nil
	}
	// No service name: go-metrics would prepend it to every key with an
	// allocation per call; the sink adds the sessionraft_ prefix itself.
	cfg := gometrics.DefaultConfig("")
	cfg.EnableHostname = false       // the scraper labels the instance
	cfg.EnableHostnameLabel = false  //
	cfg.EnableRuntimeMetrics = false // the Go collector reports these
	cfg.TimerGranularity = time.Millisecond
	// No go-metrics filter: with one, every call joins its key and
	// searches a radix tree before the sink sees it (half of the cost of
	// a call in BenchmarkRaftMetric); the sink drops what it does not
	// want from its own cache instead (blocked).
	if _, err := gometrics.NewGlobal(cfg, newRaftSink(m.reg)); err != nil {
		return fmt.Errorf("raft metrics sink: %w", err)
	}
	return nil
}

// raftSink is a go-metrics MetricSink over a Prometheus registry. Each
// metric is registered on first use; go-metrics names are bounded (raft
// and memberlist use fixed names; their labels are peer ids).
type raftSink struct {
	reg   prometheus.Registerer
	mu    sync.Mutex                             // serialises registration
	cache atomic.Pointer[map[uint64]*sinkMetric] // keyHash -> collector
}

type sinkMetric struct {
	key    []string // the go-metrics key
	kind   sinkKind
	raw    []string // label names as go-metrics gave them
	labels []string // label names, in go-metrics' order
	scale  float64  // multiplies every value (ms to s)
	gauge  *prometheus.GaugeVec
	count  *prometheus.CounterVec
	hist   *prometheus.HistogramVec
	// The series of a metric without labels, resolved once: most of
	// raft's calls have none, and a Vec lookup hashes on every call.
	gauge0 prometheus.Gauge
	count0 prometheus.Counter
	hist0  prometheus.Observer
}

func newRaftSink(reg prometheus.Registerer) *raftSink { return &raftSink{reg: reg} }

type sinkKind int

const (
	kindGauge sinkKind = iota
	kindCounter
	kindSample
)

// Samples that are not durations; the rest (MeasureSince) are
// milliseconds. The value says the suffix and the buckets.
var countSamples = map[string]string{
	"raft_fsm_apply_batch_num":    "",
	"raft_thread_main_saturation": "_ratio",
	"raft_thread_fsm_saturation":  "_ratio",
	"memberlist_queue_broadcasts": "",
	"memberlist_size_remote":      "_bytes",
}

// msGauges are gauges that raft sets in milliseconds.
var msGauges = map[string]bool{
	"raft_fsm_last_restore_duration": true,
	"raft_log_oldest_log_age":        true,
}

// byteCounters are memberlist's traffic counters, which add bytes.
var byteCounters = map[string]bool{
	"memberlist_udp_sent": true, "memberlist_udp_received": true, "memberlist_tcp_sent": true,
}

// snake turns a go-metrics key into a Prometheus name part:
// ["raft","commitTime"] -> "raft_commit_time".
func snake(key []string) string {
	var b strings.Builder
	for i, part := range key {
		if i > 0 {
			b.WriteByte('_')
		}
		for j, r := range part {
			switch {
			case unicode.IsUpper(r):
				if j > 0 {
					b.WriteByte('_')
				}
				b.WriteRune(unicode.ToLower(r))
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
				b.WriteRune(r)
			default:
				b.WriteByte('_')
			}
		}
	}
	return b.String()
}

// keyHash is FNV-1a over a go-metrics key's parts: the cache is looked up
// on every raft metric call, and joining the parts into a string would
// allocate each time.
func keyHash(key []string) uint64 {
	h := uint64(14695981039346656037)
	for _, part := range key {
		for i := 0; i < len(part); i++ {
			h ^= uint64(part[i])
			h *= 1099511628211
		}
		h ^= '.'
		h *= 1099511628211
	}
	return h
}

// lookup finds key's collector in the copy-on-write cache, without locks
// or allocation; a hash collision is caught by comparing the parts.
func (s *raftSink) lookup(key []string) (*sinkMetric, bool) {
	m := s.cache.Load()
	if m == nil {
		return nil, false
	}
	sm, ok := (*m)[keyHash(key)]
	if !ok || !slices.Equal(sm.key, key) {
		return nil, false
	}
	return sm, true
}

// metric returns the collector for key and label names, registering it on
// first use; nil if the name was registered with other labels or refused.
func (s *raftSink) metric(kind sinkKind, key []string, labels []gometrics.Label) *sinkMetric {
	if sm, ok := s.lookup(key); ok {
		return sm.fits(kind, labels)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sm, ok := s.lookup(key); ok {
		return sm.fits(kind, labels)
	}
	flat := strings.Join(key, ".")
	base := snake(key)
	names, raw := make([]string, len(labels)), make([]string, len(labels))
	for i, l := range labels {
		names[i], raw[i] = snake([]string{l.Name}), l.Name
	}
	help := fmt.Sprintf("hashicorp go-metrics %s (all raft groups of this node).", flat)
	sm := &sinkMetric{key: slices.Clone(key), kind: kind, raw: raw, labels: names, scale: 1}
	var c prometheus.Collector
	switch kind {
	case kindGauge:
		name := base
		if msGauges[base] {
			name, sm.scale = base+"_seconds", 1e-3
		}
		sm.gauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "sessionraft", Name: name, Help: help}, names)
		c = sm.gauge
	case kindCounter:
		name := base + "_total"
		if byteCounters[base] {
			name = base + "_bytes_total"
		}
		sm.count = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "sessionraft", Name: name, Help: help}, names)
		c = sm.count
	case kindSample:
		name, buckets := base+"_seconds", latencyBuckets
		if suffix, ok := countSamples[base]; ok {
			name, buckets = base+suffix, prometheus.ExponentialBuckets(1, 4, 10)
			if suffix == "_ratio" {
				buckets = prometheus.LinearBuckets(0.1, 0.1, 10)
			}
		} else {
			sm.scale = 1e-3
		}
		sm.hist = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "sessionraft", Name: name, Help: help, Buckets: buckets}, names)
		c = sm.hist
	}
	if blocked(flat) {
		sm.kind = -1
	} else if err := s.reg.Register(c); err != nil {
		sm.kind = -1 // a clash with one of ours: leave raft's out
	} else if len(names) == 0 {
		switch kind {
		case kindGauge:
			sm.gauge0 = sm.gauge.WithLabelValues()
		case kindCounter:
			sm.count0 = sm.count.WithLabelValues()
		case kindSample:
			sm.hist0 = sm.hist.WithLabelValues()
		}
	}
	s.store(sm)
	return sm.fits(kind, labels)
}

// blocked says which go-metrics the sink leaves out: raft.net.* times
// every RPC four ways (decode, enqueue, respond, type), the costliest of
// raft's metrics, and the request and append histograms already cover
// what they show.
func blocked(flat string) bool { return strings.HasPrefix(flat, "raft.net.") }

// fits returns sm if a value of kind with labels can go to it: go-metrics
// does not promise one kind and one label set per name.
func (sm *sinkMetric) fits(kind sinkKind, labels []gometrics.Label) *sinkMetric {
	if sm.kind != kind || len(sm.labels) != len(labels) {
		return nil
	}
	for i, l := range labels {
		if sm.raw[i] != l.Name {
			return nil
		}
	}
	return sm
}

func values(labels []gometrics.Label) []string {
	if len(labels) == 0 {
		return nil
	}
	out := make([]string, len(labels))
	for i, l := range labels {
		out[i] = l.Value
	}
	return out
}

func (s *raftSink) SetGauge(key []string, val float32) { s.SetGaugeWithLabels(key, val, nil) }

func (s *raftSink) SetGaugeWithLabels(key []string, val float32, labels []gometrics.Label) {
	if sm := s.metric(kindGauge, key, labels); sm == nil {
		return
	} else if sm.gauge0 != nil {
		sm.gauge0.Set(float64(val) * sm.scale)
	} else {
		sm.gauge.WithLabelValues(values(labels)...).Set(float64(val) * sm.scale)
	}
}

// EmitKey is go-metrics' one-off key/value; raft does not use it.
func (s *raftSink) EmitKey([]string, float32) {}

func (s *raftSink) IncrCounter(key []string, val float32) { s.IncrCounterWithLabels(key, val, nil) }

func (s *raftSink) IncrCounterWithLabels(key []string, val float32, labels []gometrics.Label) {
	if val < 0 {
		return // a Prometheus counter only goes up
	}
	if sm := s.metric(kindCounter, key, labels); sm == nil {
		return
	} else if sm.count0 != nil {
		sm.count0.Add(float64(val))
	} else {
		sm.count.WithLabelValues(values(labels)...).Add(float64(val))
	}
}

func (s *raftSink) AddSample(key []string, val float32) { s.AddSampleWithLabels(key, val, nil) }

func (s *raftSink) AddSampleWithLabels(key []string, val float32, labels []gometrics.Label) {
	if sm := s.metric(kindSample, key, labels); sm == nil {
		return
	} else if sm.hist0 != nil {
		sm.hist0.Observe(float64(val) * sm.scale)
	} else {
		sm.hist.WithLabelValues(values(labels)...).Observe(float64(val) * sm.scale)
	}
}

var _ gometrics.MetricSink = (*raftSink)(nil)

// store adds sm to the cache (under mu): a new map, so readers never
// lock. go-metrics names are few, so copies are rare and small.
func (s *raftSink) store(sm *sinkMetric) {
	next := map[uint64]*sinkMetric{}
	if old := s.cache.Load(); old != nil {
		maps.Copy(next, *old)
	}
	next[keyHash(sm.key)] = sm
	s.cache.Store(&next)
}
