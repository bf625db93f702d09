package node

import (
	"testing"
	"time"
)

// TestSessionGetOfStringKey: a session a Redis store wrote as a string
// (SET key json EX n, as connect-redis does) reads through SESSION.GET as a
// record whose one field "value" is the string, with the key's expiry,
// instead of a record with no fields.
func TestSessionGetOfStringKey(t *testing.T) {
	c := startCluster(t, 1, func(cfg *Config) { cfg.BalanceInterval = time.Hour })
	cl := c.client(0)
	mustOK(t, cl, "SET", "sess:s1", `{"user":"dave"}`, "EX", "100")
	got := asMap(t, mustOK(t, cl, "SESSION.GET", "sess:s1"))
	f := asMap(t, got["fields"])
	if len(f) != 1 || f["value"].Str != `{"user":"dave"}` {
		t.Fatalf("SESSION.GET of a string key: fields %v", got["fields"])
	}
	if got["id"].Str != "sess:s1" || got["expires_at_ms"].Int <= time.Now().UnixMilli() {
		t.Fatalf("SESSION.GET of a string key: %v", got)
	}
	mustOK(t, cl, "SET", "sess:empty", "")
	got = asMap(t, mustOK(t, cl, "SESSION.GET", "sess:empty"))
	if f := asMap(t, got["fields"]); len(f) != 1 || f["value"].Kind != got["id"].Kind || f["value"].Str != "" {
		t.Fatalf("SESSION.GET of an empty string: fields %v", got["fields"])
	}
}
