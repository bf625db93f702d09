package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sessionraft/sessionraft/transport/resp"

	"github.com/sessionraft/sessionraft/internal/testcluster"
)

// scrapeNode parses node n's /metrics with the Prometheus text parser.
func scrapeNode(t testing.TB, n *Node) (map[string]*dto.MetricFamily, []byte) {
	t.Helper()
	code, body := testcluster.HTTPGet(t, "http://"+n.HTTPAddr()+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("%s /metrics: HTTP %d", n.cfg.ID, code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%s /metrics does not parse: %v", n.cfg.ID, err)
	}
	return fams, body
}

// metricSum adds up the samples of family name whose labels include
// labels: counter and gauge values, histogram sample counts.
func metricSum(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	var sum float64
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		sum += m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
	}
	return sum, true
}

// TestAdminEndpoints runs a 3-node cluster with admin ports: every listed
// family is on /metrics, lint-clean (the linter of promtool check metrics,
// and promtool itself when installed), and moves with its event; /ready
// turns 503 on a node cut off from its leaders and 200 after healing;
// leader changes count a killed leader; INFO has Redis's sections.
func TestAdminEndpoints(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) {
		cfg.HTTPAddr = "127.0.0.1:0"
		cfg.SnapshotThreshold = 32
		cfg.SnapshotInterval = 100 * time.Millisecond
		cfg.TrailingLogs = 16
	})
	// Every family is present on every node, and the text passes lint.
	families := []string{
		"sessionraft_request_duration_seconds", "sessionraft_group_role", "sessionraft_group_term",
		"sessionraft_group_commit_index", "sessionraft_group_applied_index", "sessionraft_group_state_age_seconds",
		"sessionraft_group_sessions", "sessionraft_group_tombstones", "sessionraft_group_dedup_entries",
		"sessionraft_replication_lag_entries", "sessionraft_replication_last_contact_seconds",
		"sessionraft_client_connections", "sessionraft_client_connections_accepted_total",
		"sessionraft_client_received_bytes_total", "sessionraft_client_sent_bytes_total",
		"sessionraft_ready", "sessionraft_disk_free_bytes", "sessionraft_disk_total_bytes", "sessionraft_data_dir_bytes",
		"sessionraft_log_append_seconds", "sessionraft_log_fdatasync_seconds", "sessionraft_batch_commands",
		"sessionraft_batch_bytes", "sessionraft_leader_changes_total", "sessionraft_process_resident_memory_bytes",
		"sessionraft_process_cpu_seconds_total", "go_memstats_heap_alloc_bytes", "go_gc_duration_seconds",
	}
	cl := make([]*Node, 3)
	for i := range cl {
		cl[i] = c.node(i)
	}
	for _, n := range cl {
		waitFor(t, 10*time.Second, n.cfg.ID+" families", func() error {
			fams, body := scrapeNode(t, n)
			for _, f := range families {
				if _, ok := fams[f]; !ok {
					if f == "sessionraft_replication_lag_entries" || f == "sessionraft_replication_last_contact_seconds" {
						if lead, _ := metricSum(fams, "sessionraft_group_role", map[string]string{"role": "leader"}); lead == 0 {
							continue // only a leader reports its followers
						}
					}
					if f == "sessionraft_request_duration_seconds" || f == "sessionraft_log_append_seconds" ||
						f == "sessionraft_batch_commands" || f == "sessionraft_batch_bytes" || f == "sessionraft_leader_changes_total" ||
						f == "sessionraft_log_fdatasync_seconds" {
						continue // appear with their first event, checked below
					}
					return fmt.Errorf("family %s missing", f)
				}
			}
			problems, err := promlint.New(bytes.NewReader(body)).Lint()
			if err != nil {
				return err
			}
			for _, p := range problems {
				t.Errorf("%s lint: %s: %s", n.cfg.ID, p.Metric, p.Text)
			}
			promtoolCheck(t, body)
			return nil
		})
	}

	// A write raises the write counter on the node it was sent to, a
	// batch and log appends on the group's leader, and fdatasync timings.
	before, _ := scrapeNode(t, cl[0])
	writes0, _ := metricSum(before, "sessionraft_request_duration_seconds", map[string]string{"command": "SESSION.CREATE"})
	client := c.client(0)
	id := asMap(t, mustOK(t, client, "SESSION.CREATE", "TTL", "1h", "FIELDS", "k", "v"))["id"].Str
	mustOK(t, client, "SESSION.GET", id)
	mustOK(t, client, "SESSION.GET", id, "CONSISTENCY", "stale", "MAXSTALE", "1h")
	if code := errCode(do(t, client, "SESSION.GET", "no-such-session")); code == "" {
		t.Fatal("GET of a missing session succeeded")
	}
	after, _ := scrapeNode(t, cl[0])
	for _, w := range []struct {
		labels  map[string]string
		atLeast float64
	}{
		{map[string]string{"command": "SESSION.CREATE"}, writes0 + 1},
		{map[string]string{"command": "SESSION.GET", "consistency": "linearizable"}, 2},
		{map[string]string{"command": "SESSION.GET", "consistency": "stale"}, 1},
	} {
		if got, _ := metricSum(after, "sessionraft_request_duration_seconds", w.labels); got < w.atLeast {
			t.Errorf("requests %v = %v, want >= %v", w.labels, got, w.atLeast)
		}
	}
	if got, _ := metricSum(after, "sessionraft_request_errors_total", map[string]string{"command": "SESSION.GET", "code": "NOTFOUND"}); got < 1 {
		t.Errorf("NOTFOUND errors = %v", got)
	}
	if got, _ := metricSum(after, "sessionraft_client_received_bytes_total", nil); got == 0 {
		t.Error("no client bytes counted")
	}
	gid := cl[0].ring.Group(id)
	leader := -1
	waitFor(t, 10*time.Second, "the session's group leader", func() error {
		for i, n := range cl {
			if n.groups[gid].isLeader() {
				leader = i
				return nil
			}
		}
		return fmt.Errorf("none")
	})
	// A linearizable GET on the ready leader takes the deferred fast
	// path (getnow.go), completed by the shared leadership round: it is
	// counted too.
	lin := map[string]string{"command": "SESSION.GET", "consistency": "linearizable"}
	lb, _ := scrapeNode(t, cl[leader])
	linBefore, _ := metricSum(lb, "sessionraft_request_duration_seconds", lin)
	mustOK(t, c.client(leader), "SESSION.GET", id)
	lf, _ := scrapeNode(t, cl[leader])
	if got, _ := metricSum(lf, "sessionraft_request_duration_seconds", lin); got != linBefore+1 {
		t.Errorf("leader's linearizable GETs went from %v to %v after one deferred read", linBefore, got)
	}
	// Every replica appends and syncs the write; the batch was proposed
	// by whichever node led the group then, which under load may not be
	// today's leader.
	for _, f := range []string{"sessionraft_log_append_seconds", "sessionraft_log_fdatasync_seconds"} {
		if got, _ := metricSum(lf, f, nil); got < 1 {
			t.Errorf("leader %s: %s = %v after a write", cl[leader].cfg.ID, f, got)
		}
	}
	batches := 0.0
	for _, n := range cl {
		fams, _ := scrapeNode(t, n)
		got, _ := metricSum(fams, "sessionraft_batch_commands", nil)
		batches += got
	}
	if batches < 1 {
		t.Errorf("sessionraft_batch_commands = %v over the cluster after a write", batches)
	}
	if got, _ := metricSum(lf, "sessionraft_read_rounds_total", map[string]string{"outcome": "poll"}); got < 1 {
		t.Errorf("leader read rounds (poll) = %v after a linearizable read", got)
	}
	if lag, ok := metricSum(lf, "sessionraft_replication_lag_entries", map[string]string{"group": fmt.Sprint(gid)}); !ok || lag > 1e6 {
		t.Errorf("leader replication lag %v (present %v)", lag, ok)
	}
	// On a follower, a linearizable read of the same id asks the leader
	// for a read index (followerread.go); a leader read is forwarded.
	follower := (leader + 1) % 3
	fcl := c.client(follower)
	mustOK(t, fcl, "SESSION.GET", id)
	mustOK(t, fcl, "SESSION.GET", id, "CONSISTENCY", "leader")
	ff, _ := scrapeNode(t, cl[follower])
	for _, kind := range []string{"read", "read-index"} {
		if got, _ := metricSum(ff, "sessionraft_forwarded_requests_total", map[string]string{"kind": kind}); got < 1 {
			t.Errorf("follower forwarded requests of kind %s = %v", kind, got)
		}
	}
	// Snapshots: enough writes to pass SnapshotThreshold.
	for range 40 {
		mustOK(t, client, "SESSION.SET", id, "k", "v2")
	}
	waitFor(t, 20*time.Second, "a snapshot on the leader", func() error {
		f, _ := scrapeNode(t, cl[leader])
		if got, _ := metricSum(f, "sessionraft_snapshots_total", map[string]string{"group": fmt.Sprint(gid)}); got < 1 {
			return fmt.Errorf("snapshots_total = %v", got)
		}
		return nil
	})

	// status.json: three members with their admin addresses, every group.
	_, sj := testcluster.HTTPGet(t, "http://"+cl[0].HTTPAddr()+"/status.json")
	var st struct {
		Members []struct{ ID, HTTPAddr string } `json:"members"`
		Groups  []struct{ ID int }              `json:"groups"`
	}
	if err := json.Unmarshal(sj, &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Members) != 3 || len(st.Groups) != 3 {
		t.Fatalf("status.json: %d members, %d groups: %s", len(st.Members), len(st.Groups), sj)
	}

	testInfoSections(t, client)

	// /ready: cut one node off from the others' raft ports.
	victim := 2
	ready := func(i int) int {
		code, _ := testcluster.HTTPGet(t, "http://"+cl[i].HTTPAddr()+"/ready")
		return code
	}
	// Every node becomes ready: polled, not asserted once, since on a
	// loaded machine a replica's state can be briefly older than
	// MaxStaleness (Ready's second condition) right after the writes and
	// the snapshot above.
	for i := range 3 {
		waitFor(t, 20*time.Second, cl[i].cfg.ID+" ready before the partition", func() error {
			if code := ready(i); code != http.StatusOK {
				return fmt.Errorf("/ready = %d", code)
			}
			return nil
		})
	}
	vcl := c.client(victim)
	for i := range 3 {
		if i == victim {
			continue
		}
		mustOK(t, c.client(i), "DEBUG.FAULT", "BLOCK", cl[victim].self.Raft, "both")
		mustOK(t, vcl, "DEBUG.FAULT", "BLOCK", cl[i].self.Raft, "both")
	}
	waitFor(t, 20*time.Second, "victim not ready", func() error {
		if code := ready(victim); code != http.StatusServiceUnavailable {
			return fmt.Errorf("/ready = %d", code)
		}
		return nil
	})
	_, reason := testcluster.HTTPGet(t, "http://"+cl[victim].HTTPAddr()+"/ready")
	t.Logf("cut-off node: %s", bytes.TrimSpace(reason))
	for i := range 3 {
		mustOK(t, c.client(i), "DEBUG.FAULT", "CLEAR")
	}
	waitFor(t, 30*time.Second, "victim ready again", func() error {
		if code := ready(victim); code != http.StatusOK {
			return fmt.Errorf("/ready = %d", code)
		}
		return nil
	})

	// Leader changes: kill group 0's leader; a survivor counts the change.
	c.waitLeaders()
	lead0 := -1
	for i, n := range cl {
		if n.groups[0].isLeader() {
			lead0 = i
		}
	}
	if lead0 < 0 {
		t.Fatal("no leader of group 0")
	}
	surv := (lead0 + 1) % 3
	sb, _ := scrapeNode(t, cl[surv])
	changes0, _ := metricSum(sb, "sessionraft_leader_changes_total", map[string]string{"group": "0"})
	// The dashboard and the alert rules name only metrics a node serves.
	union := map[string]*dto.MetricFamily{}
	for _, n := range cl {
		f, _ := scrapeNode(t, n)
		for k, v := range f {
			union[k] = v
		}
	}
	checkDocsMetrics(t, union)

	c.stop(lead0)
	waitFor(t, 30*time.Second, "a leader change on a survivor", func() error {
		f, _ := scrapeNode(t, cl[surv])
		if got, _ := metricSum(f, "sessionraft_leader_changes_total", map[string]string{"group": "0"}); got <= changes0 {
			return fmt.Errorf("leader_changes_total{group=0} = %v", got)
		}
		return nil
	})
}

