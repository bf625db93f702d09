package node

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9/push"
	"github.com/redis/rueidis"
)

// hello3 switches a raw connection to RESP3.
func hello3(t *testing.T, c *redisRaw) {
	t.Helper()
	if got := c.do("HELLO", "3"); !strings.HasPrefix(got, "%") {
		t.Fatalf("HELLO 3: %q", got)
	}
}

// recordID finds the id in a raw SESSION.CREATE reply (RESP2 or 3).
func recordID(t *testing.T, reply string) string {
	t.Helper()
	parts := strings.Split(reply, "\r\n")
	for i := 0; i+2 < len(parts); i++ {
		if parts[i] == "id" {
			return parts[i+2]
		}
	}
	t.Fatalf("no id in %q", reply)
	return ""
}

// readUntil reads replies until one contains want (pushes of other keys
// may come first); it fails after 20 values.
func readUntil(t *testing.T, c *redisRaw, want string) string {
	t.Helper()
	var seen []string
	for range 20 {
		got := c.read()
		if strings.Contains(got, want) {
			return got
		}
		seen = append(seen, got)
	}
	t.Fatalf("no reply containing %q; got %q", want, seen)
	return ""
}

// TestTrackingDefaultRESP3: a read on a tracking connection is
// invalidated by a change made through another node, for plain keys and
// session records (set, destroy), and a FLUSHDB invalidates everything.
func TestTrackingDefaultRESP3(t *testing.T) {
	c := startCluster(t, 3, nil)
	a := dialRedisRaw(t, c.cfgs[0].ClientAddr)
	b := dialRedisRaw(t, c.cfgs[1].ClientAddr)
	hello3(t, a)
	if got := a.do("CLIENT", "TRACKING", "ON"); got != "+OK\r\n" {
		t.Fatalf("TRACKING ON: %q", got)
	}
	if got := b.do("SET", "k1", "v1"); got != "+OK\r\n" {
		t.Fatalf("SET: %q", got)
	}
	if got := a.do("GET", "k1"); got != "$2\r\nv1\r\n" {
		t.Fatalf("GET: %q", got)
	}
	b.do("SET", "k1", "v2")
	if got := readUntil(t, a, "k1"); got != ">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\nk1\r\n" {
		t.Fatalf("invalidation: %q", got)
	}

	// A session read by SESSION.GET, destroyed through another node.
	id := recordID(t, b.do("SESSION.CREATE", "TTL", "60s", "FIELDS", "f", "1"))
	if got := a.do("SESSION.GET", id); !strings.Contains(got, "f") {
		t.Fatalf("SESSION.GET: %q", got)
	}
	if got := b.do("SESSION.DESTROY", id); got != ":1\r\n" {
		t.Fatalf("DESTROY: %q", got)
	}
	readUntil(t, a, id)

	// A changed key is invalidated once: a second change sends nothing
	// until it is read again. FLUSHDB invalidates everything.
	a.do("GET", "k1")
	b.do("FLUSHDB")
	readUntil(t, a, ">2\r\n$10\r\ninvalidate\r\n_\r\n")
	// (a flush per group whose keys it tracked: more may follow)
	a.send("CLIENT", "TRACKINGINFO")
	if got := readUntil(t, a, "flags"); !strings.Contains(got, "on") || !strings.Contains(got, ":0\r\n") {
		t.Fatalf("TRACKINGINFO: %q", got)
	}
	// More flush pushes may still arrive ahead of the reply.
	a.send("CLIENT", "GETREDIR")
	if got := readUntil(t, a, ":"); got != ":0\r\n" {
		t.Fatalf("GETREDIR: %q", got)
	}
}

// TestTrackingRedirectRESP2: a RESP2 client's invalidations go to the
// connection it redirects to, as messages on __redis__:invalidate.
func TestTrackingRedirectRESP2(t *testing.T) {
	c := startCluster(t, 3, nil)
	sub := dialRedisRaw(t, c.cfgs[0].ClientAddr)
	rd := dialRedisRaw(t, c.cfgs[0].ClientAddr)
	w := dialRedisRaw(t, c.cfgs[2].ClientAddr)
	id := strings.TrimSpace(strings.TrimPrefix(sub.do("CLIENT", "ID"), ":"))
	sub.do("SUBSCRIBE", "__redis__:invalidate")
	if got := rd.do("CLIENT", "TRACKING", "ON", "REDIRECT", "999999"); !strings.Contains(got, "does not exist") {
		t.Fatalf("REDIRECT to no client: %q", got)
	}
	if got := rd.do("CLIENT", "TRACKING", "ON", "REDIRECT", id); got != "+OK\r\n" {
		t.Fatalf("TRACKING ON REDIRECT: %q", got)
	}
	if got := rd.do("CLIENT", "GETREDIR"); got != ":"+id+"\r\n" {
		t.Fatalf("GETREDIR: %q", got)
	}
	w.do("SET", "r1", "x")
	rd.do("GET", "r1")
	w.do("SET", "r1", "y")
	want := "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$2\r\nr1\r\n"
	if got := readUntil(t, sub, "r1"); got != want {
		t.Fatalf("redirected invalidation: %q, want %q", got, want)
	}
}

