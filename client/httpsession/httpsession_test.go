package httpsession_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/client"
	"github.com/sessionraft/sessionraft/client/httpsession"
)

func TestNewNeedsClient(t *testing.T) {
	if _, err := httpsession.New(httpsession.Config{}); err == nil {
		t.Fatal("New without a client: no error")
	}
}

// getRecord reads a session straight from the cluster, without counting as
// an access.
func getRecord(t *testing.T, id string) (*client.Session, error) {
	t.Helper()
	return cl.Get(ctxT(t), id, client.WithoutTouch())
}

func mustRecord(t *testing.T, id string) *client.Session {
	t.Helper()
	rec, err := getRecord(t, id)
	if err != nil {
		t.Fatalf("session %q: %v", id, err)
	}
	return rec
}

func mustBeGone(t *testing.T, id string) {
	t.Helper()
	if _, err := getRecord(t, id); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("session %q: err %v, want ErrNotFound", id, err)
	}
}

func TestLazyCreation(t *testing.T) {
	needCluster(t)
	srv, _ := serve(t, httpsession.Config{}, app(t))
	b := newBrowser(t, srv)

	// Reading creates nothing.
	resp, body := b.do("GET", "/get?k=a")
	if body != "<none>" || sessionCookie(t, resp, "sessionraft") != nil {
		t.Fatalf("read without a session: body %q, Set-Cookie %v", body, resp.Header.Values("Set-Cookie"))
	}
	if got := b.get("/whoami"); got != "||false" {
		t.Fatalf("whoami without a session: %q", got)
	}

	// The first write does.
	resp, _ = b.do("POST", "/set?k=a&v=1")
	ck := sessionCookie(t, resp, "sessionraft")
	if ck == nil || ck.Value == "" {
		t.Fatalf("first write set no cookie: %v", resp.Header.Values("Set-Cookie"))
	}
	rec := mustRecord(t, ck.Value)
	if v, _ := rec.String("a"); v != "1" || rec.Subject != "" {
		t.Fatalf("stored session: %+v", rec)
	}
	if rec.IdleTimeout != 30*time.Minute {
		t.Errorf("idle timeout %v, want the default 30m", rec.IdleTimeout)
	}
	if d := time.Until(rec.AbsoluteDeadline); d < 23*time.Hour || d > 24*time.Hour+time.Minute {
		t.Errorf("absolute deadline in %v, want about 24h", d)
	}
	if got := b.get("/whoami"); got != ck.Value+"||true" {
		t.Fatalf("whoami: %q", got)
	}
	// Later requests do not send the cookie again.
	resp, _ = b.do("POST", "/set?k=b&v=2")
	if c := sessionCookie(t, resp, "sessionraft"); c != nil {
		t.Errorf("cookie sent again on a plain write: %v", c)
	}
}

func TestCookieAttributes(t *testing.T) {
	needCluster(t)
	srv, _ := serve(t, httpsession.Config{}, app(t))
	resp, _ := newBrowser(t, srv).do("POST", "/set?k=a&v=1")
	ck := sessionCookie(t, resp, "sessionraft")
	if ck == nil {
		t.Fatal("no cookie")
	}
	if !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" {
		t.Errorf("cookie attributes: %s", resp.Header.Get("Set-Cookie"))
	}
	if ck.MaxAge < int((24*time.Hour-time.Minute)/time.Second) || ck.MaxAge > int(24*time.Hour/time.Second)+1 {
		t.Errorf("Max-Age %d, want about 24h", ck.MaxAge)
	}
	rec := mustRecord(t, ck.Value)
	if d := ck.Expires.Sub(rec.AbsoluteDeadline); d < -time.Second || d > time.Second {
		t.Errorf("Expires %v, absolute deadline %v", ck.Expires, rec.AbsoluteDeadline)
	}

	// Configured otherwise.
	srv2, _ := serve(t, httpsession.Config{CookieName: "sid", DisableSecure: true, SameSite: http.SameSiteStrictMode, TTL: time.Hour, Path: "/app"}, app(t))
	b := newBrowser(t, srv2)
	b.name = "sid"
	resp, _ = b.do("POST", "/set?k=a&v=1")
	ck = sessionCookie(t, resp, "sid")
	if ck == nil || ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/app" || ck.MaxAge > 3601 || ck.MaxAge < 3500 {
		t.Errorf("configured cookie: %v", resp.Header.Values("Set-Cookie"))
	}

	// A cookie naming no session is cleared.
	b3 := newBrowser(t, srv)
	b3.setSessionID("no-such-session")
	resp, body := b3.do("GET", "/get?k=a")
	ck = sessionCookie(t, resp, "sessionraft")
	if body != "<none>" || ck == nil || ck.MaxAge >= 0 {
		t.Errorf("unknown session: body %q, Set-Cookie %v", body, resp.Header.Values("Set-Cookie"))
	}
	if b3.sessionID() != "" {
		t.Errorf("browser kept the cleared cookie")
	}
}

