package metrics

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// testSource is a Source whose answers the test sets.
type testSource struct {
	mu     sync.Mutex
	st     Status
	ready  bool
	reason string
}

func (s *testSource) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

func (s *testSource) Ready() (bool, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ready, s.reason
}

func (s *testSource) set(ready bool, reason string) {
	s.mu.Lock()
	s.ready, s.reason = ready, reason
	s.mu.Unlock()
}

func newTestServer(t *testing.T) (*Metrics, *testSource, string) {
	t.Helper()
	src := &testSource{ready: true, st: Status{
		NodeID: "n1", Version: "test", ClientAddr: "127.0.0.1:7001", DataDir: t.TempDir(),
		Started: time.Now(), Connections: 3,
		Client:   ClientTotals{ConnsAccepted: 1, BytesIn: 100, BytesOut: 200},
		Security: SecurityTotals{RaftMessagesRefused: 5, Client: HandshakeTotals{InFlight: 2, Busy: 7}},
		Groups: []Group{
			{ID: 0, Role: "leader", Leader: "n1", Term: 4, CommitIndex: 100, AppliedIndex: 99, Sessions: 7,
				Followers: []Follower{{ID: "n2", MatchIndex: 98, Lag: 2, LastContact: 5 * time.Millisecond}}},
			{ID: 1, Role: "follower", Leader: "n2", Term: 3, CommitIndex: 50, AppliedIndex: 50},
		},
		Members:       []Member{{ID: "n1", ClientAddr: "127.0.0.1:7001", Alive: true}},
		LeaderChanges: []LeaderChange{{Time: time.Now(), Group: 0, Leader: "n1", Term: 4}},
	}}
	m := New(src)
	srv, err := Listen("127.0.0.1:0", nil, Handler(m, src))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
	})
	return m, src, "http://" + srv.Addr()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

func scrape(t *testing.T, base string) map[string]*familyView {
	t.Helper()
	code, body := get(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	out := map[string]*familyView{}
	for name, f := range fams {
		v := &familyView{}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			val := m.GetGauge().GetValue() + m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount())
			v.samples = append(v.samples, sample{labels, val})
		}
		out[name] = v
	}
	return out
}

type sample struct {
	labels map[string]string
	value  float64
}

type familyView struct{ samples []sample }

func (f *familyView) value(labels map[string]string) (float64, bool) {
	if f == nil {
		return 0, false
	}
next:
	for _, s := range f.samples {
		for k, v := range labels {
			if s.labels[k] != v {
				continue next
			}
		}
		return s.value, true
	}
	return 0, false
}

func TestMetricsFamilies(t *testing.T) {
	m, _, base := newTestServer(t)
	m.ObserveRequest("session.get", "linearizable", "", 300*time.Microsecond)
	m.ObserveRequest("session.set", "", "CONFLICT", 2*time.Millisecond)
	m.Forwarded("write")
	m.Batch(16, 4096)
	m.ReadRound("poll")
	m.LogAppend(time.Millisecond, 800*time.Microsecond)
	m.Snapshot("0", time.Second, 1<<20)
	m.LeaderChange("0")

	fams := scrape(t, base)
	for _, c := range []struct {
		family string
		labels map[string]string
		want   float64
	}{
		{"sessionraft_request_duration_seconds", map[string]string{"command": "session.get", "consistency": "linearizable"}, 1},
		{"sessionraft_request_errors_total", map[string]string{"command": "session.set", "code": "CONFLICT"}, 1},
		{"sessionraft_forwarded_requests_total", map[string]string{"kind": "write"}, 1},
		{"sessionraft_batch_commands", nil, 1},
		{"sessionraft_batch_bytes", nil, 1},
		{"sessionraft_read_rounds_total", map[string]string{"outcome": "poll"}, 1},
		{"sessionraft_client_connections_accepted_total", nil, 1},
		{"sessionraft_client_received_bytes_total", nil, 100},
		{"sessionraft_client_sent_bytes_total", nil, 200},
		{"sessionraft_log_append_seconds", nil, 1},
		{"sessionraft_log_fdatasync_seconds", nil, 1},
		{"sessionraft_snapshots_total", map[string]string{"group": "0"}, 1},
		{"sessionraft_snapshot_size_bytes", map[string]string{"group": "0"}, 1 << 20},
		{"sessionraft_leader_changes_total", map[string]string{"group": "0"}, 1},
		{"sessionraft_group_role", map[string]string{"group": "0", "role": "leader"}, 1},
		{"sessionraft_group_role", map[string]string{"group": "0", "role": "follower"}, 0},
		{"sessionraft_group_term", map[string]string{"group": "0"}, 4},
		{"sessionraft_group_commit_index", map[string]string{"group": "1"}, 50},
		{"sessionraft_group_applied_index", map[string]string{"group": "0"}, 99},
		{"sessionraft_group_sessions", map[string]string{"group": "0"}, 7},
		{"sessionraft_replication_lag_entries", map[string]string{"group": "0", "follower": "n2"}, 2},
		{"sessionraft_client_connections", nil, 3},
		{"sessionraft_ready", nil, 1},
		{"sessionraft_raft_messages_refused_total", nil, 5},
		{"sessionraft_tls_handshakes_in_flight", map[string]string{"port": "client"}, 2},
		{"sessionraft_tls_handshakes_total", map[string]string{"port": "client", "outcome": "busy"}, 7},
		{"sessionraft_tls_handshakes_total", map[string]string{"port": "internal", "outcome": "admitted"}, 0},
	} {
		got, ok := fams[c.family].value(c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.family, c.labels, got, ok, c.want)
		}
	}
	for _, name := range []string{"sessionraft_disk_free_bytes", "sessionraft_disk_total_bytes",
		"sessionraft_data_dir_bytes", "go_memstats_heap_alloc_bytes", "go_gc_duration_seconds",
		"sessionraft_process_resident_memory_bytes", "sessionraft_process_cpu_seconds_total"} {
		if fams[name] == nil {
			t.Errorf("family %s missing", name)
		}
	}
}

