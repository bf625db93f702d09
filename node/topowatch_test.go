package node

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/transport/resp"
	"github.com/sessionraft/sessionraft/transport/wire"
)

// epochOf returns a TOPOLOGY reply's epoch.
func epochOf(t *testing.T, v resp.Value) uint64 {
	t.Helper()
	e := asMap(t, v)["epoch"].Int
	if e <= 0 {
		t.Fatalf("TOPOLOGY reply has no epoch: %+v", v)
	}
	return uint64(e)
}

func waitArgs(epoch uint64, ms int) []string {
	return []string{"TOPOLOGY", "WAIT", strconv.FormatUint(epoch, 10), strconv.Itoa(ms)}
}

// TOPOLOGY WAIT answers at once for an epoch that is not the node's, at
// its timeout when nothing changed, and as soon as a group's leader moves;
// bad arguments get their errors.
func TestTopologyWait(t *testing.T) {
	// No balancer: it would move leaders under the transfer below.
	c := startCluster(t, 3, func(cfg *Config) { cfg.BalanceInterval = time.Hour })
	c.waitLeaders()
	cl := &clientT{t: t, c: c.client(0)}

	e0 := epochOf(t, cl.ok("TOPOLOGY"))
	if e := epochOf(t, cl.ok(waitArgs(e0-1, 60000)...)); e < e0 {
		t.Fatalf("WAIT on an old epoch answered epoch %d, before %d", e, e0)
	}

	for _, tc := range []struct {
		args []string
		code string
	}{
		{[]string{"TOPOLOGY", "FOO"}, "ERR"},
		{[]string{"TOPOLOGY", "WAIT", "1"}, "ERR"},
		{[]string{"TOPOLOGY", "WAIT", "x", "100"}, wire.CodeBadArg},
		{[]string{"TOPOLOGY", "WAIT", "1", "0"}, wire.CodeBadArg},
		{[]string{"TOPOLOGY", "WAIT", "1", "-5"}, wire.CodeBadArg},
		{[]string{"TOPOLOGY", "WAIT", "1", "300001"}, wire.CodeBadArg},
		{[]string{"TOPOLOGY", "WAIT", "1", "100", "x"}, "ERR"}, // arity
	} {
		if code := errCode(cl.do(tc.args...)); code != tc.code {
			t.Errorf("%v: code %q, want %q", tc.args, code, tc.code)
		}
	}

	// Nothing changes (or gossip moved it): answered at the timeout.
	e1 := epochOf(t, cl.ok("TOPOLOGY"))
	if e := epochOf(t, cl.ok(waitArgs(e1, 100)...)); e < e1 {
		t.Fatalf("WAIT answered epoch %d, before %d", e, e1)
	}

	// A leader move answers a wait of 60 s (the test gives it 20).
	lead := c.readyLeader(0)
	next := (lead + 1) % 3
	term := c.node(0).groups[0].raft.CurrentTerm()
	e2, got := holdWait(t, c, 0)
	g := c.node(lead).groups[0]
	if err := g.raft.LeadershipTransferToServer(raft.ServerID(c.cfgs[next].ID), raft.ServerAddress(c.node(next).self.Raft)).Error(); err != nil {
		t.Fatalf("transfer: %v", err)
	}
	v := <-got
	if e := epochOf(t, v); e <= e2 {
		t.Fatalf("WAIT after a leader move answered epoch %d, not after %d", e, e2)
	}
	waitFor(t, 10*time.Second, "TOPOLOGY naming a leader of a later term", func() error {
		gm := asMap(t, asMap(t, cl.ok("TOPOLOGY"))["groups"].Elems[0])
		if gm["leader"].Str == "" || uint64(gm["term"].Int) <= term {
			return fmt.Errorf("leader %q in term %d", gm["leader"].Str, gm["term"].Int)
		}
		return nil
	})
}

