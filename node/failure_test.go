package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/transport/resp"
	"github.com/sessionraft/sessionraft/transport/wire"
)

// TestKillLeaderNoAckedWriteLost stops the node leading group 0 while
// writers run on the others, then restarts it from its data directory:
// every acknowledged session must be readable on every node afterwards.
func TestKillLeaderNoAckedWriteLost(t *testing.T) {
	// Small snapshot settings so the restarted node recovers from a
	// snapshot plus log, and followers get snapshots installed.
	c := startCluster(t, 3, func(cfg *Config) {
		cfg.SnapshotThreshold = 64
		cfg.SnapshotInterval = 100 * time.Millisecond
		cfg.TrailingLogs = 16
	})
	victim := -1
	waitFor(t, 10*time.Second, "a leader of group 0", func() error {
		for i := 0; i < 3; i++ {
			if c.node(i).groups[0].isLeader() {
				victim = i
				return nil
			}
		}
		return fmt.Errorf("none")
	})
	survivors := []int{}
	for i := 0; i < 3; i++ {
		if i != victim {
			survivors = append(survivors, i)
		}
	}

	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	stop := make(chan struct{})
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			cl, err := resp.Dial(ctx, c.cfgs[survivors[w%2]].ClientAddr)
			cancel()
			if err != nil {
				t.Error(err)
				return
			}
			defer cl.Close()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				v, err := cl.Do(ctx, "SESSION.CREATE", "SUBJECT", fmt.Sprintf("w%d", w), "FIELDS", "i", fmt.Sprint(i))
				cancel()
				var se *resp.ServerError
				if err != nil && !errors.As(err, &se) {
					t.Errorf("transport error: %v", err)
					return
				}
				if v.Err() == nil {
					mu.Lock()
					acked = append(acked, asMap(t, v)["id"].Str)
					mu.Unlock()
				} else if code := errCode(v); code != wire.CodeUnavailable && code != wire.CodeIndeterminate {
					t.Errorf("unexpected error during failover: %v", v.Err())
					return
				}
			}
		}(w)
	}
	ackedCount := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	waitFor(t, 10*time.Second, "writes before the kill", func() error {
		if ackedCount() < 50 {
			return fmt.Errorf("%d acked", ackedCount())
		}
		return nil
	})
	c.stop(victim)
	before := ackedCount()
	waitFor(t, 15*time.Second, "writes to continue after the kill", func() error {
		if ackedCount() < before+100 {
			return fmt.Errorf("%d acked since kill", ackedCount()-before)
		}
		return nil
	})
	c.start(victim)
	waitFor(t, 15*time.Second, "writes with the node back", func() error {
		if ackedCount() < before+200 {
			return fmt.Errorf("%d acked", ackedCount()-before)
		}
		return nil
	})
	close(stop)
	wg.Wait()
	c.waitLeaders()

	mu.Lock()
	ids := append([]string(nil), acked...)
	mu.Unlock()
	for i := 0; i < 3; i++ {
		cl := &clientT{t: t, c: c.client(i)}
		for _, id := range ids {
			if v := cl.do("SESSION.GET", id, "NOTOUCH"); v.Err() != nil {
				t.Fatalf("node %d lost acknowledged session %s: %v", i, id, v.Err())
			}
		}
	}
	// The restarted node catches up and serves the same data locally.
	n := c.node(victim)
	waitFor(t, 15*time.Second, "restarted node to catch up", func() error {
		for _, id := range ids {
			if _, ok := n.groups[n.ring.Group(id)].fsm.Get(id, n.now()); !ok {
				return fmt.Errorf("restarted node lacks %s", id)
			}
		}
		return nil
	})
	c.waitReplicasIdentical()
}

// waitReplicasIdentical waits until, in every group, every node has applied
// the same index and holds a state with the same hash.
func (c *testCluster) waitReplicasIdentical() {
	c.t.Helper()
	waitFor(c.t, 15*time.Second, "identical replicas", func() error {
		for gid := range c.cfgs[0].groupCount() {
			var first [32]byte
			var firstIdx uint64
			for i := range c.nodes {
				n := c.node(i)
				if n == nil {
					continue
				}
				f := n.groups[gid].fsm
				idx, _, h := f.Digest()
				if i == 0 {
					first, firstIdx = h, idx
				} else if idx != firstIdx || h != first {
					return fmt.Errorf("group %d: node %d at index %d differs from node 1 at %d", gid, i, idx, firstIdx)
				}
			}
		}
		return nil
	})
}

