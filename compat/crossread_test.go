package compat

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	redigo "github.com/gomodule/redigo/redis"
	goredis "github.com/redis/go-redis/v9"

	"github.com/sessionraft/sessionraft/client"
)

// checkConnectRedisSession reads a session connect-redis wrote (a string
// key holding express-session's JSON) through sessionraft's own commands:
// SESSION.GET on another node, and the Go client, which shows the string
// as the one field "value".
func checkConnectRedisSession(t *testing.T, key string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.New(ctx, client.Config{Seeds: shared.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.Get(ctx, key)
	if err != nil {
		t.Fatalf("Go client Get %s: %v", key, err)
	}
	var sess struct {
		User   string         `json:"user"`
		Cookie map[string]any `json:"cookie"`
	}
	if err := json.Unmarshal(s.Fields["value"], &sess); err != nil || sess.User != "dave" || sess.Cookie == nil {
		t.Fatalf("Go client Get %s: fields %q (%v)", key, s.Fields, err)
	}
	if until := time.Until(s.ExpiresAt); until <= 0 || until > time.Minute {
		t.Fatalf("Go client Get %s: expires in %v, want the cookie's 60 s", key, until)
	}

	// SESSION.GET on a node the application was not connected to.
	for _, nd := range shared.Nodes[1:] {
		if !nd.Running() {
			continue
		}
		rdb := goredis.NewClient(&goredis.Options{Addr: nd.Client, Protocol: 3})
		v, err := rdb.Do(ctx, "SESSION.GET", key).Result()
		rdb.Close()
		rec, ok := v.(map[any]any)
		if err != nil || !ok || rec["id"] != key {
			t.Fatalf("SESSION.GET %s on %s: %v (%v)", key, nd.ID, v, err)
		}
		fields, _ := rec["fields"].(map[any]any)
		if string(s.Fields["value"]) != fields["value"] {
			t.Fatalf("SESSION.GET %s on %s: fields %v, the Go client read %q", key, nd.ID, rec["fields"], s.Fields)
		}
		break
	}
}

// TestSessionCreateReadByRedisClients: a session made with SESSION.CREATE
// (through the Go client) is a hash that Redis clients read with HGETALL,
// with the TTL it was given.
func TestSessionCreateReadByRedisClients(t *testing.T) {
	needCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.New(ctx, client.Config{Seeds: shared.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.Create(ctx, client.WithSubject("alice"), client.WithTTL(time.Hour),
		client.WithField("cart", []byte("3")), client.WithField("lang", []byte("en")))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"cart": "3", "lang": "en"}
	for i, nd := range shared.Nodes {
		rdb := goredis.NewClient(&goredis.Options{Addr: nd.Client, Protocol: 2 + i%2})
		got, err := rdb.HGetAll(ctx, s.ID).Result()
		ttl, terr := rdb.TTL(ctx, s.ID).Result()
		rdb.Close()
		if err != nil || terr != nil || len(got) != len(want) || got["cart"] != "3" || got["lang"] != "en" {
			t.Fatalf("go-redis HGETALL on %s: %v, %v, %v", nd.ID, got, err, terr)
		}
		if ttl <= 59*time.Minute || ttl > time.Hour {
			t.Fatalf("TTL on %s: %v", nd.ID, ttl)
		}
	}
	conn, err := redigo.Dial("tcp", shared.Nodes[0].Client)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	got, err := redigo.StringMap(conn.Do("HGETALL", s.ID))
	if err != nil || len(got) != len(want) || got["cart"] != "3" || got["lang"] != "en" {
		t.Fatalf("redigo HGETALL: %v, %v", got, err)
	}
	if typ, err := redigo.String(conn.Do("TYPE", s.ID)); err != nil || typ != "hash" {
		t.Fatalf("TYPE: %q, %v", typ, err)
	}
}
