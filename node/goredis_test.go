package node

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestGoRedis drives the Redis commands with go-redis v9, a real client,
// in RESP2 and RESP3, against a three-node cluster: what a session store
// built on it does.
func TestGoRedis(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) { cfg.BalanceInterval = time.Hour })
	for _, proto := range []int{2, 3} {
		t.Run("RESP"+string(rune('0'+proto)), func(t *testing.T) {
			rdb := redis.NewClient(&redis.Options{
				Addr: c.cfgs[proto-1].ClientAddr, Protocol: proto,
				MaxRetries: -1, DialTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
			})
			t.Cleanup(func() { rdb.Close() })
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			p := "gr" + string(rune('0'+proto)) + ":"

			if err := rdb.Set(ctx, p+"sess:1", `{"user":"a"}`, 100*time.Second).Err(); err != nil {
				t.Fatal(err)
			}
			if v, err := rdb.Get(ctx, p+"sess:1").Result(); err != nil || v != `{"user":"a"}` {
				t.Fatalf("GET: %q, %v", v, err)
			}
			if _, err := rdb.Get(ctx, p+"none").Result(); !errors.Is(err, redis.Nil) {
				t.Fatalf("GET of no key: %v, want redis.Nil", err)
			}
			if ok, err := rdb.SetNX(ctx, p+"lock", "1", 5*time.Second).Result(); err != nil || !ok {
				t.Fatalf("SET NX PX: %v, %v", ok, err)
			}
			if ok, err := rdb.SetNX(ctx, p+"lock", "1", 5*time.Second).Result(); err != nil || ok {
				t.Fatalf("second SET NX PX: %v, %v", ok, err)
			}
			if ok, err := rdb.Expire(ctx, p+"sess:1", 200*time.Second).Result(); err != nil || !ok {
				t.Fatalf("EXPIRE: %v, %v", ok, err)
			}
			if d, err := rdb.TTL(ctx, p+"sess:1").Result(); err != nil || d <= 100*time.Second || d > 200*time.Second {
				t.Fatalf("TTL after EXPIRE 200: %v, %v", d, err)
			}
			if err := rdb.HSet(ctx, p+"h", "a", "1", "b", "2").Err(); err != nil {
				t.Fatal(err)
			}
			m, err := rdb.HGetAll(ctx, p+"h").Result()
			if err != nil || len(m) != 2 || m["a"] != "1" || m["b"] != "2" {
				t.Fatalf("HGETALL: %v, %v", m, err)
			}
			if err := rdb.Get(ctx, p+"h").Err(); err == nil || err.Error() != "WRONGTYPE Operation against a key holding the wrong kind of value" {
				t.Fatalf("GET of a hash: %v", err)
			}

			// SCAN over every group finds the keys, whichever group holds them.
			want := []string{p + "h", p + "lock", p + "sess:1"}
			var got []string
			iter := rdb.Scan(ctx, 0, p+"*", 10).Iterator()
			for iter.Next(ctx) {
				if !slices.Contains(got, iter.Val()) {
					got = append(got, iter.Val())
				}
			}
			if err := iter.Err(); err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("SCAN MATCH %s*: %v, want %v", p, got, want)
			}
			if n, err := rdb.Del(ctx, want...).Result(); err != nil || n != 3 {
				t.Fatalf("DEL: %d, %v", n, err)
			}
			if n, err := rdb.Exists(ctx, want...).Result(); err != nil || n != 0 {
				t.Fatalf("EXISTS after DEL: %d, %v", n, err)
			}
		})
	}
}
