package node

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/transport/wire"
)

// TestSessionLifecycle walks the README's redis-cli walkthrough against a
// real three-node cluster: every command, from every node.
func TestSessionLifecycle(t *testing.T) {
	c := startCluster(t, 3, nil)
	cl := []*clientT{}
	for i := 0; i < 3; i++ {
		cl = append(cl, &clientT{t: t, c: c.client(i)})
	}

	rec := asMap(t, cl[0].ok("SESSION.CREATE", "SUBJECT", "alice", "TTL", "3600", "IDLE", "30m", "FIELDS", "cart", "3", "role", "user"))
	id := rec["id"].Str
	if len(id) != 22 {
		t.Fatalf("id %q: want 22 url-safe chars", id)
	}
	if f := asMap(t, rec["fields"]); f["cart"].Str != "3" || f["role"].Str != "user" {
		t.Fatalf("fields: %+v", f)
	}
	v1 := rec["version"].Int

	// Read back from every node, linearizable and stale.
	for i := 0; i < 3; i++ {
		got := asMap(t, cl[i].ok("SESSION.GET", id))
		if got["id"].Str != id || got["subject"].Str != "alice" {
			t.Fatalf("node %d: %+v", i, got)
		}
		waitFor(t, 5*time.Second, "stale read", func() error {
			v := cl[i].do("SESSION.GET", id, "CONSISTENCY", "stale")
			if err := v.Err(); err != nil {
				return err
			}
			return nil
		})
		cl[i].ok("SESSION.GET", id, "CONSISTENCY", "leader", "NOTOUCH")
	}

	// Update without and with a version check.
	v2 := cl[1].ok("SESSION.SET", id, "cart", "4").Int
	if v2 <= v1 {
		t.Fatalf("version did not advance: %d -> %d", v1, v2)
	}
	if code := errCode(cl[2].do("SESSION.SET", id, "IFVERSION", strconv.FormatInt(v1, 10), "cart", "5")); code != wire.CodeConflict {
		t.Fatalf("stale IFVERSION: code %q, want CONFLICT", code)
	}
	v3 := cl[2].ok("SESSION.SET", id, "IFVERSION", strconv.FormatInt(v2, 10), "cart", "6").Int
	v4 := cl[0].ok("SESSION.UNSET", id, "role").Int
	if v4 <= v3 {
		t.Fatalf("unset version %d <= %d", v4, v3)
	}
	got := asMap(t, cl[2].ok("SESSION.GET", id))
	if f := asMap(t, got["fields"]); f["cart"].Str != "6" || len(f) != 1 {
		t.Fatalf("fields after updates: %+v", f)
	}

	// Rotate: the new id has the data, the old id is gone everywhere.
	newID := cl[1].ok("SESSION.ROTATE", id).Str
	if newID == id || newID == "" {
		t.Fatalf("rotate returned %q", newID)
	}
	for i := 0; i < 3; i++ {
		if code := errCode(cl[i].do("SESSION.GET", id)); code != wire.CodeNotFound {
			t.Fatalf("node %d: old id after rotate: code %q", i, code)
		}
		got := asMap(t, cl[i].ok("SESSION.GET", newID))
		if f := asMap(t, got["fields"]); f["cart"].Str != "6" {
			t.Fatalf("rotated fields: %+v", f)
		}
	}

	// A second session of alice, one of bob; list and revoke by subject.
	other := asMap(t, cl[2].ok("SESSION.CREATE", "SUBJECT", "alice"))["id"].Str
	bob := asMap(t, cl[2].ok("SESSION.CREATE", "SUBJECT", "bob"))["id"].Str
	if l := cl[0].ok("SESSION.LIST", "alice"); len(l.Elems) != 2 {
		t.Fatalf("list alice: %d sessions, want 2", len(l.Elems))
	}
	perGroup := 0
	for g := 0; g < 3; g++ {
		perGroup += len(cl[g].ok("SESSION.LIST", "alice", "GROUP", strconv.Itoa(g)).Elems)
	}
	if perGroup != 2 {
		t.Fatalf("per-group lists found %d sessions, want 2", perGroup)
	}
	if code := errCode(cl[0].do("SESSION.LIST", "alice", "GROUP", "3")); code != wire.CodeBadArg {
		t.Fatalf("list of a missing group: %q", code)
	}
	if n := cl[1].ok("SESSION.REVOKE", "alice", "EXCEPT", newID).Int; n != 1 {
		t.Fatalf("revoke except: %d, want 1", n)
	}
	if code := errCode(cl[0].do("SESSION.GET", other)); code != wire.CodeNotFound {
		t.Fatalf("revoked session still served: %q", code)
	}
	if n := cl[1].ok("SESSION.REVOKE", "alice").Int; n != 1 {
		t.Fatalf("revoke: %d, want 1", n)
	}
	if l := cl[2].ok("SESSION.LIST", "alice"); len(l.Elems) != 0 {
		t.Fatalf("list after revoke: %d", len(l.Elems))
	}

	// Touch and destroy.
	if n := cl[0].ok("SESSION.TOUCH", bob, "nosuchid").Int; n != 1 {
		t.Fatalf("touch: %d", n)
	}
	if n := cl[0].ok("SESSION.DESTROY", bob, "nosuchid").Int; n != 1 {
		t.Fatalf("destroy: %d", n)
	}
	for i := 0; i < 3; i++ {
		if code := errCode(cl[i].do("SESSION.GET", bob)); code != wire.CodeNotFound {
			t.Fatalf("destroyed session served by node %d: %q", i, code)
		}
	}
}

