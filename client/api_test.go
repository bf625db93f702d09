//go:build unix

package client

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestCreateGet(t *testing.T) {
	c := newClient(t, Config{})
	ctx := testCtx(t)
	before := time.Now().Add(-time.Second)
	s, err := c.Create(ctx, WithSubject("alice"), WithTTL(time.Hour), WithIdleTimeout(30*time.Minute),
		WithField("cart", b("3")), WithFields(map[string][]byte{"theme": b("dark"), "n": b("42")}))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.ID) != 22 || s.Subject != "alice" || s.Version == 0 {
		t.Fatalf("created %+v", s)
	}
	if s.Created.Before(before) || s.LastAccess.IsZero() || s.IdleTimeout != 30*time.Minute {
		t.Errorf("times: %+v", s)
	}
	if d := s.AbsoluteDeadline.Sub(s.Created); d != time.Hour {
		t.Errorf("absolute deadline %v after creation, want 1h", d)
	}
	if d := s.ExpiresAt.Sub(s.LastAccess); d != 30*time.Minute {
		t.Errorf("expires %v after last access, want 30m", d)
	}
	if v, _ := s.String("cart"); v != "3" {
		t.Errorf("cart = %q", v)
	}
	if n, ok := s.Int("n"); !ok || n != 42 {
		t.Errorf("n = %d, %v", n, ok)
	}
	for _, level := range []Consistency{Linearizable, Leader} {
		g, err := c.Get(ctx, s.ID, WithConsistency(level), WithoutTouch())
		if err != nil {
			t.Fatalf("%s: %v", level, err)
		}
		if g.ID != s.ID || g.Version != s.Version || len(g.Fields) != 3 || string(g.Fields["theme"]) != "dark" {
			t.Errorf("%s: got %+v", level, g)
		}
	}
	// A stale replica may not have the session yet: that is what stale means.
	waitGet(t, c, s.ID, WithConsistency(Stale), WithMaxStaleness(5*time.Second))

	// Without options: no subject, no expiry.
	p, err := c.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "" || !p.ExpiresAt.IsZero() || !p.AbsoluteDeadline.IsZero() || len(p.Fields) != 0 {
		t.Errorf("plain session: %+v", p)
	}

	// WithID: the caller's id, routed to its group.
	id := "caller-chosen-" + randomToken()
	q, err := c.Create(ctx, WithID(id), WithField("a", b("1")))
	if err != nil || q.ID != id {
		t.Fatalf("WithID: %+v, %v", q, err)
	}
	if _, err := c.Create(ctx, WithID(id)); !errors.Is(err, ErrExists) {
		t.Errorf("second create of %s: %v, want ErrExists", id, err)
	}
}

