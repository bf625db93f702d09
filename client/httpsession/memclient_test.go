package httpsession_test

// Tests over an in-memory httpsession.Client: they need no cluster, can
// make the store fail on demand, and can put another device's change
// exactly between a request's load and its save.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/client"
	"github.com/sessionraft/sessionraft/client/httpsession"
)

// memClient keeps sessions in memory with the results httpsession relies
// on: ErrNotFound for a missing id, new ids from Create and Rotate,
// List and Revoke by subject. Expiry and versions beyond counting are not
// modelled.
type memClient struct {
	mu    sync.Mutex
	recs  map[string]*client.Session
	calls []string // "op id [details]"
	// before, if set, runs (unlocked) at the start of each call with its
	// op name: a test puts another device's change there.
	before func(op string)
	// fail, if set, is returned by the calls it names.
	fail map[string]error
}

var _ httpsession.Client = (*memClient)(nil)

func newMemClient() *memClient { return &memClient{recs: map[string]*client.Session{}} }

// enter records a call, runs the hook and returns the failure set for op.
func (m *memClient) enter(op, detail string) error {
	m.mu.Lock()
	m.calls = append(m.calls, strings.TrimSpace(op+" "+detail))
	hook, err := m.before, m.fail[op]
	m.mu.Unlock()
	if hook != nil {
		hook(op)
	}
	return err
}

func notFound(id string) error { return fmt.Errorf("%w: %s", client.ErrNotFound, id) }

func copyRec(r *client.Session) *client.Session {
	c := *r
	c.Fields = maps.Clone(r.Fields)
	return &c
}

func (m *memClient) Get(_ context.Context, id string, opts ...client.Option) (*client.Session, error) {
	if _, err := client.ReadOptions(opts...); err != nil {
		return nil, err
	}
	if err := m.enter("get", id); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[id]
	if !ok {
		return nil, notFound(id)
	}
	return copyRec(r), nil
}

func (m *memClient) Create(_ context.Context, opts ...client.Option) (*client.Session, error) {
	o, err := client.ReadOptions(opts...)
	if err != nil {
		return nil, err
	}
	if err := m.enter("create", strings.Join(o.FieldNames, ",")); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	r := &client.Session{ID: rand.Text(), Subject: o.Subject, Version: 1, Created: now, LastAccess: now,
		IdleTimeout: o.IdleTimeout, Fields: maps.Clone(o.Fields)}
	if r.Fields == nil {
		r.Fields = map[string][]byte{}
	}
	if o.TTL > 0 {
		r.AbsoluteDeadline = now.Add(o.TTL)
	}
	m.recs[r.ID] = r
	return copyRec(r), nil
}

func (m *memClient) Set(_ context.Context, id string, fields map[string][]byte, opts ...client.Option) (uint64, error) {
	if _, err := client.ReadOptions(opts...); err != nil {
		return 0, err
	}
	if err := m.enter("set", id+" "+strings.Join(slices.Sorted(maps.Keys(fields)), ",")); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[id]
	if !ok {
		return 0, notFound(id)
	}
	maps.Copy(r.Fields, fields)
	r.Version++
	return r.Version, nil
}

func (m *memClient) Unset(_ context.Context, id string, names []string, opts ...client.Option) (uint64, error) {
	if _, err := client.ReadOptions(opts...); err != nil {
		return 0, err
	}
	if err := m.enter("unset", id+" "+strings.Join(names, ",")); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[id]
	if !ok {
		return 0, notFound(id)
	}
	for _, n := range names {
		delete(r.Fields, n)
	}
	r.Version++
	return r.Version, nil
}

func (m *memClient) Rotate(_ context.Context, id string, opts ...client.Option) (string, error) {
	if _, err := client.ReadOptions(opts...); err != nil {
		return "", err
	}
	if err := m.enter("rotate", id); err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[id]
	if !ok {
		return "", notFound(id)
	}
	delete(m.recs, id)
	r.ID = rand.Text()
	m.recs[r.ID] = r
	return r.ID, nil
}

func (m *memClient) Destroy(_ context.Context, ids ...string) (int, error) {
	if err := m.enter("destroy", strings.Join(ids, ",")); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, id := range ids {
		if m.recs[id] != nil {
			delete(m.recs, id)
			n++
		}
	}
	return n, nil
}

func (m *memClient) List(_ context.Context, subject string, opts ...client.Option) ([]*client.Session, error) {
	if _, err := client.ReadOptions(opts...); err != nil {
		return nil, err
	}
	if err := m.enter("list", subject); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*client.Session
	for _, r := range m.recs {
		if r.Subject == subject {
			out = append(out, copyRec(r))
		}
	}
	return out, nil
}

func (m *memClient) Revoke(_ context.Context, subject string, opts ...client.Option) (int, error) {
	o, err := client.ReadOptions(opts...)
	if err != nil {
		return 0, err
	}
	if err := m.enter("revoke", subject); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for id, r := range m.recs {
		if r.Subject == subject && id != o.Except {
			delete(m.recs, id)
			n++
		}
	}
	return n, nil
}

