package metrics

import (
	"strings"
	"testing"
	"time"

	gometrics "github.com/hashicorp/go-metrics"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// raft's go-metrics names come out in Prometheus style: snake case,
// seconds, _total; values scaled; a name reused with another kind or other
// labels is dropped rather than panicking.
func TestRaftSinkNames(t *testing.T) {
	m := New(nil)
	s := newRaftSink(m.reg)
	s.AddSample([]string{"raft", "commitTime"}, 2) // ms
	s.IncrCounter([]string{"raft", "apply"}, 3)
	s.SetGauge([]string{"raft", "fsm", "lastRestoreDuration"}, 1500)
	s.AddSample([]string{"raft", "fsm", "applyBatchNum"}, 7)
	peer := []gometrics.Label{{Name: "peer_id", Value: "n2"}}
	s.AddSampleWithLabels([]string{"raft", "replication", "appendEntries", "rpc"}, 1, peer)
	s.IncrCounter([]string{"raft", "commitTime"}, 1)                         // other kind: dropped
	s.AddSampleWithLabels([]string{"raft", "commitTime"}, 1, peer)           // other labels: dropped
	s.IncrCounter([]string{"raft", "apply"}, -1)                             // counters only go up
	s.IncrCounterWithLabels([]string{"memberlist", "udp", "sent"}, 100, nil) // bytes

	fams, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		for _, mt := range f.GetMetric() {
			switch {
			case mt.GetHistogram() != nil:
				got[f.GetName()] += mt.GetHistogram().GetSampleSum()
			case mt.GetCounter() != nil:
				got[f.GetName()] += mt.GetCounter().GetValue()
			case mt.GetGauge() != nil:
				got[f.GetName()] += mt.GetGauge().GetValue()
			}
		}
	}
	for name, want := range map[string]float64{
		"sessionraft_raft_commit_time_seconds":                    0.002,
		"sessionraft_raft_apply_total":                            3,
		"sessionraft_raft_fsm_last_restore_duration_seconds":      1.5,
		"sessionraft_raft_fsm_apply_batch_num":                    7,
		"sessionraft_raft_replication_append_entries_rpc_seconds": 0.001,
		"sessionraft_memberlist_udp_sent_bytes_total":             100,
	} {
		if v, ok := got[name]; !ok || v < want*0.999 || v > want*1.001 {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	problems, err := promlint.NewWithMetricFamilies(fams).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "sessionraft_raft") || strings.HasPrefix(p.Metric, "sessionraft_memberlist") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}

// Every family of a node's registry passes the linter promtool check
// metrics runs.
func TestMetricsLint(t *testing.T) {
	m, _, _ := newTestServer(t)
	m.ObserveRequest("SESSION.GET", "stale", "", time.Millisecond)
	m.ObserveRequest("SESSION.SET", "", "CONFLICT", time.Millisecond)
	m.Snapshot("0", time.Second, 10)
	fams, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(fams).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}
