package node

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/transport/resp"
)

// show renders a reply compactly for the Redis command tables: +OK, :1,
// $value, nil, -CODE text, [a b] for arrays, sets and maps.
func show(v resp.Value) string {
	switch v.Kind {
	case resp.SimpleString:
		return "+" + v.Str
	case resp.Error:
		return "-" + v.Str
	case resp.Integer:
		return ":" + strconv.FormatInt(v.Int, 10)
	case resp.Bulk, resp.Verbatim:
		return "$" + v.Str
	case resp.Null:
		return "nil"
	case resp.Array, resp.Set, resp.Map:
		parts := make([]string, len(v.Elems))
		for i, e := range v.Elems {
			parts[i] = show(e)
		}
		return "[" + strings.Join(parts, " ") + "]"
	}
	return fmt.Sprintf("%v", v)
}

// redisStep is one command of a Redis command script and the reply it
// must get.
type redisStep struct {
	args string // split on spaces
	want string // as show renders it
}

// runSteps runs a script in order on cl. A want of "ttl<=N" accepts an
// integer in 1..N: a remaining life shrinks while the test runs, however
// slowly.
func runSteps(t *testing.T, cl *resp.Client, steps []redisStep) {
	t.Helper()
	for _, s := range steps {
		v := do(t, cl, strings.Fields(s.args)...)
		got := show(v)
		if bound, ok := strings.CutPrefix(s.want, "ttl<="); ok {
			n, _ := strconv.ParseInt(bound, 10, 64)
			if v.Kind != resp.Integer || v.Int < 1 || v.Int > n {
				t.Errorf("%s: got %s, want 1..%d", s.args, got, n)
			}
			continue
		}
		if got != s.want {
			t.Errorf("%s: got %s, want %s", s.args, got, s.want)
		}
	}
}

// keysInGroups returns two keys with prefix that live in different
// groups, and one more in the first key's group.
func keysInGroups(t *testing.T, n *Node, prefix string) (a, b, sameAsA string) {
	t.Helper()
	a = prefix + "0"
	ga := n.ring.Group(a)
	for i := 1; i < 10000 && (b == "" || sameAsA == ""); i++ {
		k := prefix + strconv.Itoa(i)
		switch g := n.ring.Group(k); {
		case g != ga && b == "":
			b = k
		case g == ga && sameAsA == "":
			sameAsA = k
		}
	}
	if b == "" || sameAsA == "" {
		t.Fatal("the cluster has one group: cannot test cross-group commands")
	}
	return a, b, sameAsA
}

const wrongType = "-WRONGTYPE Operation against a key holding the wrong kind of value"