// holdWait sends node i a TOPOLOGY WAIT of 60 s on a connection of its
// own and returns once the node holds it, with the epoch it waits on and
// where its reply will arrive. (Right after a start the balancer moves
// leaders, and a wait on an epoch already gone is answered at once: it is
// sent again.)
func holdWait(t *testing.T, c *testCluster, i int) (uint64, <-chan resp.Value) {
	t.Helper()
	cl := &clientT{t: t, c: c.client(i)}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		epoch := epochOf(t, cl.ok("TOPOLOGY"))
		got := make(chan resp.Value, 1)
		w := c.client(i)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			v, _ := w.Do(ctx, waitArgs(epoch, 60000)...)
			got <- v
		}()
		for time.Now().Before(deadline) {
			if c.node(i).topo.pending() == 1 {
				return epoch, got
			}
			select {
			case <-got: // the epoch had moved: again
			case <-time.After(10 * time.Millisecond):
				continue
			}
			break
		}
	}
	t.Fatalf("node %d never held a TOPOLOGY WAIT", i)
	return 0, nil
}

// A node holds at most one wait per connection, and lets go of a wait
// whose connection closed.
func TestTopologyWaitBounds(t *testing.T) {
	c := startCluster(t, 1, nil)
	c.waitLeaders()
	tw := c.node(0).topo
	epoch := epochOf(t, (&clientT{t: t, c: c.client(0)}).ok("TOPOLOGY"))

	// A second wait pipelined on the connection is refused, after the
	// first's answer (replies keep their order).
	raw := dialRedisRaw(t, c.cfgs[0].ClientAddr)
	raw.send(waitArgs(epoch, 200)...)
	raw.send(waitArgs(epoch, 200)...)
	if r := raw.read(); strings.HasPrefix(r, "-") {
		t.Fatalf("first wait: %q", r)
	}
	if r := raw.read(); !strings.Contains(r, "already has a TOPOLOGY WAIT pending") {
		t.Fatalf("second wait on the connection: %q", r)
	}

	// Two connections, two waits held.
	var held []*redisRaw
	for range 2 {
		r := dialRedisRaw(t, c.cfgs[0].ClientAddr)
		r.send(waitArgs(epoch, 60000)...)
		held = append(held, r)
	}
	waitFor(t, 10*time.Second, "two waits held", func() error {
		if p := tw.pending(); p != 2 {
			return fmt.Errorf("%d waiting", p)
		}
		return nil
	})
	if info := (&clientT{t: t, c: c.client(0)}).ok("INFO", "clients").Str; !strings.Contains(info, "blocked_clients:2\r\n") {
		t.Fatalf("INFO clients with two waits held: %q", info)
	}
	// Their connections close: the node drops both.
	for _, r := range held {
		r.nc.Close()
	}
	waitFor(t, 10*time.Second, "the waits of closed connections dropped", func() error {
		if p := tw.pending(); p != 0 {
			return fmt.Errorf("%d waiting", p)
		}
		return nil
	})
}

// The epoch moves on what clients route by: a member that appears, leaves
// or changes its client address; not on other gossip (a disk alarm).
func TestTopologyEpochMembers(t *testing.T) {
	n := newNode(testConfig(t, "n1", t.TempDir()))
	md := meta{ID: "n2", Raft: "127.0.0.1:1", Client: "127.0.0.1:2", Groups: 3}
	for _, step := range []struct {
		what  string
		md    func(*meta)
		alive bool
		moves bool
	}{
		{"joins", func(*meta) {}, true, true},
		{"gossips again", func(*meta) {}, true, false},
		{"raises a disk alarm", func(m *meta) { m.DiskLow = true }, true, false},
		{"changes its client address", func(m *meta) { m.Client = "127.0.0.1:3" }, true, true},
		{"changes its raft address", func(m *meta) { m.Raft = "127.0.0.1:4" }, true, true},
		{"leaves", func(*meta) {}, false, true},
		{"comes back", func(*meta) {}, true, true},
	} {
		step.md(&md)
		before := n.topo.epoch.Load()
		n.noteMember("n2", md, step.alive)
		if moved := n.topo.epoch.Load() != before; moved != step.moves {
			t.Errorf("member %s: epoch moved %v, want %v", step.what, moved, step.moves)
		}
	}
}
