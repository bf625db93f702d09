package scsstore_test

// scs's own session-manager behaviours (its session_test.go), with this
// store under a real scs.SessionManager.

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/sessionraft/sessionraft/client/scsstore"
)

type testServer struct {
	*httptest.Server
	c *http.Client
}

// newTestServer serves a small app: /put, /get, /renew, /destroy.
func newTestServer(t *testing.T, sm *scs.SessionManager) *testServer {
	mux := http.NewServeMux()
	mux.HandleFunc("/put", func(w http.ResponseWriter, r *http.Request) {
		sm.Put(r.Context(), "foo", "bar")
	})
	mux.HandleFunc("/get", func(w http.ResponseWriter, r *http.Request) {
		v, ok := sm.Get(r.Context(), "foo").(string)
		if !ok {
			http.Error(w, "foo does not exist in session", 500)
			return
		}
		_, _ = io.WriteString(w, v)
	})
	mux.HandleFunc("/renew", func(w http.ResponseWriter, r *http.Request) {
		if err := sm.RenewToken(r.Context()); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	mux.HandleFunc("/destroy", func(w http.ResponseWriter, r *http.Request) {
		if err := sm.Destroy(r.Context()); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	ts := httptest.NewTLSServer(sm.LoadAndSave(mux))
	t.Cleanup(ts.Close)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{
		Transport:     ts.Client().Transport,
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &testServer{ts, c}
}

func (ts *testServer) execute(t *testing.T, path string) (http.Header, string) {
	t.Helper()
	rs, err := ts.c.Get(ts.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Body.Close()
	body, err := io.ReadAll(rs.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rs.Header, string(body)
}

func extractTokenFromCookie(c string) string {
	parts := strings.Split(c, ";")
	return strings.SplitN(parts[0], "=", 2)[1]
}

func newManager() (*scs.SessionManager, *scsstore.Store) {
	store := scsstore.New(cl)
	sm := scs.New()
	sm.Store = store
	return sm, store
}

const missing = "foo does not exist in session\n"

func TestEnable(t *testing.T) {
	needCluster(t)
	sm, store := newManager()
	ts := newTestServer(t, sm)

	header, _ := ts.execute(t, "/put")
	token1 := extractTokenFromCookie(header.Get("Set-Cookie"))
	if _, found, err := store.Find(token1); !found || err != nil {
		t.Fatalf("token %s not in the store: %v %v", token1, found, err)
	}

	header, body := ts.execute(t, "/get")
	if body != "bar" {
		t.Errorf("want %q; got %q", "bar", body)
	}
	if header.Get("Set-Cookie") != "" {
		t.Errorf("want %q; got %q", "", header.Get("Set-Cookie"))
	}

	header, _ = ts.execute(t, "/put")
	token2 := extractTokenFromCookie(header.Get("Set-Cookie"))
	if token1 != token2 {
		t.Error("want tokens to be the same")
	}

	// Another manager on the same cluster (another web server) sees the
	// session: the data lives in the cluster, not in the process.
	sm2, _ := newManager()
	ts2 := newTestServer(t, sm2)
	u := mustParse(t, ts2.URL)
	ts2.c.Jar.SetCookies(u, []*http.Cookie{{Name: "session", Value: token1, Path: "/"}})
	if _, body := ts2.execute(t, "/get"); body != "bar" {
		t.Errorf("second server: want %q; got %q", "bar", body)
	}
}

func TestLifetime(t *testing.T) {
	needCluster(t)
	sm, store := newManager()
	sm.Lifetime = time.Second
	ts := newTestServer(t, sm)

	header, _ := ts.execute(t, "/put")
	token := extractTokenFromCookie(header.Get("Set-Cookie"))
	if _, body := ts.execute(t, "/get"); body != "bar" {
		t.Errorf("want %q; got %q", "bar", body)
	}
	// The store forgets the token at the deadline scs gave it.
	waitMiss(t, store, token, 10*time.Second)
	if _, body := ts.execute(t, "/get"); body != missing {
		t.Errorf("want %q; got %q", missing, body)
	}
}

func TestIdleTimeout(t *testing.T) {
	needCluster(t)
	sm, store := newManager()
	sm.IdleTimeout = 1500 * time.Millisecond
	sm.Lifetime = time.Minute
	ts := newTestServer(t, sm)

	header, _ := ts.execute(t, "/put")
	token := extractTokenFromCookie(header.Get("Set-Cookie"))
	// Use the session for longer than the idle timeout: each request moves
	// the expiry (scs commits it; the store moves the deadline).
	start := time.Now()
	for time.Since(start) < 3*time.Second {
		if _, body := ts.execute(t, "/get"); body != "bar" {
			t.Fatalf("after %v of use: want %q; got %q", time.Since(start), "bar", body)
		}
		time.Sleep(300 * time.Millisecond) // pacing the requests, not synchronisation
	}
	// Then stop: it expires.
	waitMiss(t, store, token, 10*time.Second)
	if _, body := ts.execute(t, "/get"); body != missing {
		t.Errorf("want %q; got %q", missing, body)
	}
}

func TestDestroy(t *testing.T) {
	needCluster(t)
	sm, store := newManager()
	ts := newTestServer(t, sm)

	header, _ := ts.execute(t, "/put")
	token := extractTokenFromCookie(header.Get("Set-Cookie"))
	header, _ = ts.execute(t, "/destroy")
	cookie := header.Get("Set-Cookie")
	if !strings.HasPrefix(cookie, "session=;") || !strings.Contains(cookie, "Max-Age=0") {
		t.Fatalf("destroy cookie %q", cookie)
	}
	mustMiss(t, store, token)
	if _, body := ts.execute(t, "/get"); body != missing {
		t.Errorf("want %q; got %q", missing, body)
	}
}

func TestRenewToken(t *testing.T) {
	needCluster(t)
	sm, store := newManager()
	ts := newTestServer(t, sm)

	header, _ := ts.execute(t, "/put")
	originalToken := extractTokenFromCookie(header.Get("Set-Cookie"))
	header, _ = ts.execute(t, "/renew")
	newToken := extractTokenFromCookie(header.Get("Set-Cookie"))
	if newToken == originalToken {
		t.Fatal("token has not changed")
	}
	// scs deleted the old token and committed the data under the new one.
	mustMiss(t, store, originalToken)
	if _, found, err := store.Find(newToken); !found || err != nil {
		t.Fatalf("new token: %v %v", found, err)
	}
	if _, body := ts.execute(t, "/get"); body != "bar" {
		t.Errorf("want %q; got %q", "bar", body)
	}
}

func TestHashTokenInStore(t *testing.T) {
	needCluster(t)
	sm, store := newManager()
	sm.HashTokenInStore = true
	ts := newTestServer(t, sm)

	header, _ := ts.execute(t, "/put")
	token := extractTokenFromCookie(header.Get("Set-Cookie"))
	mustMiss(t, store, token) // stored under its hash
	if _, body := ts.execute(t, "/get"); body != "bar" {
		t.Errorf("want %q; got %q", "bar", body)
	}
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
