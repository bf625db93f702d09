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