// TestTrackingModes: BCAST with prefixes, OPTIN, and Redis's errors.
func TestTrackingModes(t *testing.T) {
	c := startCluster(t, 3, nil)
	a := dialRedisRaw(t, c.cfgs[0].ClientAddr)
	w := dialRedisRaw(t, c.cfgs[1].ClientAddr)
	hello3(t, a)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"CLIENT", "CACHING", "YES"}, "only when the client is in tracking mode"},
		{[]string{"CLIENT", "TRACKING", "ON", "PREFIX", "a"}, "requires BCAST"},
		{[]string{"CLIENT", "TRACKING", "ON", "BCAST", "OPTIN"}, "not compatible with BCAST"},
		{[]string{"CLIENT", "TRACKING", "ON", "OPTIN", "OPTOUT"}, "both OPTIN and OPTOUT"},
		{[]string{"CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "ab", "PREFIX", "a"}, "overlaps"},
		{[]string{"CLIENT", "TRACKING", "MAYBE"}, "syntax"},
		{[]string{"CLIENT", "GETREDIR"}, ":-1"},
	} {
		if got := a.do(tc.args...); !strings.Contains(got, tc.want) {
			t.Errorf("%q: %q, want %q", tc.args, got, tc.want)
		}
	}

	if got := a.do("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "p:"); got != "+OK\r\n" {
		t.Fatalf("BCAST: %q", got)
	}
	if got := a.do("CLIENT", "TRACKING", "ON", "OPTIN"); !strings.Contains(got, "switch BCAST") {
		t.Fatalf("mode switch: %q", got)
	}
	w.do("SET", "q:1", "x") // no prefix match: nothing
	w.do("SET", "p:1", "x") // never read, still sent: BCAST
	got := readUntil(t, a, "p:1")
	if strings.Contains(got, "q:1") {
		t.Fatalf("BCAST sent a key outside its prefixes: %q", got)
	}
	a.do("CLIENT", "TRACKING", "OFF")

	// OPTIN: only the read after CLIENT CACHING YES is tracked.
	if got := a.do("CLIENT", "TRACKING", "ON", "OPTIN"); got != "+OK\r\n" {
		t.Fatalf("OPTIN: %q", got)
	}
	w.do("SET", "o:1", "x")
	w.do("SET", "o:2", "x")
	a.do("GET", "o:1")
	a.do("CLIENT", "CACHING", "YES")
	a.do("GET", "o:2")
	w.do("SET", "o:1", "y")
	w.do("SET", "o:2", "y")
	if got := readUntil(t, a, "o:2"); strings.Contains(got, "o:1") {
		t.Fatalf("OPTIN tracked an uncached read: %q", got)
	}
}

// TestTrackingTableBound: past TrackingTableMaxKeys a key is evicted
// from the table with an invalidation.
func TestTrackingTableBound(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) { cfg.TrackingTableMaxKeys = 2 })
	a := dialRedisRaw(t, c.cfgs[0].ClientAddr)
	hello3(t, a)
	a.do("CLIENT", "TRACKING", "ON")
	// A read of a group whose state is too old here (a loaded machine,
	// a fresh cluster) is invalidated at once instead of tracked: that
	// push can come between the replies, so they are read past pushes.
	var pushes []string
	get := func(key string) {
		a.send("GET", key)
		for range 10 {
			got := a.read()
			if !strings.HasPrefix(got, ">") {
				return
			}
			pushes = append(pushes, got)
		}
		t.Fatalf("GET %s: no reply among %q", key, pushes)
	}
	get("b1")
	get("b2")
	get("b3") // the table holds 2: one of the three is invalidated
	got := strings.Join(pushes, "")
	if !strings.Contains(got, "invalidate") {
		got = readUntil(t, a, "invalidate")
	}
	if !strings.Contains(got, "b1") && !strings.Contains(got, "b2") && !strings.Contains(got, "b3") {
		t.Fatalf("eviction: %q", got)
	}
	if n := c.node(0).trk.nkeys.Load(); n > 2 {
		t.Fatalf("table holds %d keys, cap 2", n)
	}
}