func TestPersistenceAcrossRequests(t *testing.T) {
	needCluster(t)
	srv, _ := serve(t, httpsession.Config{}, app(t))
	b := newBrowser(t, srv)
	b.get("/set?k=a&v=1")
	id := b.sessionID()
	if got := b.get("/get?k=a"); got != "1" {
		t.Fatalf("a = %q", got)
	}
	b.get("/set?k=b&v=2")
	b.get("/del?k=a")
	if got := b.get("/get?k=a"); got != "<none>" {
		t.Fatalf("deleted a = %q", got)
	}
	if got := b.get("/get?k=b"); got != "2" {
		t.Fatalf("b = %q", got)
	}
	if got := b.get("/names"); got != "b" {
		t.Fatalf("names %q", got)
	}
	b.get("/setdel?k=c&v=3&d=b")
	if got := b.get("/names"); got != "c" {
		t.Fatalf("names after a set and a delete in one request: %q", got)
	}
	b.get("/set?k=b&v=2")
	if b.sessionID() != id {
		t.Fatalf("session id changed from %s to %s", id, b.sessionID())
	}
	rec := mustRecord(t, id)
	if len(rec.Fields) != 2 || string(rec.Fields["b"]) != "2" || string(rec.Fields["c"]) != "3" {
		t.Fatalf("stored fields %q", rec.Fields)
	}
}

