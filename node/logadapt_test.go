package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"log"
	"log/slog"
	"strings"
	"testing"
)

func jsonLines(t *testing.T, b *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		out = append(out, m)
	}
	return out
}

// raft's key/value pairs become fields of a JSON record; records below the
// library level are dropped.
func TestHclogAdapterJSON(t *testing.T) {
	var buf bytes.Buffer
	n := &Node{log: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	l := n.hclogger("raft-g1").With("term", 3)
	l.Info("entering follower state", "follower", struct{ A int }{7}, "leader-id", "n2", "err", errors.New("boom"), "odd")
	l.Debug("heartbeat") // RaftLogLevel is info: dropped
	recs := jsonLines(t, &buf)
	if len(recs) != 1 {
		t.Fatalf("%d records: %s", len(recs), buf.String())
	}
	r := recs[0]
	for k, want := range map[string]any{"msg": "entering follower state", "level": "INFO", "component": "raft-g1",
		"group": float64(1), "term": float64(3), "leader-id": "n2", "follower": "{7}", "err": "boom", "EXTRA_VALUE_AT_END": "odd"} {
		if r[k] != want {
			t.Errorf("%s = %#v, want %#v (record %v)", k, r[k], want, r)
		}
	}
	n.cfg.RaftLogLevel = slog.LevelWarn
	buf.Reset()
	q := n.hclogger("raft-g0")
	q.Info("quiet")
	q.Warn("loud")
	if recs := jsonLines(t, &buf); len(recs) != 1 || recs[0]["msg"] != "loud" {
		t.Errorf("at warn: %v", recs)
	}
}

// memberlist's log lines become records with their level, message and
// trailing key=value fields.
func TestMemberlistWriter(t *testing.T) {
	var buf bytes.Buffer
	w := &memberlistWriter{log: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), level: slog.LevelDebug}
	ml := log.New(w, "", log.LstdFlags)
	ml.Printf("[DEBUG] memberlist: Stream connection from=127.0.0.1:4242")
	ml.Printf("[WARN] memberlist: Refuting a suspect message (from: n2)")
	ml.Printf("[ERR] memberlist: Failed to send ping: write udp: connection refused")
	recs := jsonLines(t, &buf)
	if len(recs) != 3 {
		t.Fatalf("%d records: %s", len(recs), buf.String())
	}
	want := []map[string]any{
		{"level": "DEBUG", "msg": "Stream connection", "from": "127.0.0.1:4242", "source": "memberlist"},
		{"level": "WARN", "msg": "Refuting a suspect message (from: n2)", "source": "memberlist"},
		{"level": "ERROR", "msg": "Failed to send ping: write udp: connection refused", "source": "memberlist"},
	}
	for i, w := range want {
		for k, v := range w {
			if recs[i][k] != v {
				t.Errorf("record %d: %s = %#v, want %#v (%v)", i, k, recs[i][k], v, recs[i])
			}
		}
	}
}
