package scsstore_test

// Tests over an in-memory scsstore.Client: they put other writers' calls
// exactly between two of the store's calls, which a real cluster only
// does by chance, and need no cluster.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/client"
	"github.com/sessionraft/sessionraft/client/scsstore"
)

// memClient keeps sessions in memory with the behaviour the store relies
// on: Set of a missing id is ErrNotFound; an id that was live once cannot
// be created again (the server keeps a tombstone for its dedup window);
// over-long ids are ErrTooLarge. Expiry is not modelled.
type memClient struct {
	mu    sync.Mutex
	recs  map[string]*client.Session
	ended map[string]bool
	calls []string
	// before, if set, runs (unlocked) at the start of each call, with the
	// call's name and id: a test puts another writer's calls there.
	before func(call, id string)
	// err, if set, fails every call.
	err error
}

const memMaxIDLen = 512 // the server's default --max-id-len

var _ scsstore.Client = (*memClient)(nil)

func newMemClient() *memClient {
	return &memClient{recs: map[string]*client.Session{}, ended: map[string]bool{}}
}

// enter records the call and runs the before hook; the caller then locks.
func (m *memClient) enter(call, id string) error {
	m.mu.Lock()
	m.calls = append(m.calls, call)
	hook, err := m.before, m.err
	m.mu.Unlock()
	if hook != nil {
		hook(call, id)
	}
	if err != nil {
		return err
	}
	if len(id) > memMaxIDLen {
		return fmt.Errorf("%w: id of %d bytes", client.ErrTooLarge, len(id))
	}
	return nil
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
		return nil, fmt.Errorf("%w: %s", client.ErrNotFound, id)
	}
	c := *r
	c.Fields = maps.Clone(r.Fields)
	return &c, nil
}

func (m *memClient) Create(_ context.Context, opts ...client.Option) (*client.Session, error) {
	o, err := client.ReadOptions(opts...)
	if err != nil {
		return nil, err
	}
	if o.ID == "" {
		return nil, errors.New("memClient: Create without WithID is not modelled")
	}
	if err := m.enter("create", o.ID); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.recs[o.ID] != nil || m.ended[o.ID] {
		return nil, fmt.Errorf("%w: %s", client.ErrExists, o.ID)
	}
	r := &client.Session{ID: o.ID, Subject: o.Subject, Version: 1, Fields: maps.Clone(o.Fields)}
	if o.TTL > 0 {
		r.AbsoluteDeadline = time.Now().Add(o.TTL)
	}
	m.recs[o.ID] = r
	c := *r
	return &c, nil
}

func (m *memClient) Set(_ context.Context, id string, fields map[string][]byte, opts ...client.Option) (uint64, error) {
	o, err := client.ReadOptions(opts...)
	if err != nil {
		return 0, err
	}
	if err := m.enter("set", id); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[id]
	if !ok {
		return 0, fmt.Errorf("%w: %s", client.ErrNotFound, id)
	}
	if o.IfVersion != 0 && o.IfVersion != r.Version {
		return 0, fmt.Errorf("%w: %s", client.ErrConflict, id)
	}
	if r.Fields == nil {
		r.Fields = map[string][]byte{}
	}
	maps.Copy(r.Fields, fields)
	if o.TTL > 0 {
		r.AbsoluteDeadline = time.Now().Add(o.TTL)
	}
	r.Version++
	return r.Version, nil
}

func (m *memClient) Destroy(_ context.Context, ids ...string) (int, error) {
	n := 0
	for _, id := range ids {
		if err := m.enter("destroy", id); err != nil {
			return n, err
		}
		m.mu.Lock()
		if m.recs[id] != nil {
			delete(m.recs, id)
			m.ended[id] = true
			n++
		}
		m.mu.Unlock()
	}
	return n, nil
}

// takeCalls returns the calls made so far and forgets them.
func (m *memClient) takeCalls() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.calls
	m.calls = nil
	return c
}

// setBefore replaces the before hook.
func (m *memClient) setBefore(f func(call, id string)) {
	m.mu.Lock()
	m.before = f
	m.mu.Unlock()
}