func TestNilMetricsRecordsNothing(t *testing.T) {
	var m *Metrics
	m.ObserveRequest("x", "", "", time.Second)
	m.Forwarded("read")
	m.Batch(1, 1)
	m.ReadRound("poll")
	m.LogAppend(0, 0)
	m.Snapshot("0", 0, 0)
	m.LeaderChange("0")
}

func TestHealthAndReady(t *testing.T) {
	_, src, base := newTestServer(t)
	if code, _ := get(t, base+"/health"); code != 200 {
		t.Errorf("/health = %d", code)
	}
	if code, body := get(t, base+"/ready"); code != 200 || !strings.Contains(body, `"ready":true`) {
		t.Errorf("/ready = %d %s", code, body)
	}
	src.set(false, "group 1 has no leader")
	code, body := get(t, base+"/ready")
	if code != 503 {
		t.Errorf("/ready when not ready = %d", code)
	}
	var r struct {
		Ready  bool   `json:"ready"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || r.Ready || r.Reason != "group 1 has no leader" {
		t.Errorf("/ready body %q (%v)", body, err)
	}
	if v, _ := scrape(t, base)["sessionraft_ready"].value(nil); v != 0 {
		t.Errorf("sessionraft_ready = %v while not ready", v)
	}
}

func TestStatusJSONAndPage(t *testing.T) {
	m, _, base := newTestServer(t)
	m.ObserveRequest("session.get", "stale", "", time.Millisecond)
	m.ObserveRequest("session.get", "linearizable", "STALE", time.Millisecond)
	code, body := get(t, base+"/status.json")
	if code != 200 {
		t.Fatalf("/status.json = %d", code)
	}
	var s struct {
		NodeID   string         `json:"node_id"`
		Groups   []Group        `json:"groups"`
		Requests []requestTotal `json:"requests"`
		DataDir  *string        `json:"DataDir"`
	}
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatal(err)
	}
	if s.NodeID != "n1" || len(s.Groups) != 2 || s.Groups[0].Followers[0].Lag != 2 {
		t.Errorf("status = %+v", s)
	}
	if len(s.Requests) != 1 || s.Requests[0].Count != 2 || s.Requests[0].Errors != 1 {
		t.Errorf("requests = %+v", s.Requests)
	}
	if strings.Contains(body, "DataDir") {
		t.Error("status.json shows the data directory")
	}
	code, page := get(t, base+"/")
	if code != 200 || !strings.Contains(page, "status.json") || strings.Contains(page, "http://") && strings.Contains(page, "<script src") {
		t.Errorf("/ = %d", code)
	}
	if code, _ := get(t, base+"/nope"); code != 404 {
		t.Errorf("/nope = %d", code)
	}
}
