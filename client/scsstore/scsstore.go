// Package scsstore keeps github.com/alexedwards/scs/v2 sessions in a
// sessionraft cluster.
//
//	c, err := client.New(ctx, client.Config{Seeds: []string{"127.0.0.1:7001"}})
//	...
//	sm := scs.New()
//	sm.Store = scsstore.New(c)
//	http.ListenAndServe(":8080", sm.LoadAndSave(mux))
//
// Each scs token is a sessionraft session with that id (scs makes its own
// tokens; client.WithID) and one field, "data", holding scs's encoded
// session. Its absolute deadline is scs's expiry, so the cluster forgets a
// session when scs would; scs's IdleTimeout works as with any store, by
// committing a later expiry.
//
// The store implements scs.Store and scs.CtxStore. It does not implement
// scs.IterableStore: sessionraft lists sessions by subject, and scs
// sessions have none.
//
// scs writes the whole encoded session on every commit, so two concurrent
// requests of one user that both change the session keep only the later
// one's data. Use package httpsession for field-level saves.
package scsstore

import (
	"context"
	"errors"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/sessionraft/sessionraft/client"
)

// DataField is the session field that holds scs's encoded data.
const DataField = "data"

// Client is what a Store needs of a sessionraft client. *client.Client
// implements it; the interface lets a Store run over anything with the same
// calls and results (a wrapper adding metrics, a test double).
type Client interface {
	Get(ctx context.Context, id string, opts ...client.Option) (*client.Session, error)
	Create(ctx context.Context, opts ...client.Option) (*client.Session, error)
	Set(ctx context.Context, id string, fields map[string][]byte, opts ...client.Option) (uint64, error)
	Destroy(ctx context.Context, ids ...string) (int, error)
}

// Store is an scs.Store and scs.CtxStore backed by a sessionraft cluster.
// It is safe for concurrent use if its Client is.
type Store struct {
	c        Client
	readOpts []client.Option
}

var (
	_ scs.Store    = (*Store)(nil)
	_ scs.CtxStore = (*Store)(nil)
	_ Client       = (*client.Client)(nil)
)

// Option configures a Store.
type Option func(*Store)

// WithConsistency sets the consistency level of Find (default: the
// client's default, linearizable unless configured otherwise). A Stale
// read can miss a commit made a moment before, for example by the previous
// request of the same user, and a rotated token's data.
func WithConsistency(level client.Consistency) Option {
	return func(s *Store) { s.readOpts = append(s.readOpts, client.WithConsistency(level)) }
}

// New returns a Store that keeps sessions through c, usually a
// *client.Client.
func New(c Client, opts ...Option) *Store {
	s := &Store{c: c}
	for _, o := range opts {
		o(s)
	}
	// scs tracks expiry itself (it commits a new expiry when it wants one
	// extended) and its sessions have no idle timeout on the server; a read
	// need not count as an access.
	s.readOpts = append(s.readOpts, client.WithoutTouch())
	return s
}

// Find returns the data of token. A token that is unknown, expired or
// malformed (too long to be an id) is found=false with a nil error.
func (s *Store) Find(token string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), token)
}

// FindCtx is Find with a context.
func (s *Store) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	if token == "" {
		return nil, false, nil
	}
	rec, err := s.c.Get(ctx, token, s.readOpts...)
	if err != nil {
		if notFound(err) {
			return nil, false, nil
		}
		return nil, false, err
	}
	b, ok := rec.Bytes(DataField)
	if !ok {
		return nil, false, nil // not a session this store wrote
	}
	return b, true, nil
}

// Commit stores b under token until expiry, replacing what was there.
func (s *Store) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, b, expiry)
}

// CommitCtx is Commit with a context.
//
// A token that has ended (deleted, expired, or renewed away by
// RenewToken) is not brought back: the cluster refuses to create a removed
// id again for a while, so that a request racing a logout cannot undo it.
// Such a Commit stores nothing and returns nil; Find misses the token and
// scs starts a new session on the user's next request. scs itself never
// commits to a token it deleted.
func (s *Store) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	ttl := ttlUntil(expiry)
	if ttl <= 0 {
		// Already expired: storing it would only make a record the server
		// removes at once; what scs expects is that Find misses it.
		return s.DeleteCtx(ctx, token)
	}
	fields := map[string][]byte{DataField: b}
	// Most commits update a session that exists, so try that first.
	_, err := s.c.Set(ctx, token, fields, client.WithTTL(ttl))
	if !errors.Is(err, client.ErrNotFound) {
		return err
	}
	_, err = s.c.Create(ctx, client.WithID(token), client.WithField(DataField, b), client.WithTTL(ttl))
	if !errors.Is(err, client.ErrExists) {
		return err
	}
	// Either another commit of this token created it between our Set and
	// Create (then this Set succeeds: the last writer wins, as with any
	// store), or the token has ended and may not be created again.
	_, err = s.c.Set(ctx, token, fields, client.WithTTL(ttl))
	if errors.Is(err, client.ErrNotFound) {
		return nil
	}
	return err
}

// ttlUntil is the time from now until expiry, rounded up to a millisecond
// (the server's precision).
func ttlUntil(expiry time.Time) time.Duration {
	d := time.Until(expiry)
	if d <= 0 {
		return 0
	}
	return (d + time.Millisecond - 1).Truncate(time.Millisecond)
}

// Delete removes token. A missing token is not an error.
func (s *Store) Delete(token string) error {
	return s.DeleteCtx(context.Background(), token)
}

// DeleteCtx is Delete with a context.
func (s *Store) DeleteCtx(ctx context.Context, token string) error {
	if token == "" {
		return nil
	}
	_, err := s.c.Destroy(ctx, token)
	if err != nil && notFound(err) {
		return nil
	}
	return err
}

// notFound reports whether err means "no such session": missing, expired,
// or a token too long to be an id (the server's --max-id-len).
func notFound(err error) bool {
	return errors.Is(err, client.ErrNotFound) || errors.Is(err, client.ErrTooLarge)
}