// TestRedisCommands runs the Redis data commands' replies, errors and
// edges against a three-node cluster, on a node that leads some groups and
// forwards to the others, in RESP2 and RESP3.
func TestRedisCommands(t *testing.T) {
	// Leadership stays put: a write cut by a leadership move is
	// INDETERMINATE, which a script of exact replies cannot take.
	c := startCluster(t, 3, func(cfg *Config) { cfg.BalanceInterval = time.Hour })
	n := c.node(0)
	a, b, a2 := keysInGroups(t, n, "k")

	t.Run("strings", func(t *testing.T) {
		cl := c.client(1)
		runSteps(t, cl, []redisStep{
			{"GET s:none", "nil"},
			{"SET s:1 v1", "+OK"},
			{"GET s:1", "$v1"},
			{"SET s:1 v2 NX", "nil"},
			{"SET s:1 v2 XX", "+OK"},
			{"SET s:new v XX", "nil"},
			{"GET s:new", "nil"},
			{"SET s:1 v3 GET", "$v2"},
			{"SET s:none2 v GET", "nil"},
			{"SET s:1 v4 NX GET", "$v3"},
			{"GET s:1", "$v3"},
			{"SET s:1 v EX 0", "-ERR invalid expire time in 'set' command"},
			{"SET s:1 v EX -5", "-ERR invalid expire time in 'set' command"},
			{"SET s:1 v EX x", "-ERR value is not an integer or out of range"},
			{"SET s:1 v EX 10 PX 10", "-ERR syntax error"},
			{"SET s:1 v NX XX", "-ERR syntax error"},
			{"SET s:1 v EX", "-ERR syntax error"},
			{"SET s:1 v BOGUS", "-ERR syntax error"},
			{"SET s:1 v EX 100", "+OK"},
			{"TTL s:1", "ttl<=100"},
			{"SET s:1 w KEEPTTL", "+OK"},
			{"TTL s:1", "ttl<=100"},
			{"SET s:1 w", "+OK"},
			{"TTL s:1", ":-1"},
			{"SET s:1 w PXAT 1", "+OK"},
			{"GET s:1", "nil"},
			{"SETEX s:ex 100 v", "+OK"},
			{"TTL s:ex", "ttl<=100"},
			{"SETEX s:ex 0 v", "-ERR invalid expire time in 'setex' command"},
			{"PSETEX s:pex 100000 v", "+OK"},
			{"TTL s:pex", "ttl<=100"},
			{"PSETEX s:pex -1 v", "-ERR invalid expire time in 'psetex' command"},
			{"SETNX s:nx a", ":1"},
			{"SETNX s:nx b", ":0"},
			{"GET s:nx", "$a"},
			{"STRLEN s:nx", ":1"},
			{"STRLEN s:none", ":0"},
			{"APPEND s:nx bc", ":3"},
			{"APPEND s:app xy", ":2"},
			{"GET s:nx", "$abc"},
			{"GETDEL s:nx", "$abc"},
			{"GETDEL s:nx", "nil"},
			{"EXISTS s:nx", ":0"},
			{"SET s:gx v", "+OK"},
			{"GETEX s:gx", "$v"},
			{"GETEX s:gx EX 100", "$v"},
			{"TTL s:gx", "ttl<=100"},
			{"GETEX s:gx PERSIST", "$v"},
			{"TTL s:gx", ":-1"},
			{"GETEX s:gx EX 0", "-ERR invalid expire time in 'getex' command"},
			{"GETEX s:gx FOO", "-ERR syntax error"},
			{"GETEX s:none", "nil"},
			{"INCR s:n", ":1"},
			{"INCRBY s:n 10", ":11"},
			{"DECR s:n", ":10"},
			{"DECRBY s:n 20", ":-10"},
			{"INCRBY s:n x", "-ERR value is not an integer or out of range"},
			{"INCR s:gx", "-ERR value is not an integer or out of range"},
			{"SET s:big 9223372036854775807", "+OK"},
			{"INCR s:big", "-ERR increment or decrement would overflow"},
			{"DECRBY s:n -9223372036854775808", "-ERR decrement would overflow"},
			{"GET s:n", "$-10"},
		})
	})

	t.Run("keys", func(t *testing.T) {
		cl := c.client(0)
		runSteps(t, cl, []redisStep{
			{"SET " + a + " 1", "+OK"},
			{"SET " + b + " 2", "+OK"},
			{"SET " + a2 + " 3", "+OK"},
			{"EXISTS " + a + " " + b + " " + a + " nokey", ":3"},
			{"MGET " + a + " " + b + " nokey " + a2, "[$1 $2 nil $3]"},
			{"TYPE " + a, "+string"},
			{"TYPE nokey", "+none"},
			{"DEL " + a + " " + b + " " + a + " nokey", ":2"},
			{"EXISTS " + a + " " + b + " " + a2, ":1"},
			{"UNLINK " + a2, ":1"},
			{"MSET " + a + " 1 " + a2 + " 2", "+OK"},
			{"MGET " + a + " " + a2, "[$1 $2]"},
			{"MSET " + a + " 1 " + b + " 2", "-CROSSSLOT Keys in request don't hash to the same slot"},
			{"MSET " + a + " 1 " + a2, "-ERR wrong number of arguments for 'mset' command"},
			{"EXISTS " + b, ":0"},

			{"EXPIRE nokey 100", ":0"},
			{"TTL nokey", ":-2"},
			{"PTTL nokey", ":-2"},
			{"EXPIRETIME nokey", ":-2"},
			{"SET e 1", "+OK"},
			{"TTL e", ":-1"},
			{"EXPIRETIME e", ":-1"},
			{"EXPIRE e 100 XX", ":0"},
			{"EXPIRE e 100 GT", ":0"},
			{"EXPIRE e 100 NX", ":1"},
			{"EXPIRE e 200 NX", ":0"},
			{"TTL e", "ttl<=100"},
			{"EXPIRE e 50 GT", ":0"},
			{"EXPIRE e 200 GT", ":1"},
			{"EXPIRE e 300 LT", ":0"},
			{"EXPIRE e 150 LT", ":1"},
			{"EXPIRE e 120 XX LT", ":1"},
			{"TTL e", "ttl<=120"},
			{"PEXPIRE e 100000", ":1"},
			{"TTL e", "ttl<=100"},
			{"EXPIRE e 10 NX XX", "-ERR NX and XX, GT or LT options at the same time are not compatible"},
			{"EXPIRE e 10 GT LT", "-ERR GT and LT options at the same time are not compatible"},
			{"EXPIRE e 10 FOO", "-ERR Unsupported option FOO"},
			{"EXPIRE e x", "-ERR value is not an integer or out of range"},
			{"EXPIRE e 9223372036854775807", "-ERR invalid expire time in 'expire' command"},
			{"PEXPIREAT e 9223372036854775807", "-ERR invalid expire time in 'pexpireat' command"},
			{"EXPIREAT e 4102444800", ":1"},
			{"EXPIRETIME e", ":4102444800"},
			{"PEXPIRETIME e", ":4102444800000"},
			{"PEXPIREAT e 4102444800123", ":1"},
			{"PEXPIRETIME e", ":4102444800123"},
			{"PERSIST e", ":1"},
			{"PERSIST e", ":0"},
			{"PERSIST nokey", ":0"},
			{"TTL e", ":-1"},
			{"EXPIRE e -1", ":1"},
			{"EXISTS e", ":0"},
			{"SET e 1", "+OK"},
			{"EXPIREAT e 1", ":1"},
			{"GET e", "nil"},
		})
		v := do(t, cl, "SET", "p", "1", "PX", "100000")
		if v.Err() != nil {
			t.Fatal(v.Err())
		}
		if ms := do(t, cl, "PTTL", "p"); ms.Int <= 0 || ms.Int > 100000 {
			t.Errorf("PTTL after PX 100000: %s", show(ms))
		}
	})

	t.Run("sessions are hashes", func(t *testing.T) {
		cl := c.client(2)
		rec := asMap(t, mustOK(t, cl, "SESSION.CREATE", "SUBJECT", "u1", "TTL", "100s", "FIELDS", "cart", "3"))
		id := rec["id"].Str
		runSteps(t, cl, []redisStep{
			{"GET " + id, wrongType},
			{"STRLEN " + id, wrongType},
			{"INCR " + id, wrongType},
			{"APPEND " + id + " x", wrongType},
			{"SET " + id + " x GET", wrongType},
			{"GETDEL " + id, wrongType},
			{"TYPE " + id, "+hash"},
			{"EXISTS " + id, ":1"},
			{"TTL " + id, ":100"},
			{"MGET " + id, "[nil]"},
			{"DEL " + id, ":1"},
			{"EXISTS " + id, ":0"},
		})
	})

	t.Run("hashes", func(t *testing.T) {
		cl := c.client(1)
		runSteps(t, cl, []redisStep{
			{"HSET h f1 a f2 b", ":2"},
			{"HSET h f1 x f3 c", ":1"},
			{"HSET h f1 a f2", "-ERR wrong number of arguments for 'hset' command"},
			{"HMSET h f4 d", "+OK"},
			{"HSETNX h f1 y", ":0"},
			{"HSETNX h f5 e", ":1"},
			{"HGET h f1", "$x"},
			{"HGET h nof", "nil"},
			{"HGET nokey f", "nil"},
			{"HMGET h f1 nof f2", "[$x nil $b]"},
			{"HMGET nokey f1", "[nil]"},
			{"HGETALL h", "[$f1 $x $f2 $b $f3 $c $f4 $d $f5 $e]"},
			{"HGETALL nokey", "[]"},
			{"HKEYS h", "[$f1 $f2 $f3 $f4 $f5]"},
			{"HVALS h", "[$x $b $c $d $e]"},
			{"HLEN h", ":5"},
			{"HLEN nokey", ":0"},
			{"HEXISTS h f1", ":1"},
			{"HEXISTS h nof", ":0"},
			{"HSTRLEN h f1", ":1"},
			{"HSTRLEN h nof", ":0"},
			{"HDEL h f1 f2 nof", ":2"},
			{"HINCRBY h n 5", ":5"},
			{"HINCRBY h n -7", ":-2"},
			{"HINCRBY h f3 1", "-ERR hash value is not an integer"},
			{"HINCRBY h n x", "-ERR value is not an integer or out of range"},
			{"TYPE h", "+hash"},
			{"GET h", wrongType},
			{"HDEL h f3 f4 f5 n", ":4"},
			{"EXISTS h", ":0"},
			{"SET hs v", "+OK"},
			{"HGET hs f", wrongType},
			{"HSET hs f v", wrongType},
			{"HGETALL hs", wrongType},
		})
	})

	t.Run("sets", func(t *testing.T) {
		cl := c.client(2)
		runSteps(t, cl, []redisStep{
			{"SADD st b a c a", ":3"},
			{"SADD st a d", ":1"},
			{"SMEMBERS st", "[$a $b $c $d]"},
			{"SMEMBERS nokey", "[]"},
			{"SISMEMBER st a", ":1"},
			{"SISMEMBER st z", ":0"},
			{"SISMEMBER nokey a", ":0"},
			{"SCARD st", ":4"},
			{"SCARD nokey", ":0"},
			{"SREM st a z", ":1"},
			{"TYPE st", "+set"},
			{"GET st", wrongType},
			{"HGET st f", wrongType},
			{"SREM st b c d", ":3"},
			{"EXISTS st", ":0"},
			{"SET ss v", "+OK"},
			{"SADD ss a", wrongType},
			{"SMEMBERS ss", wrongType},
		})
	})

	t.Run("session fields through hash commands", func(t *testing.T) {
		cl := c.client(0)
		rec := asMap(t, mustOK(t, cl, "SESSION.CREATE", "SUBJECT", "u2", "FIELDS", "cart", "3", "lang", "en"))
		id := rec["id"].Str
		runSteps(t, cl, []redisStep{
			{"HGETALL " + id, "[$cart $3 $lang $en]"},
			{"HGET " + id + " cart", "$3"},
			{"HSET " + id + " cart 4", ":0"},
			{"HINCRBY " + id + " cart 1", ":5"},
			{"HLEN " + id, ":2"},
		})
		got := asMap(t, mustOK(t, cl, "SESSION.GET", id))
		f := asMap(t, got["fields"])
		if got["subject"].Str != "u2" || f["cart"].Str != "5" {
			t.Errorf("SESSION.GET after HSET: subject %q, cart %q", got["subject"].Str, f["cart"].Str)
		}
	})

	t.Run("resp3", func(t *testing.T) {
		cl := c.client(1)
		mustOK(t, cl, "HELLO", "3")
		runSteps(t, cl, []redisStep{
			{"GET r3:none", "nil"},
			{"SET r3:a v", "+OK"},
			{"SET r3:a v NX", "nil"},
			{"MGET r3:a r3:none", "[$v nil]"},
			{"TTL r3:a", ":-1"},
			{"HSET r3:h f v", ":1"},
			{"HGETALL r3:h", "[$f $v]"},
			{"SADD r3:s m", ":1"},
			{"SMEMBERS r3:s", "[$m]"},
		})
	})

	t.Run("transactions", func(t *testing.T) {
		x, y, x2 := keysInGroups(t, n, "tx")
		cl, other := c.client(2), c.client(0)
		runSteps(t, cl, []redisStep{
			{"EXEC", "-ERR EXEC without MULTI"},
			{"DISCARD", "-ERR DISCARD without MULTI"},
			{"MULTI", "+OK"},
			{"MULTI", "-ERR MULTI calls can not be nested"},
			{"SET " + x + " v", "+QUEUED"},
			{"PEXPIREAT " + x + " 4102444800000", "+QUEUED"},
			{"HSET " + x2 + " f v", "+QUEUED"},
			{"INCR " + x, "+QUEUED"},
			{"SET " + x + " v NX", "+QUEUED"},
			{"EXEC", "[+OK :1 :1 -ERR value is not an integer or out of range nil]"},
			{"PEXPIRETIME " + x, ":4102444800000"},
			{"HGET " + x2 + " f", "$v"},
			{"MULTI", "+OK"},
			{"SET " + x + " 1", "+QUEUED"},
			{"DISCARD", "+OK"},
			{"GET " + x, "$v"},
			{"MULTI", "+OK"},
			{"SET " + x + " 1", "+QUEUED"},
			{"SET " + y + " 1", "+QUEUED"},
			{"EXEC", "-CROSSSLOT Keys in request don't hash to the same slot"},
			{"MULTI", "+OK"},
			{"SET " + x + " 1 EX 0", "+QUEUED"}, // its error comes in EXEC's reply, as in Redis
			{"SCAN 0", "-ERR 'scan' cannot run in a transaction here (see README)"},
			{"EXEC", "-EXECABORT Transaction discarded because of previous errors."},
			// Reads only, at one state (rueidis's cache path); reads and
			// writes together, in one raft entry (txn_read.go).
			{"MULTI", "+OK"},
			{"PEXPIRETIME " + x, "+QUEUED"},
			{"GET " + x, "+QUEUED"},
			{"EXEC", "[:4102444800000 $v]"},
			{"MULTI", "+OK"},
			{"GET " + x, "+QUEUED"},
			{"SET " + x + " v", "+QUEUED"},
			{"EXEC", "[$v +OK]"},
			{"MULTI", "+OK"},
			{"EXEC", "[]"},
			{"WATCH " + x, "+OK"},
			{"MULTI", "+OK"},
			{"WATCH " + x, "-ERR WATCH inside MULTI is not allowed"},
			{"SET " + x + " watched", "+QUEUED"},
			{"EXEC", "[+OK]"},
			{"GET " + x, "$watched"},
			{"WATCH " + x + " " + x2, "+OK"},
		})
		// Another connection changes a watched key: EXEC aborts.
		mustOK(t, other, "HSET", x2, "f", "changed")
		runSteps(t, cl, []redisStep{
			{"MULTI", "+OK"},
			{"SET " + x + " lost", "+QUEUED"},
			{"EXEC", "nil"},
			{"GET " + x, "$watched"},
			{"WATCH " + x, "+OK"},
			{"UNWATCH", "+OK"},
			{"MULTI", "+OK"},
			{"DEL " + x + " " + x2, "+QUEUED"},
			{"EXEC", "[:2]"},
		})
	})

	t.Run("rename scan keys dbsize flush", func(t *testing.T) {
		cl := c.client(1)
		x, y, x2 := keysInGroups(t, n, "rn")
		runSteps(t, cl, []redisStep{
			{"RENAME " + x + " " + x2, "-ERR no such key"},
			{"SET " + x + " v", "+OK"},
			{"RENAME " + x + " " + y, "-CROSSSLOT Keys in request don't hash to the same slot"},
			{"RENAME " + x + " " + x2, "+OK"},
			{"GET " + x2, "$v"},
			{"EXISTS " + x, ":0"},
			{"SET " + x + " w", "+OK"},
			{"RENAMENX " + x + " " + x2, ":0"},
			{"DEL " + x2, ":1"},
			{"RENAMENX " + x + " " + x2, ":1"},
			{"RENAMENX " + x + " " + x2, "-ERR no such key"},
			{"KEYS rn*", "[$" + x2 + "]"},
			{"SCAN x", "-ERR invalid cursor"},
			{"SCAN 0 COUNT 0", "-ERR syntax error"},
			{"SCAN 0 COUNT x", "-ERR value is not an integer or out of range"},
			{"SCAN 0 FOO bar", "-ERR syntax error"},
			{"SCAN 0 MATCH", "-ERR syntax error"},
			{"FLUSHDB BOGUS", "-ERR syntax error"},
			{"FLUSHALL", "+OK"},
			{"DBSIZE", ":0"},
			{"KEYS *", "[]"},
		})
		groups := map[int]bool{}
		var want []string
		for i := range 40 {
			k := "sc:" + strconv.Itoa(i)
			groups[n.ring.Group(k)] = true
			want = append(want, k)
			mustOK(t, cl, "SET", k, "v")
		}
		mustOK(t, cl, "HSET", "sc:h", "f", "v")
		mustOK(t, cl, "SET", "other", "v")
		if len(groups) < 2 {
			t.Fatal("the keys are all in one group")
		}
		if v := do(t, cl, "DBSIZE"); v.Int != 42 {
			t.Errorf("DBSIZE: %s, want 42", show(v))
		}
		// One SCAN walks every group; every key is returned at least once.
		scanAll := func(extra ...string) []string {
			seen := map[string]bool{}
			cursor := "0"
			for range 10000 {
				v := mustOK(t, cl, append([]string{"SCAN", cursor}, extra...)...)
				if len(v.Elems) != 2 {
					t.Fatalf("SCAN reply %s", show(v))
				}
				for _, k := range v.Elems[1].Elems {
					seen[k.Str] = true
				}
				if cursor = v.Elems[0].Str; cursor == "0" {
					break
				}
			}
			var out []string
			for k := range seen {
				out = append(out, k)
			}
			slices.Sort(out)
			return out
		}
		slices.Sort(want)
		if got := scanAll("MATCH", "sc:[0-9]*", "COUNT", "7"); !slices.Equal(got, want) {
			t.Errorf("SCAN MATCH sc:[0-9]*: %v, want %v", got, want)
		}
		if got := scanAll("TYPE", "hash"); !slices.Equal(got, []string{"sc:h"}) {
			t.Errorf("SCAN TYPE hash: %v", got)
		}
		if got := scanAll("TYPE", "list"); len(got) != 0 {
			t.Errorf("SCAN TYPE list: %v", got)
		}
		if got := scanAll(); len(got) != 42 {
			t.Errorf("SCAN: %d keys, want 42", len(got))
		}
		if v := do(t, cl, "KEYS", "sc:*"); len(v.Elems) != 41 {
			t.Errorf("KEYS sc:*: %d keys, want 41", len(v.Elems))
		}
		mustOK(t, cl, "FLUSHDB")
		if v := do(t, cl, "DBSIZE"); v.Int != 0 {
			t.Errorf("DBSIZE after FLUSHDB: %s", show(v))
		}
	})
}