// TestExpiry: a session with a 1 s TTL is hidden on every node right after
// its deadline and swept from every replica shortly after; a destroyed id
// never answers again, also after a restart.
func TestExpiry(t *testing.T) {
	c := startCluster(t, 3, nil)
	cl := &clientT{t: t, c: c.client(0)}
	rec := asMap(t, cl.ok("SESSION.CREATE", "TTL", "1s", "FIELDS", "k", "v"))
	id := rec["id"].Str
	deadline := time.UnixMilli(rec["expires_at_ms"].Int)
	gone := asMap(t, cl.ok("SESSION.CREATE", "TTL", "1h"))["id"].Str
	cl.ok("SESSION.DESTROY", gone)
	// A replica that has not applied the create yet rightly answers a
	// stale read with NOTFOUND; the test is about hiding what it holds.
	waitFor(t, time.Until(deadline), "every replica to apply the create", func() error {
		for i := 0; i < 3; i++ {
			n := c.node(i)
			if _, ok := n.groups[n.ring.Group(id)].fsm.Get(id, n.now()); !ok {
				return fmt.Errorf("node %d has not applied it", i)
			}
		}
		return nil
	})

	for i := 0; i < 3; i++ {
		cli := &clientT{t: t, c: c.client(i)}
		waitFor(t, time.Until(deadline)+time.Second, "expiry on every node", func() error {
			if code := errCode(cli.do("SESSION.GET", id, "CONSISTENCY", "stale", "NOTOUCH")); code != wire.CodeNotFound {
				return fmt.Errorf("node %d still serves (%q)", i, code)
			}
			return nil
		})
		if time.Now().Before(deadline) {
			t.Fatalf("session hidden before its deadline")
		}
	}
	// The sweeper removes it from every replica's state.
	waitFor(t, 5*time.Second, "sweep", func() error {
		for i := 0; i < 3; i++ {
			n := c.node(i)
			g := n.groups[n.ring.Group(id)]
			if g.fsm.Len() != 0 {
				return fmt.Errorf("node %d group %d still holds %d records", i, g.id, g.fsm.Len())
			}
		}
		return nil
	})
	c.stop(1)
	c.start(1)
	c.waitLeaders()
	cl1 := &clientT{t: t, c: c.client(1)}
	for _, x := range []string{id, gone} {
		if code := errCode(cl1.do("SESSION.GET", x)); code != wire.CodeNotFound {
			t.Fatalf("%s answered after restart: %q", x, code)
		}
	}
}

// TestIdleExpiry: reads keep an idle session alive; without reads it ends.
func TestIdleExpiry(t *testing.T) {
	c := startCluster(t, 3, nil)
	cl := &clientT{t: t, c: c.client(0)}
	id := asMap(t, cl.ok("SESSION.CREATE", "IDLE", "1500ms"))["id"].Str
	end := time.Now().Add(3 * time.Second)
	for time.Now().Before(end) {
		cl.ok("SESSION.GET", id) // each read is an access, flushed by the touch buffer
		time.Sleep(200 * time.Millisecond)
	}
	waitFor(t, 5*time.Second, "idle expiry", func() error {
		if code := errCode(cl.do("SESSION.GET", id, "NOTOUCH")); code != wire.CodeNotFound {
			return fmt.Errorf("still served: %q", code)
		}
		return nil
	})
}

// TestBadInput: every kind of bad input gets an error with a stable code and
// the node keeps serving everyone else.
func TestBadInput(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) { cfg.RESP.Limits.MaxBulkLen = 1 << 20 })
	good := &clientT{t: t, c: c.client(0)}
	cases := []struct {
		args []string
		code string
	}{
		{[]string{"NOSUCH"}, wire.CodeInternal},
		{[]string{"SESSION.GET"}, wire.CodeInternal},
		{[]string{"SESSION.CREATE", "TTL", "-5"}, wire.CodeBadArg},
		{[]string{"SESSION.CREATE", "TTL", "soon"}, wire.CodeBadArg},
		{[]string{"SESSION.CREATE", "IDLE", "0"}, wire.CodeBadArg},
		{[]string{"SESSION.CREATE", "FIELDS", "odd"}, wire.CodeBadArg},
		{[]string{"SESSION.CREATE", "BOGUS", "x"}, wire.CodeBadArg},
		{[]string{"SESSION.SET", "x", "IFVERSION", "abc", "f", "v"}, wire.CodeBadArg},
		{[]string{"SESSION.GET", "x", "CONSISTENCY", "eventual"}, wire.CodeBadArg},
		{[]string{"SESSION.GET", "nosuchid"}, wire.CodeNotFound},
		{[]string{"SESSION.SET", "nosuchid", "f", "v"}, wire.CodeNotFound},
		{[]string{"SESSION.CREATE", "FIELDS", "f", strings.Repeat("x", 2<<20)}, wire.CodeTooLarge},
		{[]string{"SESSION.CONSISTENCY", "sometimes"}, wire.CodeBadArg},
	}
	for _, tc := range cases {
		cl := &clientT{t: t, c: c.client(1)}
		v := cl.do(tc.args...)
		if code := errCode(v); code != tc.code {
			t.Errorf("%.60v: got %q (%v), want %s", tc.args, code, v.Err(), tc.code)
		}
	}
	// A value over the fsm limit but under the RESP limit is TOOLARGE from
	// the state machine, and the connection stays usable.
	cl := &clientT{t: t, c: c.client(2)}
	big := strings.Repeat("y", 1<<20-100)
	if code := errCode(cl.do("SESSION.CREATE", "FIELDS", "a", big, "b", big, "c", big, "d", big, "e", big)); code != wire.CodeTooLarge {
		t.Errorf("record over MaxRecordBytes: %q", code)
	}
	cl.ok("PING")

	// Garbage bytes and a 100 MB bulk header on raw sockets: an error, then
	// the connection is closed.
	for _, raw := range []string{"*2\r\n$3\r\nGET\r\n$-7\r\n", "\x00\x01\xff*garbage\r\n", "*1\r\n$104857600\r\n"} {
		conn, err := net.DialTimeout("tcp", c.cfgs[0].ClientAddr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		conn.Write([]byte(raw))
		line, _ := bufio.NewReader(conn).ReadString('\n')
		if !strings.HasPrefix(line, "-PROTOCOL") && !strings.HasPrefix(line, "-TOOLARGE") && !strings.HasPrefix(line, "-ERR unknown command") {
			t.Errorf("raw %q: reply %q", raw, line)
		}
		conn.Close()
	}
	good.ok("PING")
	good.ok("SESSION.CREATE", "TTL", "60")
}
