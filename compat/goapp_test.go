package compat

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// goApp is a Go web application with a session store: its routes are
// POST /login?user=u[&s=seconds] (a session for u, with a lifetime of s
// seconds when given), POST /incr, GET /me ({"user","count","id"}) and
// POST /logout.
type goApp struct {
	handler http.Handler
	// key is the Redis key of the session whose id /me answers.
	key func(id string) string
	// all, if set, lists the ids of the live sessions through the
	// store's own listing (scs's Iterate: KEYS or SCAN).
	all func(ctx context.Context) ([]string, error)
}

type meReply struct {
	User  string `json:"user"`
	Count int    `json:"count"`
	ID    string `json:"id"`
}

// browser is one user agent: an HTTP client with its own cookie jar.
type browser struct {
	t   *testing.T
	c   *http.Client
	url string
}

func newBrowser(t *testing.T, srv *httptest.Server) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	// A client of its own (srv.Client() is one shared client), on the
	// server's transport.
	c := &http.Client{Transport: srv.Client().Transport, Jar: jar, Timeout: time.Minute}
	return &browser{t: t, c: c, url: srv.URL}
}

func (b *browser) post(path string) {
	b.t.Helper()
	if err := b.tryPost(path); err != nil {
		b.t.Fatal(err)
	}
}

// tryPost is post for goroutines other than the test's.
func (b *browser) tryPost(path string) error {
	res, err := b.c.Post(b.url+path, "text/plain", nil)
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s: %s", path, res.Status, body)
	}
	return nil
}

func (b *browser) me() meReply {
	b.t.Helper()
	res, err := b.c.Get(b.url + "/me")
	if err != nil {
		b.t.Fatalf("GET /me: %v", err)
	}
	defer res.Body.Close()
	var m meReply
	if res.StatusCode != http.StatusOK {
		b.t.Fatalf("GET /me: %s", res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
		b.t.Fatalf("GET /me: %v", err)
	}
	return m
}

// checkGoApp runs the checks every store passes (as the scripts in js/
// and py/ do) on app, and returns the key of a session it leaves alive.
// The app's own store is what is tested; rdb, a plain go-redis client on
// the same node, only looks at the keys (PTTL, EXISTS).
func checkGoApp(t *testing.T, r storeRun, app goApp) string {
	t.Helper()
	srv := httptest.NewServer(app.handler)
	t.Cleanup(srv.Close)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	exists := func(key string) int64 {
		t.Helper()
		n, err := rdb.Exists(ctx, key).Result()
		if err != nil {
			t.Fatalf("EXISTS %s: %v", key, err)
		}
		return n
	}
	pttl := func(key string) time.Duration {
		t.Helper()
		d, err := rdb.PTTL(ctx, key).Result()
		if err != nil {
			t.Fatalf("PTTL %s: %v", key, err)
		}
		return d
	}

	// A session made by one request is read by the next.
	alice := newBrowser(t, srv)
	alice.post("/login?user=alice")
	a1 := alice.me()
	if a1.User != "alice" || a1.ID == "" {
		t.Fatalf("after login: %+v", a1)
	}
	aliceKey := app.key(a1.ID)
	if exists(aliceKey) != 1 {
		t.Fatalf("no key %s after login", aliceKey)
	}
	live := map[string]bool{a1.ID: true} // sessions the store must list
	if r.Pause != nil {
		// Requests in flight while the node dies: another user keeps
		// counting, one request after the other, through the failover.
		erin := newBrowser(t, srv)
		erin.post("/login?user=erin")
		live[erin.me().ID] = true
		stop, done := make(chan struct{}), make(chan error, 1)
		var incrs, indeterminate int
		go func() {
			for {
				select {
				case <-stop:
					done <- nil
					return
				default:
				}
				err := erin.tryPost("/incr")
				switch {
				case err == nil:
					incrs++
				case strings.Contains(err.Error(), "INDETERMINATE"):
					// A write in flight to the leader as it died: applied
					// or not, nobody knows. Redis says the same with a
					// dropped connection; this is the one error allowed.
					indeterminate++
				default:
					done <- err
					return
				}
			}
		}()
		r.Pause()
		if m := alice.me(); m.User != "alice" {
			t.Fatalf("the session made before the kill: %+v", m)
		}
		r.Settle() // erin's requests go on until every group has a leader again
		close(stop)
		if err := <-done; err != nil {
			t.Fatalf("a request in flight during the failover: %v", err)
		}
		if m := erin.me(); m.Count < incrs || m.Count > incrs+indeterminate || incrs == 0 {
			t.Fatalf("%d /incr answered 200 and %d INDETERMINATE during the failover, the session counts %d", incrs, indeterminate, m.Count)
		}
		if indeterminate > 0 {
			t.Logf("%d /incr answered INDETERMINATE (the write in flight as the leader died)", indeterminate)
		}
		t.Logf("%d requests went through from the kill to the new leaders", incrs)
	}

	// A change persists.
	alice.post("/incr")
	alice.post("/incr")
	if m := alice.me(); m.Count != 2 {
		t.Fatalf("after two /incr: %+v", m)
	}

	// Touch: a request pushes the expiry out again.
	if err := rdb.PExpire(ctx, aliceKey, 5*time.Second).Err(); err != nil {
		t.Fatal(err)
	}
	alice.me()
	if d := pttl(aliceKey); d <= 50*time.Second || d > 60*time.Second {
		t.Fatalf("PTTL after a request: %v, want it back near 60s", d)
	}

	// A session with a 2 s lifetime is gone after it.
	bob := newBrowser(t, srv)
	bob.post("/login?user=bob&s=2")
	b1 := bob.me()
	if b1.User != "bob" {
		t.Fatalf("bob: %+v", b1)
	}
	bobKey := app.key(b1.ID)
	if d := pttl(bobKey); d <= 0 || d > 2*time.Second {
		t.Fatalf("PTTL of a 2 s session: %v", d)
	}
	born := time.Now()
	deadline := born.Add(20 * time.Second)
	for exists(bobKey) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the 2 s session is still there after 20 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if time.Since(born) < 900*time.Millisecond {
		t.Fatalf("the 2 s session expired after %v", time.Since(born))
	}
	if m := bob.me(); m.User != "" {
		t.Fatalf("after expiry: %+v", m)
	}

	// Logout removes the session.
	carol := newBrowser(t, srv)
	carol.post("/login?user=carol")
	carolKey := app.key(carol.me().ID)
	if exists(carolKey) != 1 {
		t.Fatalf("no key %s", carolKey)
	}
	carol.post("/logout")
	if exists(carolKey) != 0 {
		t.Fatalf("%s still there after logout", carolKey)
	}
	if m := carol.me(); m.User != "" {
		t.Fatalf("after logout: %+v", m)
	}

	// The store's own listing sees exactly the live sessions.
	if app.all != nil {
		want := live
		for _, u := range []string{"u1", "u2", "u3"} {
			b := newBrowser(t, srv)
			b.post("/login?user=" + u)
			want[b.me().ID] = true
		}
		ids, err := app.all(ctx)
		if err != nil {
			t.Fatalf("the store's listing: %v", err)
		}
		got := map[string]bool{}
		for _, id := range ids {
			got[id] = true
		}
		if len(got) != len(want) || len(ids) != len(want) {
			t.Fatalf("the store lists %v, want %v", ids, want)
		}
		for id := range want {
			if !got[id] {
				t.Fatalf("the store lists %v, want %v", ids, want)
			}
		}
	}

	dave := newBrowser(t, srv)
	dave.post("/login?user=dave")
	return app.key(dave.me().ID)
}