func TestMemCommitCreatesThenUpdates(t *testing.T) {
	mc := newMemClient()
	s := scsstore.New(mc)
	if err := s.Commit("tok", []byte("v1"), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// A new token: the update finds nothing, so the store creates it.
	if got, want := mc.takeCalls(), []string{"set", "create"}; !slices.Equal(got, want) {
		t.Fatalf("first commit: calls %q, want %q", got, want)
	}
	if err := s.Commit("tok", []byte("v2"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, want := mc.takeCalls(), []string{"set"}; !slices.Equal(got, want) {
		t.Fatalf("second commit: calls %q, want %q", got, want)
	}
	mustFind(t, s, "tok", []byte("v2"))
	if d := time.Until(mc.recs["tok"].AbsoluteDeadline); d < 59*time.Minute {
		t.Errorf("deadline in %v after a 1h expiry", d)
	}
}

// TestMemCommitRacesCreate: another commit of the token creates it between
// the store's failed update and its create. The store's create then finds
// the id taken, and its second update wins (last writer wins).
func TestMemCommitRacesCreate(t *testing.T) {
	mc := newMemClient()
	s, other := scsstore.New(mc), scsstore.New(mc)
	mc.setBefore(func(call, _ string) {
		if call != "create" {
			return
		}
		mc.setBefore(nil)
		if err := other.Commit("tok", []byte("theirs"), time.Now().Add(time.Minute)); err != nil {
			t.Errorf("other commit: %v", err)
		}
	})
	if err := s.Commit("tok", []byte("ours"), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// Ours: set (missing), create (the other commit's set and create run
	// first), set (succeeds).
	if got, want := mc.takeCalls(), []string{"set", "create", "set", "create", "set"}; !slices.Equal(got, want) {
		t.Fatalf("calls %q, want %q", got, want)
	}
	mustFind(t, s, "tok", []byte("ours"))
}

// TestMemCommitRacesDelete: the token is created and deleted by others
// between the store's failed update and its create. The commit must not
// bring it back, and it is not an error (scs starts a new session).
func TestMemCommitRacesDelete(t *testing.T) {
	mc := newMemClient()
	s, other := scsstore.New(mc), scsstore.New(mc)
	mc.setBefore(func(call, _ string) {
		if call != "create" {
			return
		}
		mc.setBefore(nil)
		if err := other.Commit("tok", []byte("theirs"), time.Now().Add(time.Minute)); err != nil {
			t.Errorf("other commit: %v", err)
		}
		if err := other.Delete("tok"); err != nil {
			t.Errorf("other delete: %v", err)
		}
	})
	if err := s.Commit("tok", []byte("ours"), time.Now().Add(time.Minute)); err != nil {
		t.Fatalf("commit to an ended token: %v, want nil", err)
	}
	mustMiss(t, s, "tok")
}

func TestMemExpiredCommitDeletes(t *testing.T) {
	mc := newMemClient()
	s := scsstore.New(mc)
	if err := s.Commit("tok", []byte("v"), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	mc.takeCalls()
	if err := s.Commit("tok", []byte("v"), time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if got, want := mc.takeCalls(), []string{"destroy"}; !slices.Equal(got, want) {
		t.Fatalf("calls %q, want %q", got, want)
	}
	mustMiss(t, s, "tok")
}

func TestMemFind(t *testing.T) {
	mc := newMemClient()
	s := scsstore.New(mc)
	// A session another program wrote, without the data field, is a miss.
	if _, err := mc.Create(context.Background(), client.WithID("foreign"), client.WithField("x", []byte("1"))); err != nil {
		t.Fatal(err)
	}
	mustMiss(t, s, "foreign")
	// Too long to be an id: a miss, not an error.
	mustMiss(t, s, string(make([]byte, memMaxIDLen+1)))
	// Anything else the client reports is an error.
	mc.err = fmt.Errorf("%w: no quorum", client.ErrUnavailable)
	if _, _, err := s.Find("tok"); !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("Find with the store down: %v, want ErrUnavailable", err)
	}
	if err := s.Commit("tok", []byte("v"), time.Now().Add(time.Minute)); !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("Commit with the store down: %v, want ErrUnavailable", err)
	}
}
