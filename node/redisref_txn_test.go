package node

import (
	"strings"
	"testing"
)

// TestRedisTxnMatchesRedis sends the same transactions (reads queued with
// writes, reads alone, WATCH, errors while queueing and inside EXEC) to a
// real redis-server and to a node, in RESP2 and RESP3, and compares every
// reply byte for byte. Keys live in one group (a one-node cluster), as a
// Redis Cluster client keeps a transaction's keys in one slot.
func TestRedisTxnMatchesRedis(t *testing.T) {
	redisAddr := startRedisServer(t)
	c := startCluster(t, 1, nil)
	ours := []*redisRaw{dialRedisRaw(t, c.cfgs[0].ClientAddr), dialRedisRaw(t, c.cfgs[0].ClientAddr)}
	theirs := []*redisRaw{dialRedisRaw(t, redisAddr), dialRedisRaw(t, redisAddr)}

	// Each step is one command on connection 0, or on connection 1 when
	// it starts with "1:" (a concurrent client, for WATCH).
	script := []string{
		// rueidis's client-side cache read, and apps' MULTI GET ... EXEC.
		"MULTI", "PTTL t:k", "GET t:k", "EXEC",
		"SET t:k v", "MULTI", "PTTL t:k", "GET t:k", "EXEC",
		// Reads see the writes queued before them, in order.
		"MULTI", "GET t:k", "SET t:k v2", "GET t:k", "APPEND t:k !", "STRLEN t:k", "DEL t:k", "GET t:k", "EXISTS t:k", "EXEC",
		// scs's commit, then its read.
		"MULTI", "SET t:s data", "PEXPIREAT t:s 4102444800000", "EXEC",
		"MULTI", "GET t:s", "PEXPIRETIME t:s", "EXPIRETIME t:s", "TTL t:none", "EXEC",
		"MULTI", "SET t:e v EX 100", "TTL t:e", "TYPE t:e", "PERSIST t:e", "TTL t:e", "EXEC",
		// Hashes and sets, WRONGTYPE inside EXEC.
		"MULTI", "HSET t:h a 1 b 2", "HGETALL t:h", "HGET t:h a", "HMGET t:h a zz b", "HLEN t:h", "HEXISTS t:h b",
		"HSTRLEN t:h a", "HKEYS t:h", "HVALS t:h", "GET t:h", "TYPE t:h", "HDEL t:h a", "HGETALL t:h", "EXEC",
		"MULTI", "SADD t:set m", "SMEMBERS t:set", "SISMEMBER t:set m", "SCARD t:set", "HGET t:set f", "SREM t:set m", "SMEMBERS t:set", "EXEC",
		"MULTI", "HGETALL t:none", "SMEMBERS t:none", "HLEN t:none", "SCARD t:none", "TYPE t:none", "EXEC",
		// GETEX, GETDEL, MSET, HSETNX, HINCRBY, RENAME, RENAMENX queued,
		// WRONGTYPE and their other errors inside EXEC.
		"MULTI", "SET t:g v", "GETEX t:g EX 100", "TTL t:g", "GETEX t:g PERSIST", "TTL t:g", "GETEX t:g PXAT 4102444800000",
		"PEXPIRETIME t:g", "GETEX t:none", "GETDEL t:g", "GETDEL t:g", "EXISTS t:g", "EXEC",
		"MULTI", "MSET t:m1 1 t:m2 2", "MGET t:m1 t:m2", "HSETNX t:hn f 1", "HSETNX t:hn f 2", "HGET t:hn f",
		"HINCRBY t:hn f 5", "HINCRBY t:hn g -3", "HGETALL t:hn", "HSETNX t:m1 f 1", "EXEC",
		"MULTI", "HSET t:hn s abc", "HINCRBY t:hn s 1", "HINCRBY t:m1 f 1", "GETDEL t:hn", "GETEX t:hn", "MSET t:m1 x t:hn y", "GET t:hn", "EXEC",
		"MULTI", "RENAME t:none t:x", "RENAMENX t:none t:x", "SET t:r1 a EX 100", "RENAME t:r1 t:r2", "TTL t:r2", "EXISTS t:r1",
		"SET t:r3 b", "RENAMENX t:r2 t:r3", "RENAMENX t:r2 t:r4", "GET t:r4", "TTL t:r4", "RENAME t:r4 t:r4", "RENAMENX t:r4 t:r4", "EXEC",
		// Bad arguments are found when the command runs, inside EXEC,
		// not while queueing.
		"MULTI", "SET t:bad 1 EX 0", "GETEX t:g FOO", "GETEX t:g EX 0", "GETEX t:m1 EX 0", "GETEX t:m1 PX x", "GETEX t:hn EX 0", "MSET t:m1 x t:m2", "HINCRBY t:hn f x", "GET t:m1", "EXEC",
		"MULTI", "GETEX t:g FOO", "EXEC",
		"HSET t:hw f v", "MULTI", "GETEX t:hw EX 0", "GETEX t:hw FOO", "EXEC",
		"WATCH t:m1", "1:MSET t:m1 y", "MULTI", "GETDEL t:m1", "EXEC", "GET t:m1",
		// Many keys at once.
		"SET t:a 1", "MULTI", "MGET t:a t:none t:h t:a", "EXISTS t:a t:a t:none t:h", "INCR t:a", "MGET t:a", "EXEC",
		// A failing command inside EXEC does not stop the others.
		"MULTI", "INCR t:h", "GET t:a", "EXEC",
		// Empty, DISCARD, errors while queueing.
		"MULTI", "EXEC",
		"MULTI", "GET t:a", "DISCARD", "EXEC",
		"MULTI", "GET", "GET t:a", "EXEC",
		"MULTI", "NOSUCH x", "GET t:a", "EXEC",
		"MULTI", "MULTI", "GET t:a", "EXEC",
		// WATCH: unchanged, then changed by another client, with reads
		// only and with a write.
		"WATCH t:a", "MULTI", "GET t:a", "EXEC",
		"WATCH t:a t:none", "1:SET t:a 9", "MULTI", "GET t:a", "EXEC",
		"WATCH t:a", "1:SET t:a 10", "MULTI", "GET t:a", "SET t:a 11", "EXEC", "GET t:a",
		"WATCH t:a", "MULTI", "EXEC",
		"WATCH t:a", "1:DEL t:a", "MULTI", "EXEC",
		"WATCH t:none", "1:SET t:none x", "MULTI", "PTTL t:none", "EXEC",
	}
	run := func(t *testing.T) {
		t.Helper()
		for _, step := range script {
			conn := 0
			if s, ok := strings.CutPrefix(step, "1:"); ok {
				conn, step = 1, s
			}
			args := strings.Split(step, " ")
			got, want := ours[conn].do(args...), theirs[conn].do(args...)
			if got != want {
				t.Errorf("%s:\n  ours   %q\n  redis  %q", step, got, want)
			}
		}
	}
	t.Run("RESP2", run)
	for _, cl := range append(ours, theirs...) {
		cl.do("HELLO", "3")
		cl.do("FLUSHALL")
	}
	t.Run("RESP3", run)
}
