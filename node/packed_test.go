package node

import (
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/transport/resp"
	"github.com/sessionraft/sessionraft/transport/wire"
)

// SESSION.GET ... PACKED answers the record the map reply shows, as one
// bulk string in the packed form, on every node at every level (the
// leader's fast path, a follower's read index, a stale replica), for a
// session and for a Redis string key; a missing one is NOTFOUND as before.
func TestSessionGetPacked(t *testing.T) {
	c := startCluster(t, 3, nil)
	c.waitLeaders()
	cl0 := &clientT{t: t, c: c.client(0)}
	id := asMap(t, cl0.ok("SESSION.CREATE", "SUBJECT", "alice", "TTL", "3600", "IDLE", "30m", "FIELDS", "cart", "3", "role", "user", "bin", "\x00\r\n"))["id"].Str
	cl0.ok("SET", "plain", "hello")

	for i := range 3 {
		cl := &clientT{t: t, c: c.client(i)}
		for _, level := range []string{"linearizable", "leader", "stale"} {
			for _, key := range []string{id, "plain"} {
				var m map[string]resp.Value
				waitFor(t, 5*time.Second, "the map reply", func() error {
					v := cl.do("SESSION.GET", key, "CONSISTENCY", level, "NOTOUCH")
					if err := v.Err(); err != nil {
						return err
					}
					m = asMap(t, v)
					return nil
				})
				v := cl.ok("SESSION.GET", key, "CONSISTENCY", level, "NOTOUCH", "PACKED")
				if v.Kind != resp.Bulk {
					t.Fatalf("node %d %s %s: PACKED reply is %v, not a bulk string", i, level, key, v.Kind)
				}
				fields := map[string]string{}
				rec, fs, err := wire.ParsePacked(v.Str)
				if err != nil {
					t.Fatalf("node %d %s %s: %v", i, level, key, err)
				}
				for name, val, ok := fs.Next(); ok; name, val, ok = fs.Next() {
					fields[name] = val
				}
				want := wire.Record{ID: m["id"].Str, Subject: m["subject"].Str, Version: uint64(m["version"].Int),
					CreatedMS: m["created_ms"].Int, LastAccessMS: m["last_access_ms"].Int, IdleMS: m["idle_ms"].Int,
					AbsDeadlineMS: m["absolute_deadline_ms"].Int, ExpiresAtMS: m["expires_at_ms"].Int}
				if rec != want {
					t.Fatalf("node %d %s %s: packed %+v, map %+v", i, level, key, rec, want)
				}
				mf := asMap(t, m["fields"])
				if len(mf) != len(fields) {
					t.Fatalf("node %d %s %s: packed fields %q, map %+v", i, level, key, fields, mf)
				}
				for name, val := range mf {
					if fields[name] != val.Str {
						t.Fatalf("node %d %s %s: field %q: packed %q, map %q", i, level, key, name, fields[name], val.Str)
					}
				}
			}
		}
		if code := errCode(cl.do("SESSION.GET", "nosuchsession", "PACKED")); code != wire.CodeNotFound {
			t.Fatalf("node %d: missing session PACKED: code %q", i, code)
		}
	}
}

// SESSION.CREATE PACKED answers the created record in the packed form;
// PACKED counts only first (after it come name/value pairs), and the ACL
// key finder reads the id past it.
func TestSessionCreatePacked(t *testing.T) {
	c := startCluster(t, 3, nil)
	c.waitLeaders()
	cl := &clientT{t: t, c: c.client(0)}
	v := cl.ok("SESSION.CREATE", "PACKED", "ID", "packed-create-1", "SUBJECT", "carol", "TTL", "1h", "FIELDS", "k", "v")
	if v.Kind != resp.Bulk {
		t.Fatalf("SESSION.CREATE PACKED reply is %v, not a bulk string", v.Kind)
	}
	rec, fs, err := wire.ParsePacked(v.Str)
	if err != nil {
		t.Fatal(err)
	}
	name, val, _ := fs.Next()
	if rec.ID != "packed-create-1" || rec.Subject != "carol" || rec.AbsDeadlineMS == 0 || name != "k" || val != "v" {
		t.Fatalf("packed create reply: %+v, field %q=%q", rec, name, val)
	}
	m := asMap(t, cl.ok("SESSION.GET", "packed-create-1"))
	if uint64(m["version"].Int) != rec.Version || m["created_ms"].Int != rec.CreatedMS {
		t.Fatalf("packed create reply %+v, the record read back %+v", rec, m)
	}
	if code := errCode(cl.do("SESSION.CREATE", "SUBJECT", "dave", "PACKED")); code != wire.CodeBadArg {
		t.Fatalf("PACKED after the first argument: code %q, want BADARG", code)
	}
	if got := createKeys(bytesArgs("SESSION.CREATE", "PACKED", "ID", "x", "FIELDS", "ID", "y")); len(got) != 1 || got[0] != 3 {
		t.Fatalf("createKeys with PACKED: %v, want [3]", got)
	}
}

func bytesArgs(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}
