package node

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"":                       "",
		"abc":                    "abc",
		"abcdef":                 "abcdef",
		"abcdefg":                "abcdef...",
		"Zm9vYmFyYmF6cXV4cXV1eA": "Zm9vYm...",
		"ééééééé":                "éééééé...",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
		if got := redactBytes([]byte(in)); got != want {
			t.Errorf("redactBytes(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReplyName(t *testing.T) {
	for in, want := range map[string]string{
		"SESSION.CRATE": "SESSION.CRATE", "foo": "foo", "Get": "Get", "SessionGet": "Sessio...",
		"Zm9vYmFyYmF6cXV4cXV1eA": "Zm9vYm...", "hunter2": "hunter...", "": "",
		"ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGH": "ABCDEF...",
	} {
		if got := replyName([]byte(in)); got != want {
			t.Errorf("replyName(%q) = %q, want %q", in, got, want)
		}
	}
}

// syncBuffer collects the log output of several nodes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestNoSecretsInLogs runs a session's whole life, with mistakes, through
// every node (so requests are forwarded) with debug logs on, and looks for
// the session's id, its field value and its request id in the logs and in
// every error reply. Only short prefixes may appear.
func TestNoSecretsInLogs(t *testing.T) {
	var logs syncBuffer
	c := startCluster(t, 3, func(cfg *Config) {
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", cfg.ID)
	})
	const (
		id      = "SECRETidQx7Jd93kLmNoPqRs"
		value   = "SECRETvalueHunter2Tr0ub4dor"
		reqID   = "SECRETreqidZ81fhq0Wa"
		subject = "SECRETsubjectAlice99"
	)
	secrets := []string{id, value, reqID, subject, id[6:], value[6:], reqID[6:], subject[6:]}
	var replies []string
	run := func(node int, args ...string) {
		t.Helper()
		v := do(t, c.client(node), args...)
		if err := v.Err(); err != nil {
			replies = append(replies, err.Error())
		}
	}
	run(0, "SESSION.CREATE", "ID", id, "SUBJECT", subject, "REQID", reqID, "TTL", "600", "FIELDS", "token", value)
	run(1, "SESSION.CREATE", "ID", id, "SUBJECT", subject, "FIELDS", "token", value) // EXISTS
	run(2, "SESSION.GET", id)
	run(1, "SESSION.GET", id, "CONSISTENCY", "stale")
	run(2, "SESSION.SET", id, "IFVERSION", "99", "token", value)  // CONFLICT
	run(0, "SESSION.SET", id, "IFVERSION", value, "token", value) // bad number
	run(1, "SESSION.SET", id, "TTL", id, "token", value)          // bad duration
	run(2, "SESSION.CREATE", "SUBJECT", subject, value, id)       // syntax error
	run(0, "SESSION.GET", id, "CONSISTENCY", value)               // bad level
	run(1, "SESSION.SET", id, "FIELDS", "token", value+value)
	run(2, "SESSION.TOUCH", id)
	run(0, "SESSION.LIST", subject)
	run(1, "SESSION.ROTATE", id, "REQID", reqID)
	run(2, "SESSION.REVOKE", subject, "EXCEPT", id)
	run(0, "SESSION.DESTROY", id)
	run(1, "SESSION.GET", id) // NOTFOUND
	run(2, value)             // unknown command
	if len(replies) < 8 {
		t.Fatalf("only %d error replies: the lifecycle did not run as planned: %q", len(replies), replies)
	}
	out := logs.String()
	if !strings.Contains(out, "node started") {
		t.Fatal("no log captured")
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			i := strings.Index(out, s)
			t.Errorf("a secret is in the logs: ...%s...", out[max(0, i-200):min(len(out), i+len(s)+50)])
		}
		for _, r := range replies {
			if strings.Contains(r, s) {
				t.Errorf("a secret is in the error reply %q", r)
			}
		}
	}
}
