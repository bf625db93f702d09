//go:build unix

package client

import (
	"bufio"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// cacheHit reports whether id is in c's cache and servable now.
func cacheHit(c *Client, id string) bool {
	_, ok := c.cache.get(id, time.Now().UnixNano())
	return ok
}

// waitFor polls cond until it holds, failing after 20s.
func waitFor(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %v", what, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCacheInvalidation: a session cached by one client leaves its cache
// when another client changes, destroys, rotates or revokes it.
func TestCacheInvalidation(t *testing.T) {
	ctx := testCtx(t)
	cached := newClient(t, Config{CacheSize: 1000, CacheReads: true})
	other := newClient(t, Config{})

	s, err := other.Create(ctx, WithSubject("cache-u"), WithField("v", b("1")))
	if err != nil {
		t.Fatal(err)
	}
	get := func(id string) (*Session, error) { return cached.Get(ctx, id) }
	// The first reads fill the cache once the tracking connection is up.
	waitFor(t, "the session cached", func() error {
		if _, err := get(s.ID); err != nil {
			return err
		}
		if !cacheHit(cached, s.ID) {
			return errors.New("not cached")
		}
		return nil
	})
	if _, err := other.Set(ctx, s.ID, map[string][]byte{"v": b("2")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the change seen through the cache", func() error {
		got, err := get(s.ID)
		if err != nil {
			return err
		}
		if v, _ := got.String("v"); v != "2" {
			return fmt.Errorf("v = %q", v)
		}
		return nil
	})
	newID, err := other.Rotate(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the rotated-away id gone from the cache", func() error {
		if _, err := get(s.ID); !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("old id: %v", err)
		}
		return nil
	})
	if _, err := get(newID); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Revoke(ctx, "cache-u"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the revoked session gone from the cache", func() error {
		if _, err := get(newID); !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("revoked: %v", err)
		}
		return nil
	})

	s2, err := other.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second session cached", func() error {
		if _, err := get(s2.ID); err != nil {
			return err
		}
		if !cacheHit(cached, s2.ID) {
			return errors.New("not cached")
		}
		return nil
	})
	if _, err := other.Destroy(ctx, s2.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the destroyed session gone from the cache", func() error {
		if _, err := get(s2.ID); !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("destroyed: %v", err)
		}
		return nil
	})
}

// TestCacheConnectionBreak: when the tracking connection breaks, the
// whole cache goes.
func TestCacheConnectionBreak(t *testing.T) {
	ctx := testCtx(t)
	c := newClient(t, Config{CacheSize: 100})
	s, err := c.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the session cached", func() error {
		if _, err := c.Get(ctx, s.ID, WithCache()); err != nil {
			return err
		}
		if !cacheHit(c, s.ID) {
			return errors.New("not cached")
		}
		return nil
	})
	(*c.cache.conn.Load()).Close()
	waitFor(t, "the cache dropped", func() error {
		if n := c.cache.len(); n != 0 {
			return fmt.Errorf("%d cached", n)
		}
		return nil
	})
}

// TestCacheOptions: WithCache needs a cache and a linearizable read.
func TestCacheOptions(t *testing.T) {
	ctx := testCtx(t)
	plain := newClient(t, Config{})
	if _, err := plain.Get(ctx, "x", WithCache()); !errors.Is(err, ErrInvalid) {
		t.Fatalf("WithCache without a cache: %v", err)
	}
	c := newClient(t, Config{CacheSize: 10})
	if _, err := c.Get(ctx, "x", WithCache(), WithConsistency(Stale)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("WithCache with a stale read: %v", err)
	}
	if _, err := New(ctx, Config{Seeds: shared.Addrs(), CacheReads: true}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("CacheReads without CacheSize: %v", err)
	}
}

// TestCacheUnit: the cache's own rules, without a server: the lease,
// expiry, the size bound, and a fill overtaken by an invalidation or a
// flush is not stored.
func TestCacheUnit(t *testing.T) {
	c := newCache(cacheShards, time.Second) // one entry per shard
	now := time.Now()
	c.validUntil.Store(now.Add(time.Hour).UnixNano())
	fillWith := func(id string, s *Session) { c.end(c.begin(id), id, s) }

	fillWith("a", &Session{ID: "a"})
	if _, ok := c.get("a", now.UnixNano()); !ok {
		t.Fatal("a fill was not stored")
	}
	if _, ok := c.get("a", now.Add(2*time.Hour).UnixNano()); ok {
		t.Fatal("served past the lease")
	}
	fillWith("e", &Session{ID: "e", ExpiresAt: now.Add(time.Minute)})
	if _, ok := c.get("e", now.Add(2*time.Minute).UnixNano()); ok {
		t.Fatal("served past the session's expiry")
	}

	tok := c.begin("b")
	c.invalidate("b")
	c.end(tok, "b", &Session{ID: "b"})
	if _, ok := c.get("b", now.UnixNano()); ok {
		t.Fatal("stored a fill its invalidation overtook")
	}
	tok = c.begin("f")
	c.flush()
	c.end(tok, "f", &Session{ID: "f"})
	if _, ok := c.get("f", now.UnixNano()); ok {
		t.Fatal("stored a fill a flush overtook")
	}
	c.validUntil.Store(0)
	fillWith("g", &Session{ID: "g"})
	c.validUntil.Store(now.Add(time.Hour).UnixNano())
	if _, ok := c.get("g", now.UnixNano()); ok {
		t.Fatal("stored a fill made without a lease")
	}

	for i := range 10 * cacheShards {
		id := fmt.Sprint("k", i)
		fillWith(id, &Session{ID: id})
	}
	if n := c.len(); n > cacheShards {
		t.Fatalf("%d entries, bound %d", n, cacheShards)
	}
}

// FuzzReadValue: the tracking connection's RESP3 reader never panics and
// never reads a value it cannot account for.
func FuzzReadValue(f *testing.F) {
	for _, s := range []string{
		">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\nk1\r\n", ">2\r\n$10\r\ninvalidate\r\n_\r\n",
		"+PONG\r\n", "-ERR x\r\n", "%1\r\n+a\r\n:1\r\n", "$-1\r\n", "*-1\r\n", "#t\r\n", ",1.5\r\n",
		"=7\r\ntxt:abc\r\n", "~1\r\n(12\r\n", "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReader(strings.NewReader(string(data)))
		for range 16 {
			v, err := readValue(br)
			if err != nil {
				return
			}
			if v.kind == 0 {
				t.Fatal("value without a type")
			}
		}
	})
}
