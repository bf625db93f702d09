package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/client"
	"github.com/sessionraft/sessionraft/internal/testcluster"
)

var cluster *testcluster.Cluster

// TestMain starts a three-process cluster (see internal/testcluster), once
// 20 writes in a row succeed on it; with -short the tests skip themselves.
func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	os.Exit(testcluster.Run(m, testcluster.Options{Writes: 20}, func(_ context.Context, tc *testcluster.Cluster) (func(), error) {
		cluster = tc
		return nil, nil
	}))
}

type user struct {
	t   *testing.T
	srv *httptest.Server
	c   *http.Client
}

func newUser(t *testing.T, srv *httptest.Server) *user {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &user{t: t, srv: srv, c: &http.Client{
		Transport:     srv.Client().Transport,
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// post submits a form like a browser does and expects a redirect.
func (u *user) post(path string, form url.Values) string {
	u.t.Helper()
	resp, err := u.c.PostForm(u.srv.URL+path, form)
	if err != nil {
		u.t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		u.t.Fatalf("POST %s: %s", path, resp.Status)
	}
	return resp.Header.Get("Location")
}

func (u *user) page(path string) string {
	u.t.Helper()
	resp, err := u.c.Get(u.srv.URL + path)
	if err != nil {
		u.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		u.t.Fatalf("GET %s: %s %v\n%s", path, resp.Status, err, body)
	}
	return string(body)
}

var revokeForm = regexp.MustCompile(`name="ref" value="([0-9a-f]+)"`)

// newTestApp is the app on a client of the shared cluster (the test is
// skipped without one), with a context bounding the test's direct calls;
// the client is closed at the test's end.
func newTestApp(t *testing.T) (context.Context, *client.Client, http.Handler) {
	t.Helper()
	if cluster == nil {
		t.Skip("needs a three-process cluster; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	c, err := client.New(ctx, client.Config{Seeds: cluster.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	h, err := newApp(c, appConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return ctx, c, h
}

func TestWebApp(t *testing.T) {
	ctx, c, h := newTestApp(t)
	srv := httptest.NewTLSServer(h)
	defer srv.Close()
	name := "shopper-" + fmt.Sprint(time.Now().UnixNano())

	alice := newUser(t, srv)
	if home := alice.page("/"); !strings.Contains(home, `action="/login"`) || !strings.Contains(home, "cart is empty") {
		t.Fatalf("home page for a visitor:\n%s", home)
	}

	// A cart before login survives login.
	alice.post("/cart/add", url.Values{"item": {"coffee"}})
	alice.post("/login", url.Values{"username": {name}})
	alice.post("/cart/add", url.Values{"item": {"coffee"}})
	alice.post("/cart/add", url.Values{"item": {"tea"}})
	home := alice.page("/")
	if !strings.Contains(home, "Logged in as <strong>"+name) || !regexp.MustCompile(`<td>coffee</td><td>2</td>`).MatchString(home) || !strings.Contains(home, "<td>tea</td><td>1</td>") {
		t.Fatalf("home page after login and cart adds:\n%s", home)
	}
	alice.post("/cart/remove", url.Values{"item": {"tea"}})
	if home := alice.page("/"); strings.Contains(home, "<td>tea</td>") {
		t.Fatalf("tea still in the cart:\n%s", home)
	}

	// The sessions page lists one session: this one.
	sessions := alice.page("/sessions")
	if n := len(revokeForm.FindAllString(sessions, -1)); n != 1 || !strings.Contains(sessions, "(this one)") {
		t.Fatalf("sessions page lists %d sessions:\n%s", n, sessions)
	}

	// A second device of the same user: two sessions; sign it out by ref.
	phone := newUser(t, srv)
	phone.post("/login", url.Values{"username": {name}})
	sessions = alice.page("/sessions")
	refs := revokeForm.FindAllStringSubmatch(sessions, -1)
	if len(refs) != 2 {
		t.Fatalf("sessions page lists %d sessions, want 2:\n%s", len(refs), sessions)
	}
	other := refs[1][1] // the current session is listed first
	if loc := alice.post("/sessions/revoke", url.Values{"ref": {other}}); loc != "/sessions?revoked=1" {
		t.Fatalf("revoke one: redirected to %q", loc)
	}
	if home := phone.page("/"); !strings.Contains(home, `action="/login"`) {
		t.Fatalf("phone still logged in after its session was revoked:\n%s", home)
	}

	// Log out everywhere.
	phone.post("/login", url.Values{"username": {name}})
	alice.post("/sessions/revoke-all", nil)
	for _, u := range []*user{alice, phone} {
		if home := u.page("/"); !strings.Contains(home, `action="/login"`) || !strings.Contains(home, "cart is empty") {
			t.Fatalf("still logged in after log out everywhere:\n%s", home)
		}
	}
	if list, err := c.List(ctx, name); err != nil || len(list) != 0 {
		t.Fatalf("sessions left after log out everywhere: %d, %v", len(list), err)
	}

	// Logout.
	alice.post("/login", url.Values{"username": {name}})
	alice.post("/logout", nil)
	if home := alice.page("/"); !strings.Contains(home, `action="/login"`) {
		t.Fatalf("still logged in after logout:\n%s", home)
	}
	// The sessions page needs a login.
	resp, err := alice.c.Get(srv.URL + "/sessions")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sessions page without login: %s", resp.Status)
	}
}

// TestCrossSitePostRefused: a form posted from another site is refused.
func TestCrossSitePostRefused(t *testing.T) {
	_, _, h := newTestApp(t)
	req := httptest.NewRequest("POST", "https://shop.example/sessions/revoke-all", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Fatalf("cross-site post: %d", rec.Code)
	}
}