// metricRef finds metric names in PromQL text.
var metricRef = regexp.MustCompile(`\b(?:sessionraft|go)_[a-z0-9_]+`)

// checkDocsMetrics checks that every metric docs/grafana and
// docs/prometheus refer to is among fams (a histogram's _bucket, _sum and
// _count series by their family), and runs promtool on the rules when it
// is installed.
func checkDocsMetrics(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	// Raft's own metrics appear only with the process-wide go-metrics
	// sink, which in-process clusters do not install; metrics'
	// TestRaftSinkNames checks this name.
	fromRaftSink := map[string]bool{"sessionraft_raft_commit_time_seconds": true}
	for _, file := range []string{"../docs/grafana/sessionraft.json", "../docs/prometheus/alerts.yml"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range metricRef.FindAllString(string(b), -1) {
			base := name
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if fams[base] == nil && strings.HasSuffix(base, suf) {
					base = strings.TrimSuffix(base, suf)
				}
			}
			if fams[base] == nil && !fromRaftSink[base] {
				t.Errorf("%s refers to %s, which no node serves", file, name)
			}
		}
	}
	if path, err := exec.LookPath("promtool"); err == nil {
		for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
			cmd := exec.Command(path, args...)
			cmd.Dir = "../docs/prometheus"
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("promtool %v: %v\n%s", args, err, out)
			}
		}
	} else {
		t.Log("promtool not installed (Debian: apt-get install prometheus): alert rules not checked by it")
	}
}

