package scsstore_test

// The expectations scs has of a store (scs.Store's documentation and its
// memstore tests), against a real cluster.

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/sessionraft/sessionraft/client"
	"github.com/sessionraft/sessionraft/client/scsstore"
)

// newToken makes a token like scs's own: 32 random bytes, base64url.
func newToken() string { return rand.Text() + rand.Text() }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustFind(t *testing.T, s scs.Store, token string, want []byte) {
	t.Helper()
	b, found, err := s.Find(token)
	if err != nil || !found || !bytes.Equal(b, want) {
		t.Fatalf("Find(%s) = %q, %v, %v; want %q, true, nil", token, b, found, err, want)
	}
}

func mustMiss(t *testing.T, s scs.Store, token string) {
	t.Helper()
	b, found, err := s.Find(token)
	if err != nil || found || b != nil {
		t.Fatalf("Find(%s) = %q, %v, %v; want nil, false, nil", token, b, found, err)
	}
}

// waitMiss polls until Find misses token, up to timeout.
func waitMiss(t *testing.T, s scs.Store, token string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		_, found, err := s.Find(token)
		if err != nil {
			t.Fatal(err)
		}
		if !found {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still found after %s", token, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestFindMissing(t *testing.T) {
	needCluster(t)
	s := scsstore.New(cl)
	mustMiss(t, s, "missing_session_token")
	mustMiss(t, s, newToken())
	// Malformed tokens are misses too, not errors.
	mustMiss(t, s, "")
	mustMiss(t, s, strings.Repeat("x", 4096))
}

func TestCommitNewAndFind(t *testing.T) {
	needCluster(t)
	s := scsstore.New(cl)
	tok := newToken()
	if err := s.Commit(tok, []byte("encoded_data"), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	mustFind(t, s, tok, []byte("encoded_data"))

	// Stored as a sessionraft session with the token as its id, the data in
	// one field and the expiry as its absolute deadline.
	rec, err := cl.Get(ctxT(t), tok)
	if err != nil {
		t.Fatal(err)
	}
	if string(rec.Fields[scsstore.DataField]) != "encoded_data" || rec.IdleTimeout != 0 {
		t.Fatalf("record %+v", rec)
	}
	if d := time.Until(rec.AbsoluteDeadline); d < 55*time.Second || d > 61*time.Second {
		t.Fatalf("absolute deadline in %v, want about 1m", d)
	}
}

func TestCommitUpdated(t *testing.T) {
	needCluster(t)
	s := scsstore.New(cl)
	tok := newToken()
	if err := s.Commit(tok, []byte("encoded_data"), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(tok, []byte("new_encoded_data"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	mustFind(t, s, tok, []byte("new_encoded_data"))
	// The new expiry replaces the old one, later or earlier.
	rec, err := cl.Get(ctxT(t), tok)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(rec.AbsoluteDeadline); d < 59*time.Minute {
		t.Fatalf("deadline in %v after committing a 1h expiry", d)
	}
	if err := s.Commit(tok, []byte("x"), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if rec, err = cl.Get(ctxT(t), tok); err != nil || time.Until(rec.AbsoluteDeadline) > 61*time.Second {
		t.Fatalf("deadline not moved back: %v %v", rec, err)
	}
}

func TestExpiry(t *testing.T) {
	needCluster(t)
	s := scsstore.New(cl)
	tok := newToken()
	expiry := time.Now().Add(time.Second)
	if err := s.Commit(tok, []byte("encoded_data"), expiry); err != nil {
		t.Fatal(err)
	}
	mustFind(t, s, tok, []byte("encoded_data"))
	waitMiss(t, s, tok, 10*time.Second)
	if time.Now().Before(expiry) {
		t.Fatal("gone before its expiry")
	}

	// An expiry already past stores nothing (and removes what was there).
	tok2 := newToken()
	if err := s.Commit(tok2, []byte("a"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(tok2, []byte("b"), time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	mustMiss(t, s, tok2)
}

func TestDelete(t *testing.T) {
	needCluster(t)
	s := scsstore.New(cl)
	tok := newToken()
	if err := s.Commit(tok, []byte("encoded_data"), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(tok); err != nil {
		t.Fatal(err)
	}
	mustMiss(t, s, tok)
	// Deleting what is not there is a no-op, not an error.
	if err := s.Delete(tok); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("missing_session_token"); err != nil {
		t.Fatal(err)
	}
}

// TestCommitAfterDeleteDoesNotResurrect: a commit that races a logout
// (scs deletes the token, then a concurrent request of the same user
// commits to it) does not bring the session back, and is not an error.
func TestCommitAfterDeleteDoesNotResurrect(t *testing.T) {
	needCluster(t)
	s := scsstore.New(cl)
	tok := newToken()
	if err := s.Commit(tok, []byte("logged_in"), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(tok); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(tok, []byte("stale"), time.Now().Add(time.Minute)); err != nil {
		t.Fatalf("commit to a deleted token: %v", err)
	}
	mustMiss(t, s, tok)
}

func TestCtxMethods(t *testing.T) {
	needCluster(t)
	var s scs.CtxStore = scsstore.New(cl, scsstore.WithConsistency(client.Leader))
	ctx := ctxT(t)
	tok := newToken()
	if err := s.CommitCtx(ctx, tok, []byte("ctx_data"), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	b, found, err := s.FindCtx(ctx, tok)
	if err != nil || !found || string(b) != "ctx_data" {
		t.Fatalf("FindCtx: %q %v %v", b, found, err)
	}
	if err := s.DeleteCtx(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, found, err := s.FindCtx(ctx, tok); found || err != nil {
		t.Fatalf("FindCtx after DeleteCtx: %v %v", found, err)
	}

	// A cancelled context is a system error, not a miss.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := s.FindCtx(cancelled, tok); err == nil {
		t.Fatal("FindCtx with a cancelled context: no error")
	}
	if err := s.CommitCtx(cancelled, tok, []byte("x"), time.Now().Add(time.Minute)); err == nil {
		t.Fatal("CommitCtx with a cancelled context: no error")
	}
}

// TestConcurrentFirstCommits: commits of one new token racing each other
// (create loses to create) all succeed, and one of them is stored.
func TestConcurrentFirstCommits(t *testing.T) {
	needCluster(t)
	s := scsstore.New(cl)
	tok := newToken()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Commit(tok, fmt.Appendf(nil, "v%d", i), time.Now().Add(time.Minute))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	b, found, err := s.Find(tok)
	if err != nil || !found || !bytes.HasPrefix(b, []byte("v")) {
		t.Fatalf("Find: %q %v %v", b, found, err)
	}
}

func TestTooLargeIsAnError(t *testing.T) {
	needCluster(t)
	s := scsstore.New(cl)
	err := s.Commit(newToken(), make([]byte, 2<<20), time.Now().Add(time.Minute))
	if !errors.Is(err, client.ErrTooLarge) {
		t.Fatalf("2 MiB commit: %v, want ErrTooLarge", err)
	}
}