// TestConcurrentRequestsKeepBothFields: two requests of one user load the
// session, then both save, each a different field. Neither change is lost.
func TestConcurrentRequestsKeepBothFields(t *testing.T) {
	needCluster(t)
	var arrived sync.WaitGroup
	arrived.Add(2)
	allLoaded := make(chan struct{})
	go func() { arrived.Wait(); close(allLoaded) }()
	srv, _ := serve(t, httpsession.Config{}, func(w http.ResponseWriter, r *http.Request) {
		s := httpsession.FromContext(r.Context())
		if r.URL.Path == "/race" {
			if v, ok := s.Get("base"); !ok || v != "1" {
				http.Error(w, "session not loaded", 500)
				return
			}
			arrived.Done() // loaded; wait until the other request has loaded too
			select {
			case <-allLoaded:
			case <-time.After(20 * time.Second):
				http.Error(w, "the other request never arrived", 500)
				return
			}
		}
		q := r.URL.Query()
		s.Set(q.Get("k"), q.Get("v"))
	})
	b := newBrowser(t, srv)
	b.get("/set?k=base&v=1")
	id := b.sessionID()

	var wg sync.WaitGroup
	errs := make(chan string, 2)
	for _, kv := range []string{"k=theme&v=dark", "k=cart&v=3"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := b.c.Get(srv.URL + "/race?" + kv)
			if err != nil {
				errs <- err.Error()
				return
			}
			_ = resp.Body.Close()
			if resp.StatusCode != 200 {
				errs <- resp.Status
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	rec := mustRecord(t, id)
	if string(rec.Fields["theme"]) != "dark" || string(rec.Fields["cart"]) != "3" || string(rec.Fields["base"]) != "1" {
		t.Fatalf("fields after two concurrent saves: %q", rec.Fields)
	}
}

func TestRotateOnLogin(t *testing.T) {
	needCluster(t)
	srv, _ := serve(t, httpsession.Config{}, app(t))
	b := newBrowser(t, srv)
	b.get("/set?k=cart&v=3")
	anon := b.sessionID()
	user := unique("alice")

	resp, _ := b.do("POST", "/login?u="+user)
	if resp.StatusCode != 200 {
		t.Fatalf("login: %s", resp.Status)
	}
	ck := sessionCookie(t, resp, "sessionraft")
	if ck == nil || ck.Value == anon || ck.MaxAge <= 0 {
		t.Fatalf("login did not set a new cookie: %v", resp.Header.Values("Set-Cookie"))
	}
	mustBeGone(t, anon)
	rec := mustRecord(t, ck.Value)
	if rec.Subject != user || string(rec.Fields["cart"]) != "3" {
		t.Fatalf("session after login: %+v", rec)
	}

	// Rotating a logged-in session keeps subject and data.
	b.get("/rotate")
	rotated := b.sessionID()
	if rotated == ck.Value {
		t.Fatal("rotate kept the id")
	}
	mustBeGone(t, ck.Value)
	rec = mustRecord(t, rotated)
	if rec.Subject != user || string(rec.Fields["cart"]) != "3" {
		t.Fatalf("session after rotate: %+v", rec)
	}
	if got := b.get("/whoami"); got != rotated+"|"+user+"|true" {
		t.Fatalf("whoami %q", got)
	}

	// Logging in without a session creates one with the subject.
	b2 := newBrowser(t, srv)
	b2.get("/login?u=" + user)
	rec = mustRecord(t, b2.sessionID())
	if rec.Subject != user {
		t.Fatalf("fresh login: %+v", rec)
	}
	// Rotating without a session does nothing.
	b3 := newBrowser(t, srv)
	if resp, _ := b3.do("GET", "/rotate"); resp.StatusCode != 200 || sessionCookie(t, resp, "sessionraft") != nil {
		t.Fatalf("rotate without a session: %s %v", resp.Status, resp.Header.Values("Set-Cookie"))
	}
}

func TestDestroy(t *testing.T) {
	needCluster(t)
	srv, _ := serve(t, httpsession.Config{}, app(t))
	b := newBrowser(t, srv)
	b.get("/login?u=" + unique("bob"))
	b.get("/set?k=a&v=1")
	id := b.sessionID()

	resp, _ := b.do("POST", "/logout")
	ck := sessionCookie(t, resp, "sessionraft")
	if ck == nil || ck.MaxAge >= 0 {
		t.Fatalf("logout did not expire the cookie: %v", resp.Header.Values("Set-Cookie"))
	}
	mustBeGone(t, id)
	if b.sessionID() != "" {
		t.Fatal("browser kept the cookie")
	}
	if got := b.get("/get?k=a"); got != "<none>" {
		t.Fatalf("after logout a = %q", got)
	}
	// The old id, replayed, is no session.
	b.setSessionID(id)
	if got := b.get("/whoami"); got != "||false" {
		t.Fatalf("replayed id: %q", got)
	}
}

func sessionsOf(t *testing.T, b *browser) []httpsession.SessionInfo {
	t.Helper()
	var list []httpsession.SessionInfo
	if err := json.Unmarshal([]byte(b.get("/sessions")), &list); err != nil {
		t.Fatal(err)
	}
	return list
}

func TestRevokeAll(t *testing.T) {
	needCluster(t)
	srv, _ := serve(t, httpsession.Config{}, app(t))
	user, other := unique("carol"), unique("dave")
	laptop, phone, tablet, dave := newBrowser(t, srv), newBrowser(t, srv), newBrowser(t, srv), newBrowser(t, srv)
	for _, b := range []*browser{laptop, phone, tablet} {
		b.get("/login?u=" + user)
	}
	dave.get("/login?u=" + other)

	list := sessionsOf(t, laptop)
	if len(list) != 3 || !list[0].Current || list[1].Current || list[2].Current {
		t.Fatalf("sessions: %+v", list)
	}
	for _, info := range list {
		if info.Ref == "" || len(info.IDPrefix) == 0 || info.Created.IsZero() || info.ExpiresAt.IsZero() {
			t.Errorf("session info %+v", info)
		}
		if strings.Contains(info.Ref, laptop.sessionID()) {
			t.Errorf("ref %q leaks the id", info.Ref)
		}
	}
	if !list[0].Current || !strings.HasPrefix(laptop.sessionID(), list[0].IDPrefix) {
		t.Errorf("current session %+v, laptop id %s", list[0], laptop.sessionID())
	}

	// Sign out one device by ref.
	var phoneRef string
	for _, info := range list {
		if strings.HasPrefix(phone.sessionID(), info.IDPrefix) && !info.Current {
			phoneRef = info.Ref
		}
	}
	if got := laptop.get("/revoke?ref=" + phoneRef); got != "true" {
		t.Fatalf("revoke phone: %q", got)
	}
	mustBeGone(t, phone.sessionID())
	if got := laptop.get("/revoke?ref=nonsense"); got != "false" {
		t.Fatalf("revoke unknown ref: %q", got)
	}
	// dave cannot revoke carol's sessions by ref.
	if got := dave.get("/revoke?ref=" + list[0].Ref); got != "false" {
		t.Fatalf("another user revoked by ref: %q", got)
	}

	// Log out everywhere else.
	if got := laptop.get("/revokeall?except=1"); got != "1" {
		t.Fatalf("revoke all except current: %q", got)
	}
	mustBeGone(t, tablet.sessionID())
	if got := laptop.get("/whoami"); !strings.HasSuffix(got, "|"+user+"|true") {
		t.Fatalf("laptop after revoke-all-except: %q", got)
	}
	// And everywhere.
	laptopID := laptop.sessionID()
	resp, body := laptop.do("POST", "/revokeall")
	if body != "1" || sessionCookie(t, resp, "sessionraft").MaxAge >= 0 {
		t.Fatalf("revoke all: %q %v", body, resp.Header.Values("Set-Cookie"))
	}
	mustBeGone(t, laptopID)
	if got := dave.get("/whoami"); !strings.HasSuffix(got, "|"+other+"|true") {
		t.Fatalf("another user's session after revoke-all: %q", got)
	}
	// The revoked tablet starts over as a visitor.
	if got := tablet.get("/whoami"); got != "||false" {
		t.Fatalf("revoked tablet: %q", got)
	}
}

func TestExpiredSessionGetsNewOne(t *testing.T) {
	needCluster(t)
	srv, _ := serve(t, httpsession.Config{IdleTimeout: time.Second}, app(t))
	b := newBrowser(t, srv)
	b.get("/set?k=a&v=1")
	old := b.sessionID()
	waitGone(t, old, 15*time.Second)

	// The browser still sends the old cookie; a write gets a new session
	// (one cookie in the response: the new one, not the clearing one).
	resp, _ := b.do("POST", "/set?k=b&v=2")
	ck := sessionCookie(t, resp, "sessionraft")
	if ck == nil || ck.Value == old || ck.MaxAge <= 0 {
		t.Fatalf("write after expiry: %v", resp.Header.Values("Set-Cookie"))
	}
	rec := mustRecord(t, ck.Value)
	if _, ok := rec.Fields["a"]; ok || string(rec.Fields["b"]) != "2" {
		t.Fatalf("new session has fields %q", rec.Fields)
	}
}

// waitGone polls until the session is gone (expired), up to timeout.
func waitGone(t *testing.T, id string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		_, err := getRecord(t, id)
		if errors.Is(err, client.ErrNotFound) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %s still there after %s (err %v)", id, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRevokedDuringRequest: a session that ends while a request runs (log
// out everywhere from another device) does not come back with its subject.
func TestRevokedDuringRequest(t *testing.T) {
	needCluster(t)
	srv, _ := serve(t, httpsession.Config{}, func(w http.ResponseWriter, r *http.Request) {
		s := httpsession.FromContext(r.Context())
		if r.URL.Path == "/login" {
			s.SetSubject(r.URL.Query().Get("u"))
			return
		}
		if _, err := cl.Destroy(r.Context(), s.ID()); err != nil { // another device revokes us now
			http.Error(w, err.Error(), 500)
			return
		}
		s.Set("late", "1")
	})
	b := newBrowser(t, srv)
	user := unique("erin")
	b.get("/login?u=" + user)
	old := b.sessionID()
	resp, _ := b.do("POST", "/write")
	ck := sessionCookie(t, resp, "sessionraft")
	if resp.StatusCode != 200 || ck == nil || ck.Value == old {
		t.Fatalf("write to a revoked session: %s %v", resp.Status, resp.Header.Values("Set-Cookie"))
	}
	rec := mustRecord(t, ck.Value)
	if rec.Subject != "" || string(rec.Fields["late"]) != "1" {
		t.Fatalf("session after revocation: %+v", rec)
	}
	mustBeGone(t, old)
}

func TestChangesAfterHeadersWritten(t *testing.T) {
	needCluster(t)
	var mu sync.Mutex
	var handled []error
	srv, _ := serve(t, httpsession.Config{ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
		mu.Lock()
		handled = append(handled, err)
		mu.Unlock()
	}}, func(w http.ResponseWriter, r *http.Request) {
		s := httpsession.FromContext(r.Context())
		q := r.URL.Query()
		if r.URL.Path == "/early" {
			s.Set(q.Get("k"), q.Get("v"))
			return
		}
		fmt.Fprint(w, "body first; ")
		w.(http.Flusher).Flush()
		s.Set(q.Get("k"), q.Get("v"))
	})
	b := newBrowser(t, srv)

	// No session yet: a write after the headers cannot create one.
	b.get("/late?k=a&v=1")
	mu.Lock()
	if len(handled) != 1 || !errors.Is(handled[0], httpsession.ErrHeadersWritten) {
		t.Fatalf("errors: %v", handled)
	}
	mu.Unlock()
	if b.sessionID() != "" {
		t.Fatal("cookie set after the headers?")
	}

	// An existing session gets the late write when the handler returns.
	b.get("/early?k=a&v=1")
	b.get("/late?k=b&v=2")
	rec := mustRecord(t, b.sessionID())
	if string(rec.Fields["a"]) != "1" || string(rec.Fields["b"]) != "2" {
		t.Fatalf("fields %q", rec.Fields)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(handled) != 1 {
		t.Fatalf("errors: %v", handled)
	}
}

// TestSaveErrorReplacesResponse: when saving fails before the status goes
// out, ErrorHandler answers instead of the handler.
func TestSaveErrorReplacesResponse(t *testing.T) {
	needCluster(t)
	srv, _ := serve(t, httpsession.Config{}, func(w http.ResponseWriter, r *http.Request) {
		httpsession.FromContext(r.Context()).Set("big", strings.Repeat("x", 2<<20)) // over the 1 MiB value limit
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, "handler body")
	})
	resp, body := newBrowser(t, srv).do("POST", "/")
	if resp.StatusCode != http.StatusInternalServerError || strings.Contains(body, "handler body") {
		t.Fatalf("save error: %s %q", resp.Status, body)
	}
}

// TestLoadErrorStopsRequest: a store error while loading goes to
// ErrorHandler, and the handler does not run.
func TestLoadErrorStopsRequest(t *testing.T) {
	needCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	closed, err := client.New(ctx, client.Config{Seeds: cluster.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	_ = closed.Close()
	var ran atomic.Bool
	srv, _ := serve(t, httpsession.Config{Client: closed}, func(w http.ResponseWriter, r *http.Request) { ran.Store(true) })
	b := newBrowser(t, srv)
	b.setSessionID("some-session-id")
	resp, _ := b.do("GET", "/")
	if resp.StatusCode < 500 || ran.Load() {
		t.Fatalf("load error: %s, handler ran: %v", resp.Status, ran.Load())
	}
	// Without a cookie nothing is loaded and the handler runs.
	b2 := newBrowser(t, srv)
	if resp, _ := b2.do("GET", "/"); resp.StatusCode != 200 || !ran.Load() {
		t.Fatalf("no cookie: %s, handler ran: %v", resp.Status, ran.Load())
	}
}