// TestTopologyBalanced checks TOPOLOGY on every node shows every group with
// one leader and that leadership spreads over the nodes.
func TestTopologyBalanced(t *testing.T) {
	c := startCluster(t, 3, nil)
	waitFor(t, 30*time.Second, "balanced leadership", func() error {
		leaders := map[string]int{}
		for i := 0; i < 3; i++ {
			top := asMap(t, (&clientT{t: t, c: c.client(i)}).ok("TOPOLOGY"))
			groups := top["groups"].Elems
			if len(groups) != 3 {
				return fmt.Errorf("node %d: %d groups", i, len(groups))
			}
			for _, g := range groups {
				gm := asMap(t, g)
				if gm["leader"].Str == "" {
					return fmt.Errorf("node %d group %d: no leader", i, gm["group"].Int)
				}
				if len(gm["members"].Elems) != 3 {
					return fmt.Errorf("group %d: %d members", gm["group"].Int, len(gm["members"].Elems))
				}
				if i == 0 {
					leaders[gm["leader"].Str]++
				}
			}
		}
		if len(leaders) != 3 {
			return fmt.Errorf("leaders not spread: %v", leaders)
		}
		return nil
	})
}

// TestCallerIDAndTTLUpdate covers the store-facing options: a create with a
// caller-chosen id (scs owns its tokens) and SET ... TTL moving the absolute
// deadline.
func TestCallerIDAndTTLUpdate(t *testing.T) {
	c := startCluster(t, 3, nil)
	cl := &clientT{t: t, c: c.client(0)}
	const id = "caller-chosen-token-0123456789abcdefghijk"
	rec := asMap(t, cl.ok("SESSION.CREATE", "ID", id, "TTL", "1h", "FIELDS", "data", "x"))
	if rec["id"].Str != id {
		t.Fatalf("id %q", rec["id"].Str)
	}
	if code := errCode(cl.do("SESSION.CREATE", "ID", id)); code != wire.CodeExists {
		t.Fatalf("duplicate caller id: %q, want EXISTS", code)
	}
	before := rec["absolute_deadline_ms"].Int
	cl.ok("SESSION.SET", id, "TTL", "2h")
	after := asMap(t, (&clientT{t: t, c: c.client(2)}).ok("SESSION.GET", id))["absolute_deadline_ms"].Int
	if after-before < 3500*1000 {
		t.Fatalf("deadline moved from %d to %d, want about +1h", before, after)
	}
	cl.ok("SESSION.SET", id, "TTL", "1s", "data", "y")
	waitFor(t, 3*time.Second, "shortened session to expire", func() error {
		if code := errCode(cl.do("SESSION.GET", id)); code != wire.CodeNotFound {
			return fmt.Errorf("still served: %q", code)
		}
		return nil
	})
	if code := errCode(cl.do("SESSION.SET", "x", "TTL", "-1")); code != wire.CodeBadArg {
		t.Fatalf("negative ttl: %q", code)
	}
}

// TestRequestIDRetries: a create or rotate retried with the same REQID,
// at any node, applies once and answers with the original id.
func TestRequestIDRetries(t *testing.T) {
	c := startCluster(t, 3, nil)
	first := asMap(t, (&clientT{t: t, c: c.client(0)}).ok("SESSION.CREATE", "REQID", "req-1", "FIELDS", "a", "1"))
	for i := 0; i < 3; i++ {
		again := asMap(t, (&clientT{t: t, c: c.client(i)}).ok("SESSION.CREATE", "REQID", "req-1", "FIELDS", "a", "1"))
		if again["id"].Str != first["id"].Str {
			t.Fatalf("retry at node %d created %s, original %s", i, again["id"].Str, first["id"].Str)
		}
	}
	cl := &clientT{t: t, c: c.client(1)}
	n1 := cl.ok("SESSION.ROTATE", first["id"].Str, "REQID", "rot-1").Str
	n2 := (&clientT{t: t, c: c.client(2)}).ok("SESSION.ROTATE", first["id"].Str, "REQID", "rot-1").Str
	if n1 != n2 {
		t.Fatalf("rotate retry answered %s, original %s", n2, n1)
	}
	cl.ok("SESSION.GET", n1)
	// Tombstones: a destroyed id cannot be created again by a caller.
	cl.ok("SESSION.DESTROY", n1)
	if code := errCode(cl.do("SESSION.CREATE", "ID", n1)); code != wire.CodeExists {
		t.Fatalf("re-create of a destroyed id: %q", code)
	}
}