// promtoolCheck runs promtool check metrics on body when promtool is
// installed (Debian's prometheus package; CI installs it).
func promtoolCheck(t testing.TB, body []byte) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool not installed (Debian: apt-get install prometheus): /metrics checked by promlint only")
		return
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// testInfoSections checks INFO's Redis sections and section filtering.
func testInfoSections(t *testing.T, cl interface {
	Do(context.Context, ...string) (resp.Value, error)
}) {
	t.Helper()
	info := func(args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		v, err := cl.Do(ctx, append([]string{"INFO"}, args...)...)
		if err != nil {
			t.Fatalf("INFO %v: %v", args, err)
		}
		return v.Str
	}
	all := info()
	for _, want := range []string{"# Server\r\n", "redis_version:" + RedisVersion, "sessionraft_version:", "process_id:", "tcp_port:",
		"uptime_in_seconds:", "# Clients\r\nconnected_clients:", "# Memory\r\nused_memory:", "used_memory_rss:",
		"# Stats\r\n", "total_commands_processed:", "instantaneous_ops_per_sec:", "total_net_input_bytes:",
		"# CPU\r\nused_cpu_sys:", "used_cpu_user:", "# Keyspace\r\n", "# Cluster\r\n", "group0:role="} {
		if !strings.Contains(all, want) {
			t.Errorf("INFO lacks %q", want)
		}
	}
	if got := info("cpu"); !strings.HasPrefix(got, "# CPU\r\n") || strings.Contains(got, "# Server") {
		t.Errorf("INFO cpu = %q", got)
	}
	if got := info("SERVER", "clients"); !strings.Contains(got, "# Server") || !strings.Contains(got, "# Clients") || strings.Contains(got, "# CPU") {
		t.Errorf("INFO SERVER clients = %q", got)
	}
	if got := info("everything"); got != all && !strings.Contains(got, "# Cluster") {
		t.Errorf("INFO everything lacks sections")
	}
	if got := info("nosuchsection"); got != "" {
		t.Errorf("INFO nosuchsection = %q, want empty (as Redis)", got)
	}
}