// TestTrackingStaleFlush: a node cut off from every leader (the other
// two nodes stopped) flushes its tracking clients once its state is
// older than TrackingMaxStaleness, and a PING probe gets the flush before
// its PONG.
func TestTrackingStaleFlush(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) {
		cfg.MaxStaleness = time.Second
	})
	a := dialRedisRaw(t, c.cfgs[0].ClientAddr)
	hello3(t, a)
	a.do("CLIENT", "TRACKING", "ON")
	a.do("SET", "s1", "x")
	a.do("GET", "s1")
	c.stop(1)
	c.stop(2)
	// Once the state is too old, each probe's PONG comes right after a
	// flush, in the same reply (the periodic check may send one more).
	eventually(t, "a probe answered with a flush first", func() error {
		a.send("PING")
		last := ""
		for {
			got := a.read()
			if got == "+PONG\r\n" {
				break
			}
			last = got
		}
		if last != ">2\r\n$10\r\ninvalidate\r\n_\r\n" {
			return fmt.Errorf("PONG after %q, not a flush", last)
		}
		return nil
	})
}

// TestTrackingRueidis: rueidis's client-side cache (CLIENT TRACKING ON
// OPTIN; CLIENT CACHING YES, MULTI, PTTL, the read, EXEC) against a
// three-node cluster: a cached value is served from the cache, and a key
// changed or a session destroyed through another node leaves the cache.
func TestTrackingRueidis(t *testing.T) {
	c := startCluster(t, 3, nil)
	cl, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress: []string{c.cfgs[0].ClientAddr}, ForceSingleClient: true, DisableRetry: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	w := dialRedisRaw(t, c.cfgs[1].ClientAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	w.do("SET", "rk", "v1")
	get := func() (string, bool) {
		t.Helper()
		r := cl.DoCache(ctx, cl.B().Get().Key("rk").Cache(), time.Minute)
		v, err := r.ToString()
		if err != nil {
			t.Fatalf("DoCache GET: %v", err)
		}
		return v, r.IsCacheHit()
	}
	// The first read fills the cache; this follower may apply the SET
	// after the read registered the key and invalidate it once (an
	// invalidation too many, never one too few), so wait for a hit.
	eventually(t, "a cache hit", func() error {
		if v, hit := get(); v != "v1" || !hit {
			return fmt.Errorf("%q hit=%v", v, hit)
		}
		return nil
	})
	w.do("SET", "rk", "v2")
	eventually(t, "the changed key leaves rueidis's cache", func() error {
		if v, _ := get(); v != "v2" {
			return fmt.Errorf("still %q", v)
		}
		return nil
	})

	// A session (a hash): HGETALL cached, then destroyed elsewhere.
	id := recordID(t, w.do("SESSION.CREATE", "TTL", "60s", "FIELDS", "user", "alice"))
	hgetall := func() map[string]string {
		t.Helper()
		m, err := cl.DoCache(ctx, cl.B().Hgetall().Key(id).Cache(), time.Minute).AsStrMap()
		if err != nil {
			t.Fatalf("DoCache HGETALL: %v", err)
		}
		return m
	}
	if m := hgetall(); m["id"] != id && len(m) == 0 {
		t.Fatalf("HGETALL of a live session: %v", m)
	}
	eventually(t, "a cache hit of the session", func() error {
		if r := cl.DoCache(ctx, cl.B().Hgetall().Key(id).Cache(), time.Minute); !r.IsCacheHit() {
			return fmt.Errorf("miss")
		}
		return nil
	})
	w.do("SESSION.DESTROY", id)
	eventually(t, "the destroyed session leaves rueidis's cache", func() error {
		if m := hgetall(); len(m) != 0 {
			return fmt.Errorf("still cached: %d fields", len(m))
		}
		return nil
	})
}

// invalidations collects go-redis's "invalidate" pushes.
type invalidations chan []any

func (ch invalidations) HandlePushNotification(_ context.Context, _ push.NotificationHandlerContext, n []any) error {
	select {
	case ch <- n:
	default:
	}
	return nil
}

// TestTrackingGoRedis: go-redis v9 has no client-side cache of its own,
// but a cache built on its RESP3 push handlers works: the "invalidate"
// push of a key a tracking connection read reaches its handler.
func TestTrackingGoRedis(t *testing.T) {
	c := startCluster(t, 3, nil)
	rdb := goRedis(t, c.cfgs[0].ClientAddr, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn := rdb.Conn()
	t.Cleanup(func() { conn.Close() })
	got := make(invalidations, 16)
	if err := conn.RegisterPushNotificationHandler("invalidate", got, false); err != nil {
		t.Fatal(err)
	}
	if err := conn.Do(ctx, "CLIENT", "TRACKING", "ON").Err(); err != nil {
		t.Fatal(err)
	}
	w := dialRedisRaw(t, c.cfgs[2].ClientAddr)
	w.do("SET", "gk", "1")
	if v, err := conn.Get(ctx, "gk").Result(); err != nil || v != "1" {
		t.Fatalf("GET: %q %v", v, err)
	}
	w.do("SET", "gk", "2")
	eventually(t, "go-redis's push handler told of gk", func() error {
		if err := conn.Ping(ctx).Err(); err != nil { // pushes are read with replies
			return err
		}
		select {
		case n := <-got:
			if s := fmt.Sprint(n); !strings.Contains(s, "gk") {
				return fmt.Errorf("push %s", s)
			}
			return nil
		default:
			return fmt.Errorf("no push yet")
		}
	})
}

// TestTrackingTxnReads: reads queued in MULTI are registered when EXEC
// is dispatched (txn_read.go runs them), so a tracking connection is
// invalidated for keys it read in a transaction, as in Redis: a
// transaction of reads only, and one mixing reads and writes (whose own
// SET then invalidates the key it read first, as Redis does without
// NOLOOP).
func TestTrackingTxnReads(t *testing.T) {
	c := startCluster(t, 3, nil)
	a := dialRedisRaw(t, c.cfgs[0].ClientAddr)
	w := dialRedisRaw(t, c.cfgs[1].ClientAddr)
	hello3(t, a)
	if got := a.do("CLIENT", "TRACKING", "ON"); got != "+OK\r\n" {
		t.Fatalf("TRACKING ON: %q", got)
	}
	w.do("SET", "tx1", "v1")
	a.do("MULTI")
	if got := a.do("GET", "tx1"); got != "+QUEUED\r\n" {
		t.Fatalf("GET in MULTI: %q", got)
	}
	if got := a.do("EXEC"); got != "*1\r\n$2\r\nv1\r\n" {
		t.Fatalf("EXEC: %q", got)
	}
	w.do("SET", "tx1", "v2")
	if got := readUntil(t, a, "tx1"); got != ">2\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\ntx1\r\n" {
		t.Fatalf("invalidation of a key read in MULTI: %q", got)
	}

	a.do("MULTI")
	a.do("GET", "tx2")
	a.do("SET", "tx2", "x")
	if got := a.do("EXEC"); got != "*2\r\n_\r\n+OK\r\n" {
		t.Fatalf("EXEC of GET, SET: %q", got)
	}
	if got := readUntil(t, a, "tx2"); got != ">2\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\ntx2\r\n" {
		t.Fatalf("invalidation of a key read then written in MULTI: %q", got)
	}
}

// TestTrackingDeferredGet: a linearizable SESSION.GET on the ready leader
// of the session's group defers its reply to the leadership round
// (getDeferred); its key is registered in Dispatch before that, so the
// destroy made through another node right after the reply is invalidated,
// and the push never comes before the reply.
func TestTrackingDeferredGet(t *testing.T) {
	c := startCluster(t, 3, nil)
	w := dialRedisRaw(t, c.cfgs[1].ClientAddr)
	id := recordID(t, w.do("SESSION.CREATE", "TTL", "60s", "FIELDS", "f", "1"))
	gid := c.node(0).ring.Group(id)
	lead := c.readyLeader(gid)
	a := dialRedisRaw(t, c.cfgs[lead].ClientAddr)
	hello3(t, a)
	a.do("CLIENT", "TRACKING", "ON")
	for i := range 5 { // each read registers the key again
		if got := a.do("SESSION.GET", id, "CONSISTENCY", "linearizable"); !strings.Contains(got, "$1\r\nf\r\n") {
			t.Fatalf("SESSION.GET %d: %q", i, got)
		}
		if i < 4 {
			w.do("SESSION.SET", id, "f", fmt.Sprint(i+2))
			readUntil(t, a, id)
		}
	}
	w.do("SESSION.DESTROY", id)
	readUntil(t, a, id)
}