// waitGet reads id until it is found (a stale replica may lag).
func waitGet(t *testing.T, c *Client, id string, opts ...Option) *Session {
	t.Helper()
	ctx := testCtx(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := c.Get(ctx, id, opts...)
		if err == nil {
			return s
		}
		if !errors.Is(err, ErrNotFound) || time.Now().After(deadline) {
			t.Fatalf("get %s: %v", id, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSetUnset(t *testing.T) {
	c := newClient(t, Config{})
	ctx := testCtx(t)
	s, err := c.Create(ctx, WithSubject("bob"), WithTTL(time.Hour), WithField("a", b("1")))
	if err != nil {
		t.Fatal(err)
	}
	v1, err := c.Set(ctx, s.ID, map[string][]byte{"b": b("2"), "c": b("3")})
	if err != nil || v1 <= s.Version {
		t.Fatalf("set: %d, %v (was %d)", v1, err, s.Version)
	}
	v2, err := c.Set(ctx, s.ID, map[string][]byte{"a": b("10")}, IfVersion(v1))
	if err != nil || v2 <= v1 {
		t.Fatalf("set IfVersion: %d, %v", v2, err)
	}
	if _, err := c.Set(ctx, s.ID, map[string][]byte{"a": b("11")}, IfVersion(v1)); !errors.Is(err, ErrConflict) {
		t.Fatalf("set at old version: %v, want ErrConflict", err)
	}
	v3, err := c.Unset(ctx, s.ID, []string{"b", "c"}, IfVersion(v2))
	if err != nil || v3 <= v2 {
		t.Fatalf("unset: %d, %v", v3, err)
	}
	if _, err := c.Unset(ctx, s.ID, []string{"a"}, IfVersion(v2)); !errors.Is(err, ErrConflict) {
		t.Fatalf("unset at old version: %v, want ErrConflict", err)
	}
	g, err := c.Get(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if g.Version != v3 || len(g.Fields) != 1 || string(g.Fields["a"]) != "10" {
		t.Fatalf("after set/unset: %+v", g)
	}

	// WithTTL alone moves the absolute deadline.
	v4, err := c.Set(ctx, s.ID, nil, WithTTL(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	g, _ = c.Get(ctx, s.ID)
	if g.Version != v4 || g.AbsoluteDeadline.After(time.Now().Add(11*time.Minute)) || g.AbsoluteDeadline.Before(time.Now().Add(9*time.Minute)) {
		t.Errorf("WithTTL: deadline %v, version %d/%d", g.AbsoluteDeadline, g.Version, v4)
	}
	// ... and with fields, both.
	if _, err := c.Unset(ctx, s.ID, []string{"a"}, WithTTL(20*time.Minute)); err != nil {
		t.Fatal(err)
	}
	g, _ = c.Get(ctx, s.ID)
	if len(g.Fields) != 0 || g.AbsoluteDeadline.Before(time.Now().Add(19*time.Minute)) {
		t.Errorf("Unset WithTTL: %+v", g)
	}

	// Field names that are also option words are still fields.
	fields := map[string][]byte{"TTL": b("30m"), "reqid": b("r"), "IfVersion": b("7"), "x": b("y")}
	if _, err := c.Set(ctx, s.ID, fields); err != nil {
		t.Fatal(err)
	}
	g, _ = c.Get(ctx, s.ID)
	for k, v := range fields {
		if string(g.Fields[k]) != string(v) {
			t.Errorf("field %q = %q, want %q (all: %q)", k, g.Fields[k], v, g.Fields)
		}
	}
	if !g.AbsoluteDeadline.Before(time.Now().Add(21 * time.Minute)) {
		t.Errorf("field TTL was taken for the option: deadline %v", g.AbsoluteDeadline)
	}
}

// TestOptionWordFields round-trips fields named like the server's write
// options, alone (where the server would take them for options without
// FIELDS) and together, through Create, Set and Unset against real nodes.
func TestOptionWordFields(t *testing.T) {
	c := newClient(t, Config{})
	ctx := testCtx(t)
	words := []string{"TTL", "REQID", "IFVERSION", "FIELDS", "ttl", "ReqId", "IfVersion", "fields", "IDLE", "SUBJECT", "ID"}
	for _, w := range words {
		t.Run(w, func(t *testing.T) {
			// Create with only that field: it must not set the TTL (or
			// anything else) of the session.
			s, err := c.Create(ctx, WithField(w, b("1h")))
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			if string(s.Fields[w]) != "1h" || len(s.Fields) != 1 || !s.AbsoluteDeadline.IsZero() {
				t.Fatalf("Create: fields %q, deadline %v", s.Fields, s.AbsoluteDeadline)
			}
			// Set with only that field, with options before it.
			v, err := c.Set(ctx, s.ID, map[string][]byte{w: b("5")}, IfVersion(s.Version), WithTTL(time.Hour))
			if err != nil {
				t.Fatalf("Set: %v", err)
			}
			g, err := c.Get(ctx, s.ID, WithoutTouch())
			if err != nil {
				t.Fatal(err)
			}
			if g.Version != v || string(g.Fields[w]) != "5" || len(g.Fields) != 1 {
				t.Fatalf("after Set: version %d/%d, fields %q", g.Version, v, g.Fields)
			}
			if d := time.Until(g.AbsoluteDeadline); d < 50*time.Minute || d > 61*time.Minute {
				t.Errorf("WithTTL(1h) with a field %q: deadline in %v", w, d)
			}
			// Set only the TTL: the field stays.
			if _, err := c.Set(ctx, s.ID, nil, WithTTL(2*time.Hour)); err != nil {
				t.Fatalf("Set TTL only: %v", err)
			}
			// Unset only that field.
			if _, err := c.Unset(ctx, s.ID, []string{w}); err != nil {
				t.Fatalf("Unset: %v", err)
			}
			g, err = c.Get(ctx, s.ID, WithoutTouch())
			if err != nil {
				t.Fatal(err)
			}
			if len(g.Fields) != 0 {
				t.Errorf("after Unset: fields %q", g.Fields)
			}
			if d := time.Until(g.AbsoluteDeadline); d < 110*time.Minute {
				t.Errorf("TTL-only Set: deadline in %v, want about 2h", d)
			}
		})
	}

	// All at once, created together and unset together in a given order.
	all := map[string][]byte{}
	var opts []Option
	for i, w := range words {
		all[w] = b(strconv.Itoa(i))
		opts = append(opts, WithField(w, all[w]))
	}
	s, err := c.Create(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.EqualFunc(s.Fields, all, bytes.Equal) {
		t.Fatalf("Create: fields %q, want %q", s.Fields, all)
	}
	if _, err := c.Set(ctx, s.ID, all); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Unset(ctx, s.ID, words); err != nil {
		t.Fatal(err)
	}
	g, err := c.Get(ctx, s.ID, WithoutTouch())
	if err != nil || len(g.Fields) != 0 {
		t.Fatalf("after Unset of all: %q, %v", g.Fields, err)
	}
}

func TestRotate(t *testing.T) {
	c := newClient(t, Config{})
	ctx := testCtx(t)
	s, err := c.Create(ctx, WithSubject("carol"), WithField("k", b("v")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Rotate(ctx, s.ID, IfVersion(s.Version+1000)); !errors.Is(err, ErrConflict) {
		t.Fatalf("rotate at wrong version: %v", err)
	}
	nid, err := c.Rotate(ctx, s.ID, IfVersion(s.Version))
	if err != nil {
		t.Fatal(err)
	}
	if nid == s.ID || len(nid) != 22 {
		t.Fatalf("new id %q", nid)
	}
	if _, err := c.Get(ctx, s.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("old id after rotate: %v", err)
	}
	g, err := c.Get(ctx, nid)
	if err != nil || g.Subject != "carol" || string(g.Fields["k"]) != "v" {
		t.Fatalf("new id: %+v, %v", g, err)
	}
	if _, err := c.Rotate(ctx, s.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("rotate of a gone id: %v", err)
	}
}

// TestReplays sends writes twice with the same request id, as the client
// does after an unknown outcome, and checks what it makes of the replies.
func TestReplays(t *testing.T) {
	c := newClient(t, Config{})
	ctx := testCtx(t)
	o, err := collect("Create", createOpts, []Option{WithSubject("dave"), WithField("f", b("1")), WithIdleTimeout(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	id, req := "replay-"+randomToken(), newReqID()
	first, err := c.create(ctx, id, req, o)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.create(ctx, id, req, o)
	if err != nil {
		t.Fatalf("replayed create: %v (must be recognised, not EXISTS)", err)
	}
	if again.ID != id || again.Version != first.Version || again.Subject != "dave" ||
		string(again.Fields["f"]) != "1" || again.IdleTimeout != time.Hour || !again.Created.Equal(first.Created) {
		t.Errorf("replayed create: %+v, first %+v", again, first)
	}

	// Rotate: the replay must name the id the first attempt created.
	rreq := newReqID()
	nid, err := c.rotate(ctx, id, rreq, &options{}, false)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.rotate(ctx, id, rreq, &options{}, true)
	switch {
	case err == nil && got != nid:
		t.Errorf("replayed rotate returned %q, but the session is %q", got, nid)
	case err != nil && !errors.Is(err, ErrIndeterminate):
		t.Errorf("replayed rotate: %v", err)
	case err != nil:
		t.Errorf("replayed rotate: %v (the server's replay must carry the new id)", err)
	}
	if _, err := c.Get(ctx, nid); err != nil {
		t.Errorf("rotated session: %v", err)
	}
}

func TestTouchDestroy(t *testing.T) {
	// Sessions in several groups: Touch and Destroy split ids by group.
	c := newClient(t, Config{SpreadCreates: true})
	ctx := testCtx(t)
	var ids []string
	groups := map[int]bool{}
	for range 12 {
		s, err := c.Create(ctx, WithIdleTimeout(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
		groups[c.topo.Load().group(s.ID)] = true
	}
	if len(groups) < 2 {
		t.Fatalf("12 creates landed in %d group(s): creates are not spread over the leaders", len(groups))
	}
	missing := "missing-" + randomToken()
	n, err := c.Touch(ctx, slices.Concat(ids, []string{missing})...)
	if err != nil || n != len(ids) {
		t.Fatalf("touch: %d, %v", n, err)
	}
	n, err = c.Destroy(ctx, slices.Concat(ids[:6], []string{missing})...)
	if err != nil || n != 6 {
		t.Fatalf("destroy: %d, %v", n, err)
	}
	for i, id := range ids {
		_, err := c.Get(ctx, id)
		if (i < 6) != errors.Is(err, ErrNotFound) {
			t.Errorf("session %d after destroying the first 6: %v", i, err)
		}
	}
	if n, err := c.Destroy(ctx, ids...); err != nil || n != 6 {
		t.Errorf("second destroy: %d, %v", n, err)
	}
	if n, err := c.Touch(ctx); err != nil || n != 0 {
		t.Errorf("touch of nothing: %d, %v", n, err)
	}
	// More ids than one request may carry: sent in several.
	var many []string
	for range 6 {
		s, err := c.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		many = append(many, s.ID)
	}
	for range 3 * maxIDsPerRequest {
		many = append(many, "missing-"+randomToken())
	}
	if n, err := c.Touch(ctx, many...); err != nil || n != 6 {
		t.Errorf("touch of %d ids: %d, %v", len(many), n, err)
	}
	if n, err := c.Destroy(ctx, many...); err != nil || n != 6 {
		t.Errorf("destroy of %d ids: %d, %v", len(many), n, err)
	}
}

func TestListRevoke(t *testing.T) {
	c := newClient(t, Config{})
	ctx := testCtx(t)
	for _, subject := range []string{"erin-" + randomToken(), "group", "GROUP"} {
		t.Run(subject, func(t *testing.T) {
			if _, err := c.Revoke(ctx, subject); err != nil { // left over from -count>1
				t.Fatal(err)
			}
			var ids []string
			for range 9 {
				s, err := c.Create(ctx, WithSubject(subject))
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, s.ID)
			}
			slices.Sort(ids)
			list, err := c.List(ctx, subject)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range list {
				got = append(got, s.ID)
				if s.Subject != subject {
					t.Errorf("listed %+v", s)
				}
			}
			if !slices.Equal(got, ids) {
				t.Fatalf("list: %v, want %v", got, ids)
			}
			for _, level := range []Consistency{Leader, Stale} {
				if _, err := c.List(ctx, subject, WithConsistency(level), WithMaxStaleness(time.Second)); err != nil {
					t.Errorf("list %s: %v", level, err)
				}
			}
			n, err := c.Revoke(ctx, subject, WithExcept(ids[4]))
			if err != nil || n != 8 {
				t.Fatalf("revoke: %d, %v", n, err)
			}
			list, err = c.List(ctx, subject)
			if err != nil || len(list) != 1 || list[0].ID != ids[4] {
				t.Fatalf("after revoke: %v, %v", list, err)
			}
			if n, err := c.Revoke(ctx, subject); err != nil || n != 1 {
				t.Fatalf("revoke all: %d, %v", n, err)
			}
		})
	}
	// An except id spelled like the GROUP option.
	if _, err := c.Revoke(ctx, "frank", WithExcept("group")); err != nil {
		t.Errorf("revoke except \"group\": %v", err)
	}
}

func TestErrors(t *testing.T) {
	c := newClient(t, Config{})
	ctx := testCtx(t)
	s, err := c.Create(ctx, WithSubject("grace"))
	if err != nil {
		t.Fatal(err)
	}
	_, errNotFound := c.Get(ctx, "no-such-"+randomToken())
	_, errConflict := c.Set(ctx, s.ID, map[string][]byte{"a": b("1")}, IfVersion(s.Version+1000))
	_, errTooLarge := c.Set(ctx, s.ID, map[string][]byte{"a": make([]byte, 5000)}) // > --max-value-bytes 4096
	_, errTooLargeID := c.Create(ctx, WithID(strings.Repeat("x", 600)))            // over the 512-byte key limit
	_, errExists := c.Create(ctx, WithID(s.ID))
	_, errServerInvalid := c.Revoke(ctx, "") // the server refuses an empty subject
	_, errNoFields := c.Set(ctx, s.ID, nil)
	_, errBadOption := c.Get(ctx, s.ID, WithSubject("x"))
	_, errBadTTL := c.Create(ctx, WithTTL(-time.Second))
	_, errBadLevel := c.Get(ctx, s.ID, WithConsistency("eventual"))
	for _, tc := range []struct {
		name   string
		err    error
		want   error
		server bool // carries a *ServerError
	}{
		{"NotFound", errNotFound, ErrNotFound, true},
		{"Conflict", errConflict, ErrConflict, true},
		{"TooLarge value", errTooLarge, ErrTooLarge, true},
		{"TooLarge id", errTooLargeID, ErrTooLarge, true},
		{"Exists", errExists, ErrExists, true},
		{"Invalid (server)", errServerInvalid, ErrInvalid, true},
		{"Invalid (no fields)", errNoFields, ErrInvalid, false},
		{"Invalid (option)", errBadOption, ErrInvalid, false},
		{"Invalid (TTL)", errBadTTL, ErrInvalid, false},
		{"Invalid (level)", errBadLevel, ErrInvalid, false},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
			continue
		}
		var se *ServerError
		if errors.As(tc.err, &se) != tc.server {
			t.Errorf("%s: %v: ServerError %v, want %v", tc.name, tc.err, se != nil, tc.server)
		}
		if se != nil && (se.Message == "" || se.Addr == "") {
			t.Errorf("%s: server error without message or address: %+v", tc.name, se)
		}
		for _, other := range []error{ErrNotFound, ErrConflict, ErrTooLarge, ErrInvalid, ErrExists, ErrUnavailable, ErrIndeterminate, ErrStale} {
			if other != tc.want && errors.Is(tc.err, other) {
				t.Errorf("%s: %v also matches %v", tc.name, tc.err, other)
			}
		}
	}
	var se *ServerError
	if errors.As(errNotFound, &se) && se.Code != "NOTFOUND" {
		t.Errorf("code %q", se.Code)
	}
}

func TestClosed(t *testing.T) {
	c := newClient(t, Config{})
	ctx := testCtx(t)
	s, err := c.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, s.ID); !errors.Is(err, ErrClosed) {
		t.Errorf("get after close: %v", err)
	}
	if _, err := c.Create(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("create after close: %v", err)
	}
	if _, err := c.List(ctx, "x"); !errors.Is(err, ErrClosed) {
		t.Errorf("list after close: %v", err)
	}
}

func TestContextEnds(t *testing.T) {
	c := newClient(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Get(ctx, "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("get with a done context: %v", err)
	}
	// A write that was never sent is not indeterminate.
	if _, err := c.Set(ctx, "x", map[string][]byte{"a": b("1")}); !errors.Is(err, context.Canceled) || errors.Is(err, ErrIndeterminate) {
		t.Errorf("set with a done context: %v", err)
	}
}