// TestStatusPageInChromium loads a node's status page in headless
// Chromium and checks that the rendered page shows the three nodes and
// every group. CI installs Debian's chromium; without it the test skips.
func TestStatusPageInChromium(t *testing.T) {
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Skip("chromium not installed (Debian: apt-get install chromium); the status page is not rendered")
	}
	c := startCluster(t, 3, func(cfg *Config) { cfg.HTTPAddr = "127.0.0.1:0" })
	n := c.node(0)
	waitFor(t, 10*time.Second, "members with admin addresses", func() error {
		for _, m := range n.members() {
			if m.HTTP == "" {
				return fmt.Errorf("%s has no http address yet", m.ID)
			}
		}
		if len(n.members()) != 3 {
			return fmt.Errorf("%d members", len(n.members()))
		}
		return nil
	})
	url := "http://" + n.HTTPAddr() + "/"
	dom := chromiumDOM(t, bin, url)
	for _, want := range []string{"n1", "n2", "n3", "ready", "<td>0</td>", "<td>1</td>", "<td>2</td>", "leader"} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered page lacks %q:\n%s", want, dom)
		}
	}
	if strings.Contains(dom, `id="err">cannot reach`) {
		t.Errorf("page could not fetch status.json:\n%s", dom)
	}
	if dir := os.Getenv("SESSIONRAFT_SCREENSHOT_DIR"); dir != "" {
		chromium(t, bin, "--screenshot="+filepath.Join(dir, "status.png"), "--window-size=1200,900", url)
	}
}

// chromiumDOM renders url in headless Chromium, letting its scripts run
// for a few seconds of virtual time (two polls of status.json), and
// returns the DOM.
func chromiumDOM(t *testing.T, bin, url string) string {
	t.Helper()
	return string(chromium(t, bin, "--dump-dom", url))
}

func chromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=3000"}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.Bytes())
	}
	return out
}
