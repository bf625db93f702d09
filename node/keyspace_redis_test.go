package node

import (
	"strings"
	"testing"
)

// TestKeyspaceEventsMatchRedis runs the same write commands against a
// real redis-server and a node, both with notify-keyspace-events KEA and a
// subscriber on __key*__:*, and compares, command by command, the
// notifications each subscriber receives, byte for byte. The node's come
// from what its state machine reports it did (fsm.Notify), so a command
// that changes nothing (SET NX on a present key) reports nothing.
func TestKeyspaceEventsMatchRedis(t *testing.T) {
	redisAddr := startRedisServer(t)
	c := startCluster(t, 1, nil)
	type side struct{ cmd, sub *redisRaw }
	sides := []side{
		{dialRedisRaw(t, c.cfgs[0].ClientAddr), dialRedisRaw(t, c.cfgs[0].ClientAddr)},
		{dialRedisRaw(t, redisAddr), dialRedisRaw(t, redisAddr)},
	}
	for _, s := range sides {
		if got := s.cmd.do("CONFIG", "SET", "notify-keyspace-events", "KEA"); got != "+OK\r\n" {
			t.Fatalf("CONFIG SET: %q", got)
		}
		s.sub.do("PSUBSCRIBE", "__key*__:*")
		s.sub.do("SUBSCRIBE", "marker")
	}
	// events runs one step (commands separated by "; ") on a side and
	// returns the notifications its subscriber got for it: everything
	// before the marker published after the last reply.
	events := func(s side, step string) []string {
		for _, c := range strings.Split(step, "; ") {
			s.cmd.do(strings.Split(c, " ")...)
		}
		s.cmd.do("PUBLISH", "marker", "m")
		var got []string
		for {
			m := s.sub.read()
			if strings.Contains(m, "marker") {
				return got
			}
			got = append(got, m)
		}
	}
	script := []string{
		"SET k v", "SET k v EX 100", "SET k w KEEPTTL", "SET k v NX", "SET k v XX", "SET k x GET", "SET nx v XX",
		"SETEX k 100 v", "PSETEX k 100000 v", "SETNX k v", "SETNX k2 v",
		"GETEX k EX 100", "GETEX k PERSIST", "GETEX k", "GETEX k PXAT 1", "GETDEL k2", "GETDEL k2",
		"INCR n", "INCRBY n 5", "DECR n", "DECRBY n 2", "INCR k2x", "APPEND n 0", "APPEND ap x",
		"MSET a 1 b 2",
		"HSET h a 1", "HSET h a 1", "HSETNX h b 2", "HSETNX h b 3", "HMSET h c 3 d 4", "HDEL h a", "HDEL h zz",
		"HINCRBY h n 1", "HDEL h b c d n",
		"SADD s m", "SADD s m", "SADD s n", "SREM s m", "SREM s zz", "SREM s n",
		"SET r v EX 100", "RENAME r r2", "RENAMENX r2 a", "RENAMENX r2 r3", "RENAME r3 r3",
		"EXPIRE r3 100", "PEXPIRE r3 150000 GT", "EXPIRE r3 50 GT", "EXPIREAT r3 4102444800", "PEXPIREAT r3 4102444800000",
		"PERSIST r3", "PERSIST r3", "EXPIRE none 100", "EXPIRE r3 0", "SET p v", "PEXPIREAT p 1",
		// Redis stores the key and expires it (lazily here, if its
		// expiry cycle has not yet): set, expire, expired.
		"SET q v", "SET q v PXAT 1; EXISTS q",
		"DEL a b none", "UNLINK n", "DEL ap ap",
		"MULTI; SET t 1; INCR t; HSET th f v; GET t; DEL t th; EXEC",
		"SET w 1; WATCH w; SET w 2; MULTI; SET w 3; EXEC",
		"SET f1 v", "HSET f2 f v", "FLUSHALL",
	}
	for _, step := range script {
		got, want := events(sides[0], step), events(sides[1], step)
		if strings.Join(got, "") != strings.Join(want, "") {
			t.Errorf("%s:\n  ours   %q\n  redis  %q", step, got, want)
		}
	}
}