// put stores a session directly, as an earlier request would have.
func (m *memClient) put(subject string, fields map[string][]byte) string {
	r, err := m.Create(context.Background(), client.WithSubject(subject), client.WithFields(fields))
	if err != nil {
		panic(err)
	}
	m.takeCalls()
	return r.ID
}

func (m *memClient) takeCalls() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.calls
	m.calls = nil
	return c
}

func (m *memClient) record(id string) *client.Session {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.recs[id]; r != nil {
		return copyRec(r)
	}
	return nil
}

// memRequest runs one request with session cookie id ("" for none) through
// a Manager over mc and returns the response.
func memRequest(t *testing.T, mc *memClient, id, path string) *http.Response {
	t.Helper()
	m, err := httpsession.New(httpsession.Config{Client: mc})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if id != "" {
		req.AddCookie(&http.Cookie{Name: "sessionraft", Value: id})
	}
	rec := httptest.NewRecorder()
	m.Handler(app(t)).ServeHTTP(rec, req)
	return rec.Result()
}

func TestNewRejectsNilClient(t *testing.T) {
	var c *client.Client
	if _, err := httpsession.New(httpsession.Config{Client: c}); err == nil {
		t.Fatal("New with a nil *client.Client: no error")
	}
	if _, err := httpsession.New(httpsession.Config{Client: newMemClient()}); err != nil {
		t.Fatalf("New with a Client: %v", err)
	}
}

// TestMemSavesOnlyChanges: a request sends the fields it set and the names
// it deleted, nothing else, and keeps the session and its cookie.
func TestMemSavesOnlyChanges(t *testing.T) {
	mc := newMemClient()
	id := mc.put("alice", map[string][]byte{"a": []byte("1"), "b": []byte("2"), "c": []byte("3")})
	resp := memRequest(t, mc, id, "/setdel?k=a&v=10&d=b")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s", resp.Status)
	}
	want := []string{"get " + id, "set " + id + " a", "unset " + id + " b"}
	if got := mc.takeCalls(); !slices.Equal(got, want) {
		t.Fatalf("calls %q, want %q", got, want)
	}
	if r := mc.record(id); r == nil || len(r.Fields) != 2 || string(r.Fields["a"]) != "10" || string(r.Fields["c"]) != "3" {
		t.Fatalf("record after the request: %+v", r)
	}
	if ck := sessionCookie(t, resp, "sessionraft"); ck != nil {
		t.Errorf("Set-Cookie for an unchanged session: %v", ck)
	}
	// A request that changes nothing writes nothing.
	memRequest(t, mc, id, "/get?k=a")
	if got, want := mc.takeCalls(), []string{"get " + id}; !slices.Equal(got, want) {
		t.Fatalf("read-only request: calls %q, want %q", got, want)
	}
}

// TestMemUnavailableStore: when loading fails because the store is
// unavailable, the default ErrorHandler answers 503 and the handler does
// not run.
func TestMemUnavailableStore(t *testing.T) {
	mc := newMemClient()
	id := mc.put("", map[string][]byte{"a": []byte("1")})
	mc.fail = map[string]error{"get": fmt.Errorf("%w: no leader", client.ErrUnavailable)}
	resp := memRequest(t, mc, id, "/set?k=a&v=2")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %s, want 503", resp.Status)
	}
	if got, want := mc.takeCalls(), []string{"get " + id}; !slices.Equal(got, want) {
		t.Fatalf("calls %q, want %q (the handler must not run)", got, want)
	}
	// Failing to save is a 500 with the default handler, and the
	// handler's response is dropped.
	mc.fail = map[string]error{"set": errors.New("disk on fire")}
	if resp := memRequest(t, mc, id, "/set?k=a&v=2"); resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("save failure: status %s, want 500", resp.Status)
	}
}

// TestMemRevokedBeforeSave: another device revokes the session after this
// request loaded it and before it saves. The changes go to a new session
// that does not inherit the revoked subject, under a new cookie.
func TestMemRevokedBeforeSave(t *testing.T) {
	mc := newMemClient()
	id := mc.put("alice", map[string][]byte{"a": []byte("1")})
	mc.before = func(op string) {
		if op == "set" {
			mc.before = nil // runs on this goroutine, before the set locks
			if _, err := mc.Revoke(context.Background(), "alice"); err != nil {
				t.Error(err)
			}
		}
	}
	resp := memRequest(t, mc, id, "/set?k=b&v=2")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s", resp.Status)
	}
	ck := sessionCookie(t, resp, "sessionraft")
	if ck == nil || ck.Value == id || ck.Value == "" {
		t.Fatalf("cookie %v, want a new session's", ck)
	}
	r := mc.record(ck.Value)
	if r == nil || r.Subject != "" || len(r.Fields) != 1 || string(r.Fields["b"]) != "2" {
		t.Fatalf("new session %+v: want anonymous with only this request's field", r)
	}
	if mc.record(id) != nil {
		t.Fatal("revoked session came back")
	}
}
