package httpsession_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/client"
	"github.com/sessionraft/sessionraft/client/httpsession"
	"github.com/sessionraft/sessionraft/internal/testcluster"
)

var (
	cluster *testcluster.Cluster
	cl      *client.Client // a client of cluster, shared by the tests
)

// TestMain starts a three-process cluster (see internal/testcluster), once
// 20 writes in a row succeed on it, and a client of it for the tests; with
// -short, needCluster skips every test.
func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	os.Exit(testcluster.Run(m, testcluster.Options{Writes: 20}, func(ctx context.Context, tc *testcluster.Cluster) (func(), error) {
		c, err := client.New(ctx, client.Config{Seeds: tc.Addrs()})
		if err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
		cluster, cl = tc, c
		return func() { _ = c.Close() }, nil
	}))
}

func needCluster(t *testing.T) { testcluster.Need(t, cluster) }

// ctxT is a bounded context for direct client calls in a test.
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// unique returns a name no other test (or run) uses, for subjects.
func unique(prefix string) string {
	return prefix + "-" + rand.Text()[:10]
}

// serve runs h behind a Manager with cfg (Client filled in) on an HTTPS
// test server, so that Secure cookies travel as in production.
func serve(t *testing.T, cfg httpsession.Config, h http.HandlerFunc) (*httptest.Server, *httpsession.Manager) {
	t.Helper()
	if cfg.Client == nil {
		cfg.Client = cl
	}
	m, err := httpsession.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(m.Handler(h))
	t.Cleanup(srv.Close)
	return srv, m
}

// browser is one user agent: its own cookie jar, no redirect following.
type browser struct {
	t    *testing.T
	srv  *httptest.Server
	c    *http.Client
	name string // cookie name
}

func newBrowser(t *testing.T, srv *httptest.Server) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, srv: srv, name: "sessionraft", c: &http.Client{
		Transport:     srv.Client().Transport,
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// do sends a request and returns the response (body read) and its body.
func (b *browser) do(method, path string) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest(method, b.srv.URL+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp, string(body)
}

func (b *browser) get(path string) string {
	b.t.Helper()
	resp, body := b.do(http.MethodGet, path)
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("GET %s: %s: %s", path, resp.Status, body)
	}
	return body
}

// sessionID is the session cookie the browser holds ("" if none).
func (b *browser) sessionID() string {
	u, _ := url.Parse(b.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == b.name {
			return c.Value
		}
	}
	return ""
}

// setSessionID puts a session cookie in the jar, as a browser that kept an
// old cookie would send it.
func (b *browser) setSessionID(id string) {
	u, _ := url.Parse(b.srv.URL)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: b.name, Value: id, Path: "/"}})
}

// sessionCookie returns the Set-Cookie of the session cookie in resp, or nil.
func sessionCookie(t *testing.T, resp *http.Response, name string) *http.Cookie {
	t.Helper()
	var found *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == name {
			if found != nil {
				t.Errorf("more than one Set-Cookie for %s: %v", name, resp.Header.Values("Set-Cookie"))
			}
			found = c
		}
	}
	return found
}

// app is a test handler exposing the Session API through query parameters.
func app(t *testing.T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := httpsession.FromContext(r.Context())
		if s == nil {
			t.Error("no session in the request context")
			http.Error(w, "no session", 500)
			return
		}
		q := r.URL.Query()
		fail := func(err error) bool {
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return true
			}
			return false
		}
		switch r.URL.Path {
		case "/get":
			v, ok := s.Get(q.Get("k"))
			if !ok {
				v = "<none>"
			}
			fmt.Fprint(w, v)
		case "/set":
			s.Set(q.Get("k"), q.Get("v"))
		case "/del":
			s.Delete(q.Get("k"))
		case "/setdel": // both kinds of change in one request
			s.Set(q.Get("k"), q.Get("v"))
			s.Delete(q.Get("d"))
		case "/login":
			s.SetSubject(q.Get("u"))
			if fail(s.Rotate()) {
				return
			}
		case "/rotate":
			if fail(httpsession.RenewID(r.Context())) {
				return
			}
		case "/logout":
			if fail(s.Destroy()) {
				return
			}
		case "/revokeall":
			n, err := s.RevokeAll(q.Has("except"))
			if fail(err) {
				return
			}
			fmt.Fprint(w, n)
		case "/revoke":
			ok, err := s.RevokeSession(q.Get("ref"))
			if fail(err) {
				return
			}
			fmt.Fprint(w, ok)
		case "/sessions":
			list, err := s.Sessions()
			if fail(err) {
				return
			}
			_ = json.NewEncoder(w).Encode(list)
		case "/whoami":
			fmt.Fprintf(w, "%s|%s|%v", s.ID(), s.Subject(), s.Exists())
		case "/names":
			fmt.Fprint(w, strings.Join(s.Names(), ","))
		default:
			http.NotFound(w, r)
		}
	}
}
