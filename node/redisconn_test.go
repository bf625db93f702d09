package node

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
)

// The Redis connection, server and pub/sub commands, driven by real Redis
// clients (go-redis v9 in RESP2 and RESP3, rueidis) against a real
// three-node cluster, and by raw RESP where the exact bytes matter.

// redisRaw speaks RESP by hand and returns each reply's exact bytes.
type redisRaw struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

func dialRedisRaw(t testing.TB, addr string) *redisRaw {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &redisRaw{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (c *redisRaw) send(args ...string) {
	c.t.Helper()
	b := []byte("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b = append(b, "$"+strconv.Itoa(len(a))+"\r\n"+a+"\r\n"...)
	}
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// read returns one reply, whole, as received.
func (c *redisRaw) read() string {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	if err := readRawValue(c.br, &b); err != nil {
		c.t.Fatalf("reading a reply: %v (so far %q)", err, b.String())
	}
	return b.String()
}

func (c *redisRaw) do(args ...string) string {
	c.t.Helper()
	c.send(args...)
	return c.read()
}

func readRawValue(br *bufio.Reader, b *strings.Builder) error {
	line, err := br.ReadString('\n')
	if err != nil {
		return err
	}
	b.WriteString(line)
	body := strings.TrimSuffix(line[1:], "\r\n")
	switch line[0] {
	case '$', '=', '!':
		n, _ := strconv.Atoi(body)
		if n < 0 {
			return nil
		}
		buf := make([]byte, n+2)
		if _, err := readFullRaw(br, buf); err != nil {
			return err
		}
		b.Write(buf)
	case '*', '>', '~', '%':
		n, _ := strconv.Atoi(body)
		if line[0] == '%' {
			n *= 2
		}
		for range max(n, 0) {
			if err := readRawValue(br, b); err != nil {
				return err
			}
		}
	}
	return nil
}

func readFullRaw(br *bufio.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		k, err := br.Read(buf[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func goRedis(t testing.TB, addr string, proto int) *redis.Client {
	t.Helper()
	cl := redis.NewClient(&redis.Options{Addr: addr, Protocol: proto, MaxRetries: -1, DialTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, PoolSize: 2})
	t.Cleanup(func() { cl.Close() })
	return cl
}

func TestRedisClients(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) { cfg.RESP.MaxPushBytes = 256 << 10 })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	addr := func(i int) string { return c.cfgs[i].ClientAddr }

	for _, proto := range []int{2, 3} {
		t.Run(fmt.Sprintf("connection/RESP%d", proto), func(t *testing.T) {
			// go-redis opens each connection with HELLO <proto> and
			// CLIENT SETINFO; a failure there fails every command.
			cl := goRedis(t, addr(proto-2), proto)
			if got, err := cl.Ping(ctx).Result(); err != nil || got != "PONG" {
				t.Fatalf("PING = %q, %v", got, err)
			}
			if got, err := cl.Echo(ctx, "hi there").Result(); err != nil || got != "hi there" {
				t.Fatalf("ECHO = %q, %v", got, err)
			}
			if err := cl.Do(ctx, "SELECT", 0).Err(); err != nil {
				t.Fatalf("SELECT 0: %v", err)
			}
			if err := cl.Do(ctx, "SELECT", 1).Err(); err == nil || err.Error() != "ERR DB index is out of range" {
				t.Fatalf("SELECT 1: %v", err)
			}
			tm, err := cl.Time(ctx).Result()
			if err != nil || time.Since(tm).Abs() > time.Hour {
				t.Fatalf("TIME = %v, %v", tm, err)
			}
			if got, err := cl.ConfigGet(ctx, "notify-*").Result(); err != nil || len(got) != 1 {
				t.Fatalf("CONFIG GET notify-* = %v, %v", got, err)
			}
			if got, err := cl.ConfigGet(ctx, "databases").Result(); err != nil || got["databases"] != "1" {
				t.Fatalf("CONFIG GET databases = %v, %v", got, err)
			}
			// One connection for the connection-scoped commands.
			conn := cl.Conn()
			defer conn.Close()
			if err := conn.ClientSetName(ctx, "app-1").Err(); err != nil {
				t.Fatal(err)
			}
			if got, err := conn.ClientGetName(ctx).Result(); err != nil || got != "app-1" {
				t.Fatalf("CLIENT GETNAME = %q, %v", got, err)
			}
			if err := conn.Process(ctx, redis.NewStatusCmd(ctx, "CLIENT", "SETINFO", "LIB-NAME", "my-lib")); err != nil {
				t.Fatal(err)
			}
			info, err := conn.ClientInfo(ctx).Result()
			if err != nil || info.Name != "app-1" || info.LibName != "my-lib" || info.Resp != proto {
				t.Fatalf("CLIENT INFO = %+v, %v", info, err)
			}
			id, err := conn.ClientID(ctx).Result()
			if err != nil || id != info.ID {
				t.Fatalf("CLIENT ID = %d, %v; CLIENT INFO id %d", id, err, info.ID)
			}
			list, err := conn.ClientList(ctx).Result()
			if err != nil || !strings.Contains(list, "name=app-1 ") {
				t.Fatalf("CLIENT LIST = %q, %v", list, err)
			}
			if err := conn.ReadOnly(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			if err := conn.ReadWrite(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			hcmd := redis.NewCmd(ctx, "HELLO", strconv.Itoa(proto))
			_ = conn.Process(ctx, hcmd)
			hello, err := hcmd.Result()
			if err != nil {
				t.Fatal(err)
			}
			if m, ok := hello.(map[interface{}]interface{}); proto == 3 && (!ok || m["proto"] != int64(3)) {
				t.Fatalf("HELLO 3 = %#v", hello)
			}
		})
	}

	t.Run("pubsub across nodes", func(t *testing.T) {
		sub := goRedis(t, addr(0), 3).Subscribe(ctx, "news")
		defer sub.Close()
		if _, err := sub.Receive(ctx); err != nil { // the confirmation
			t.Fatal(err)
		}
		psub := goRedis(t, addr(2), 2).PSubscribe(ctx, "ne*")
		defer psub.Close()
		if _, err := psub.Receive(ctx); err != nil {
			t.Fatal(err)
		}
		pub := goRedis(t, addr(1), 2)
		// Published on node 2: node 2 has no subscriber (0 receivers).
		if n, err := pub.Publish(ctx, "news", "hello").Result(); err != nil || n != 0 {
			t.Fatalf("PUBLISH = %d, %v", n, err)
		}
		msg, err := sub.ReceiveMessage(ctx)
		if err != nil || msg.Channel != "news" || msg.Payload != "hello" {
			t.Fatalf("subscriber on node 1 got %+v, %v", msg, err)
		}
		pmsg, err := psub.ReceiveMessage(ctx)
		if err != nil || pmsg.Pattern != "ne*" || pmsg.Channel != "news" || pmsg.Payload != "hello" {
			t.Fatalf("pattern subscriber on node 3 got %+v, %v", pmsg, err)
		}
		// On its own node a publisher counts the receivers.
		if n, err := goRedis(t, addr(0), 2).Publish(ctx, "news", "local").Result(); err != nil || n != 1 {
			t.Fatalf("PUBLISH on the subscriber's node = %d, %v", n, err)
		}
		if n, err := goRedis(t, addr(0), 2).PubSubNumSub(ctx, "news").Result(); err != nil || n["news"] != 1 {
			t.Fatalf("PUBSUB NUMSUB = %v, %v", n, err)
		}
	})

	t.Run("rueidis RESP3", func(t *testing.T) {
		cl, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr(2)}, DisableCache: true, ForceSingleClient: true})
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if s, err := cl.Do(ctx, cl.B().Ping().Build()).ToString(); err != nil || s != "PONG" {
			t.Fatalf("PING = %q, %v", s, err)
		}
		got := make(chan string, 1)
		subscribed := make(chan struct{})
		rctx, rcancel := context.WithCancel(ctx)
		defer rcancel()
		go func() {
			_ = cl.Receive(rctx, cl.B().Subscribe().Channel("r-ch").Build(), func(m rueidis.PubSubMessage) {
				select {
				case got <- m.Message:
				default:
				}
			})
		}()
		_ = subscribed
		waitFor(t, 30*time.Second, "rueidis subscribed on node 3", func() error {
			n, err := goRedis(t, addr(2), 2).PubSubNumSub(ctx, "r-ch").Result()
			if err != nil || n["r-ch"] != 1 {
				return fmt.Errorf("NUMSUB %v, %v", n, err)
			}
			return nil
		})
		if err := goRedis(t, addr(0), 3).Publish(ctx, "r-ch", "via node 1").Err(); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-got:
			if m != "via node 1" {
				t.Fatalf("rueidis got %q", m)
			}
		case <-ctx.Done():
			t.Fatal("rueidis subscriber got nothing")
		}
	})

	t.Run("keyspace events once per node", func(t *testing.T) {
		var subs []*redis.PubSub
		for i := range 3 {
			cl := goRedis(t, addr(i), 2)
			if err := cl.ConfigSet(ctx, "notify-keyspace-events", "KEA").Err(); err != nil {
				t.Fatal(err)
			}
			ps := cl.PSubscribe(ctx, "__keyevent@0__:*")
			if _, err := ps.Receive(ctx); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ps.Close() })
			subs = append(subs, ps)
		}
		lc := &clientT{t: t, c: c.client(0)}
		lc.ok("SESSION.CREATE", "ID", "ks-one", "TTL", "1h", "FIELDS", "a", "1")
		lc.ok("SESSION.DESTROY", "ks-one")
		lc.ok("SESSION.CREATE", "ID", "ks-two", "TTL", "1s")
		lc.ok("SET", "ks-s", "v", "EX", "100")
		lc.ok("INCR", "ks-n")
		lc.ok("DEL", "ks-s", "ks-n")
		for i, ps := range subs {
			// Each subscriber hears hset ks-one, del ks-one, hset
			// ks-two, and (from the sweeper) expired ks-two, each once;
			// in apply order for each key (the two keys may be in
			// different groups, which a node applies independently).
			want := []string{"hset ks-one", "del ks-one", "hset ks-two", "expired ks-two",
				"set ks-s", "expire ks-s", "incrby ks-n", "del ks-s", "del ks-n"}
			var got []string
			for range want {
				m, err := ps.ReceiveMessage(ctx)
				if err != nil {
					t.Fatalf("node %d: after %q: %v", i+1, got, err)
				}
				got = append(got, strings.TrimPrefix(m.Channel, "__keyevent@0__:")+" "+m.Payload)
			}
			byKey := func(evs []string, key string) (out []string) {
				for _, e := range evs {
					if strings.HasSuffix(e, " "+key) {
						out = append(out, e)
					}
				}
				return out
			}
			for _, key := range []string{"ks-one", "ks-two", "ks-s", "ks-n"} {
				if g, w := byKey(got, key), byKey(want, key); !slices.Equal(g, w) {
					t.Fatalf("node %d: events of %s %q, want %q (all: %q)", i+1, key, g, w, got)
				}
			}
		}
		// Nothing more: a duplicate would be queued right behind them on
		// the same connection; a PING's reply comes after anything
		// already queued (resp.Conn.Push keeps order with replies).
		for i, ps := range subs {
			if err := ps.Ping(ctx); err != nil {
				t.Fatal(err)
			}
			m, err := ps.Receive(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := m.(*redis.Pong); !ok {
				t.Fatalf("node %d: an extra event %v", i+1, m)
			}
		}
		for i := range 3 {
			if err := goRedis(t, addr(i), 2).ConfigSet(ctx, "notify-keyspace-events", "").Err(); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("RESP2 subscribe mode", func(t *testing.T) {
		rc := dialRedisRaw(t, addr(1))
		if got := rc.do("SUBSCRIBE", "a", "b"); got != "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n" {
			t.Fatalf("SUBSCRIBE a b: first reply %q", got)
		}
		if got := rc.read(); got != "*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n" {
			t.Fatalf("SUBSCRIBE a b: second reply %q", got)
		}
		if got := rc.do("ECHO", "x"); got != "-ERR Can't execute 'echo': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n" {
			t.Fatalf("ECHO in subscribe mode: %q", got)
		}
		if got := rc.do("PING"); got != "*2\r\n$4\r\npong\r\n$0\r\n\r\n" {
			t.Fatalf("PING in subscribe mode: %q", got)
		}
		rc.send("UNSUBSCRIBE")
		rc.read()
		if got := rc.read(); got != "*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:0\r\n" {
			t.Fatalf("UNSUBSCRIBE: last reply %q", got)
		}
		if got := rc.do("ECHO", "x"); got != "$1\r\nx\r\n" {
			t.Fatalf("ECHO after leaving: %q", got)
		}
	})

	t.Run("slow subscriber is disconnected", func(t *testing.T) {
		rc := dialRedisRaw(t, addr(0))
		rc.do("SUBSCRIBE", "flood") // and never read again
		pub := goRedis(t, addr(0), 2)
		big := strings.Repeat("x", 64<<10)
		waitFor(t, 90*time.Second, "the slow subscriber to be disconnected", func() error {
			if err := pub.Publish(ctx, "flood", big).Err(); err != nil {
				return err
			}
			n, err := pub.PubSubNumSub(ctx, "flood").Result()
			if err != nil {
				return err
			}
			if n["flood"] != 0 {
				return fmt.Errorf("still subscribed")
			}
			return nil
		})
	})
}
