package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessionraft/sessionraft/client"
)

// benchTarget is a system under load: a sessionraft cluster through the Go
// client, or a Redis server through rueidis. Methods are safe for
// concurrent use.
type benchTarget interface {
	Name() string
	IsRedis() bool
	// Create stores a new key with value and returns its name.
	Create(ctx context.Context, rng *rand.Rand, value []byte) (string, error)
	Get(ctx context.Context, key, consistency string) error
	Set(ctx context.Context, key string, value []byte) error
	Touch(ctx context.Context, key string) error
	// ServerCPU is the CPU seconds (user + system) every server process
	// of the target has used so far, from INFO's CPU section
	// (bench_cpu.go).
	ServerCPU(ctx context.Context) (float64, error)
	Close()
}

func openTargets(ctx context.Context, o benchOptions) ([]benchTarget, error) {
	var ts []benchTarget
	closeAll := func() {
		for _, t := range ts {
			t.Close()
		}
	}
	if len(o.addrs) > 0 {
		d, err := o.auth.dialer()
		if err != nil {
			return nil, err
		}
		tlsConf := d.tls
		c, err := client.New(ctx, client.Config{Seeds: o.addrs, RequestTimeout: o.timeout, MaxFlushDelay: o.flushDelay,
			SpreadStaleReads: o.spreadStale, SpreadCreates: o.spreadCreates, LinearizableReadsToLeader: o.linLeader, TLS: tlsConf, Username: o.auth.user, Password: o.auth.password})
		if err != nil {
			return nil, fmt.Errorf("connect to sessionraft %v: %w", o.addrs, err)
		}
		ts = append(ts, &sessionraftTarget{c: c, ttl: o.ttl, seeds: o.addrs, dial: d})
	}
	for _, r := range o.redis {
		label, addr, err := parseRedisTarget(r)
		if err != nil {
			closeAll()
			return nil, err
		}
		c, err := rueidis.NewClient(rueidis.ClientOption{
			InitAddress:       []string{addr},
			ForceSingleClient: true,
			DisableCache:      true,
			Dialer:            net.Dialer{Timeout: 2 * time.Second},
			MaxFlushDelay:     o.flushDelay,
		})
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("connect to %s (%s): %w", label, addr, err)
		}
		ts = append(ts, &redisTarget{name: label, c: c, ttl: int64(o.ttl / time.Second)})
	}
	return ts, nil
}

// sessionraftTarget drives sessionraft through the Go client: one shared
// Client, auto-pipelined, routing each request to its group's leader.
type sessionraftTarget struct {
	c     *client.Client
	ttl   time.Duration
	seeds []string
	nodes []string // every node's client address, found on first use
	dial  dialer   // how INFO probes reach the nodes (TLS, AUTH: clientauth.go)
}

func (t *sessionraftTarget) Name() string  { return "sessionraft" }
func (t *sessionraftTarget) IsRedis() bool { return false }
func (t *sessionraftTarget) Close()        { t.c.Close() }

func (t *sessionraftTarget) Create(ctx context.Context, _ *rand.Rand, value []byte) (string, error) {
	s, err := t.c.Create(ctx, client.WithTTL(t.ttl), client.WithField("v", value))
	if err != nil {
		return "", err
	}
	return s.ID, nil
}

func (t *sessionraftTarget) Get(ctx context.Context, key, consistency string) error {
	_, err := t.c.Get(ctx, key, client.WithConsistency(client.Consistency(consistency)))
	return err
}

func (t *sessionraftTarget) Set(ctx context.Context, key string, value []byte) error {
	_, err := t.c.Set(ctx, key, map[string][]byte{"v": value})
	return err
}

func (t *sessionraftTarget) Touch(ctx context.Context, key string) error {
	_, err := t.c.Touch(ctx, key)
	return err
}

// redisTarget drives a Redis server with the same workloads: SET EX of a
// fresh random key (create), GET, SET EX (set), EXPIRE (touch).
type redisTarget struct {
	name string
	c    rueidis.Client
	ttl  int64 // seconds
}

func (t *redisTarget) Name() string  { return t.name }
func (t *redisTarget) IsRedis() bool { return true }
func (t *redisTarget) Close()        { t.c.Close() }

func (t *redisTarget) Create(ctx context.Context, rng *rand.Rand, value []byte) (string, error) {
	key := randomKey(rng)
	err := t.c.Do(ctx, t.c.B().Set().Key(key).Value(rueidis.BinaryString(value)).ExSeconds(t.ttl).Build()).Error()
	return key, err
}

func (t *redisTarget) Get(ctx context.Context, key, _ string) error {
	err := t.c.Do(ctx, t.c.B().Get().Key(key).Build()).Error()
	if rueidis.IsRedisNil(err) {
		return client.ErrNotFound
	}
	return err
}

func (t *redisTarget) Set(ctx context.Context, key string, value []byte) error {
	return t.c.Do(ctx, t.c.B().Set().Key(key).Value(rueidis.BinaryString(value)).ExSeconds(t.ttl).Build()).Error()
}

func (t *redisTarget) Touch(ctx context.Context, key string) error {
	return t.c.Do(ctx, t.c.B().Expire().Key(key).Seconds(t.ttl).Build()).Error()
}

// randomKey returns a fresh key shaped like a session id (22 URL-safe
// characters of 128 random bits) under a "bench:" prefix.
func randomKey(rng *rand.Rand) string {
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return "bench:" + base64.RawURLEncoding.EncodeToString(b[:])
}

// benchValue returns n bytes of printable filler.
func benchValue(n int) []byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[i%len(alphabet)]
	}
	return b
}

// errKind names an error for the "errors by kind" count.
func errKind(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, client.ErrNotFound):
		return "notfound"
	case errors.Is(err, client.ErrConflict):
		return "conflict"
	case errors.Is(err, client.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, client.ErrIndeterminate):
		return "indeterminate"
	case errors.Is(err, client.ErrStale):
		return "stale"
	case errors.Is(err, client.ErrTooLarge):
		return "toolarge"
	case errors.Is(err, client.ErrInvalid):
		return "invalid"
	case errors.Is(err, client.ErrExists):
		return "exists"
	case errors.Is(err, client.ErrClosed):
		return "closed"
	}
	var re *rueidis.RedisError
	if errors.As(err, &re) {
		code, _, _ := strings.Cut(re.Error(), " ")
		return "redis:" + strings.ToLower(code)
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return "network"
	}
	return "other"
}
