//go:build unix

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/internal/testcluster"
	"github.com/sessionraft/sessionraft/transport/resp"
	"github.com/sessionraft/sessionraft/transport/wire"
)

// TestProcessKill9 runs three real "sessionraft server" processes with fsync
// on and checks the failure behaviour the README promises, end to end:
//
//   - writes go on while the leader of group 0 is kill -9'd, and a
//     linearizable read of an earlier write succeeds on a survivor;
//   - the killed node, restarted from its data directory, catches up and
//     nothing acknowledged is lost (stale reads on it, linearizable reads on
//     every node);
//   - a session with TTL 1s is served before its deadline and NOTFOUND
//     everywhere, at every level, within a second after it;
//   - destroyed and rotated-away ids stay gone after kill -9 of every node,
//     while the rotated-to id and acknowledged sessions survive;
//   - malformed and oversized input gets the documented error codes without
//     disturbing other clients of the same node.
func TestProcessKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills three server processes; skipped with -short")
	}
	start := time.Now()
	phase := func(format string, args ...any) {
		t.Logf("[%5.1fs] %s", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}

	// 1. Three server processes.
	c := startE2ECluster(t, 3)
	phase("started %d processes", len(c.nodes))

	// 2. Every node sees a leader for every group.
	leaders := c.waitLeaders(c.nodes, 60*time.Second)
	phase("cluster ready, leaders %v", leaders)

	// 3. Writers on every node.
	w := startWriters(t, c.ring, c.nodes, 8)
	t.Cleanup(w.stop) // also stops them if a check below fails
	c.waitAcks(w, 100, 30*time.Second)
	phase("%d acks before the kill", w.count())

	// 4. kill -9 the leader of group 0; writes continue.
	leaders = c.waitLeaders(c.nodes, 15*time.Second)
	victim := c.node(leaders[0])
	// An id acked before the kill, preferably one of group 0.
	early := w.snapshot()
	probe := early[0]
	for _, a := range early {
		if c.ring.Group(a.id) == 0 {
			probe = a
			break
		}
	}
	c.kill(victim)
	killedAt := time.Now() // the victim is dead and reaped
	phase("killed %s (leader of group 0) at %d acks", victim.ID, w.count())
	// Count only creates sent after the victim was gone.
	if !testcluster.WaitFor(10*time.Second, func() bool { return w.countSentAfter(killedAt, -1) >= 100 }) {
		w.report()
		t.Fatalf("only %d creates sent after the kill acknowledged within 10s, want 100", w.countSentAfter(killedAt, -1))
	}
	phase("%d creates sent after the kill acknowledged", w.countSentAfter(killedAt, -1))
	// A linearizable read of an earlier write succeeds on a survivor
	// within a few seconds of the kill (an election takes one or two).
	var survivor *e2eNode
	for _, nd := range c.nodes {
		if nd != victim {
			survivor = nd
			break
		}
	}
	c.checkIDs(survivor.Client, wire.Linearizable, wantFound(probe), max(time.Until(killedAt.Add(8*time.Second)), 2*time.Second))
	phase("linearizable read of %s (group %d) on %s, %v after the kill", probe.id, c.ring.Group(probe.id), survivor.ID, time.Since(killedAt).Round(time.Millisecond))
	// Group 0 itself takes writes again under its new leader.
	if !testcluster.WaitFor(time.Until(killedAt.Add(10*time.Second)), func() bool { return w.countSentAfter(killedAt, 0) > 0 }) {
		t.Fatalf("no create acknowledged in group 0 within 10s of killing its leader %s", victim.ID)
	}
	phase("group 0 acknowledges creates again, %v after the kill", time.Since(killedAt).Round(time.Millisecond))

	// 5. Restart it; it catches up and nothing acknowledged is lost.
	c.start(victim)
	c.waitLeaders(c.nodes, 30*time.Second)
	acked := w.snapshot()
	phase("restarted %s; checking %d acked ids", victim.ID, len(acked))
	c.checkIDs(victim.Client, wire.Stale, wantFound(acked...), 30*time.Second)
	for _, nd := range c.nodes {
		c.checkIDs(nd.Client, wire.Linearizable, wantFound(acked...), 30*time.Second)
	}
	phase("%s caught up: all %d acked ids readable (stale there, linearizable everywhere)", victim.ID, len(acked))

	// 6. Stop the writers; TTL expiry.
	w.stop()
	acked = w.snapshot()
	w.report()
	phase("writers stopped: %d acks", len(acked))
	c.checkTTL()
	phase("TTL 1s session expired everywhere")

	// 7. Destroy and rotate, then kill -9 and restart every node.
	destroyed, rotated := acked[0], acked[1]
	if v := retryDo(t, c.nodes[0].Client, "SESSION.DESTROY", destroyed.id); v.Int != 1 {
		t.Fatalf("SESSION.DESTROY %s: %v, want (integer) 1", destroyed.id, v)
	}
	rotatedTo := e2eAck{
		id:  retryDo(t, c.nodes[1].Client, "SESSION.ROTATE", rotated.id, "REQID", "e2e-rotate-"+rotated.id).Str,
		val: rotated.val,
	}
	if rotatedTo.id == "" || rotatedTo.id == rotated.id {
		t.Fatalf("SESSION.ROTATE %s returned %q", rotated.id, rotatedTo.id)
	}
	phase("destroyed %s, rotated %s -> %s", destroyed.id, rotated.id, rotatedTo.id)
	for _, nd := range c.nodes {
		c.kill(nd)
	}
	for _, nd := range c.nodes {
		c.start(nd)
	}
	leaders = c.waitLeaders(c.nodes, 60*time.Second)
	c.waitCaughtUp(leaders, 30*time.Second)
	phase("all nodes killed, restarted and caught up; leaders %v", leaders)
	want := map[string]string{destroyed.id: "", rotated.id: "", rotatedTo.id: rotatedTo.val}
	rest := acked[2:]
	for i := 0; i < 50 && i < len(rest); i++ {
		a := rest[i*len(rest)/min(50, len(rest))]
		want[a.id] = a.val
	}
	for _, nd := range c.nodes {
		c.checkIDs(nd.Client, wire.Linearizable, want, 15*time.Second)
		c.checkIDsStrict(nd.Client, wire.Stale, want, 10*time.Second)
	}
	// Every acknowledged session, not only the sample, survived.
	c.checkIDs(c.nodes[2].Client, wire.Linearizable, wantFound(rest...), 30*time.Second)
	phase("destroyed and rotated-away ids gone on every node; rotated-to id and %d sampled acked ids served on every node, all %d readable",
		len(want)-3, len(rest))

	// 8. Bad input against one node while another client keeps working.
	c.checkBadInput(c.nodes[0])
	phase("bad input answered; node still serving")
}

// e2eCluster is a set of "sessionraft server" processes on loopback (see
// internal/testcluster), each restartable with the same flags and data
// directory.
type e2eCluster struct {
	t     *testing.T
	tc    *testcluster.Cluster
	nodes []*e2eNode
	ring  *wire.Ring
}

type e2eNode = testcluster.Node

// startE2ECluster starts n nodes with fsync on and info-level logs, and
// fails the test if any of them exits without the test stopping it. It
// waits up to 60s until every node sees a leader for every group.
func startE2ECluster(t *testing.T, n int) *e2eCluster {
	t.Helper()
	c := &e2eCluster{t: t}
	var err error
	if c.ring, err = wire.NewRing(n, wire.DefaultVNodes); err != nil {
		t.Fatal(err)
	}
	c.tc, err = testcluster.Start(testcluster.Options{
		Nodes:        n,
		Dir:          t.TempDir(),
		Sync:         true,
		LogLevel:     "info",
		Flags:        []string{"--sweep-interval", "50ms"},
		ReadyTimeout: 60 * time.Second,
		Attempts:     1,
		OnExit: func(nd *testcluster.Node, err error) {
			t.Errorf("%s (pid %d) exited by itself: %v", nd.ID, nd.Pid(), err)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	c.nodes = c.tc.Nodes
	// Registered after the TempDir, so it runs before that is removed.
	t.Cleanup(func() {
		if err := c.tc.Stop(); err != nil {
			t.Error(err)
		}
		// E2E_DUMP=dir keeps every node's full output, for digging into a
		// failure beyond the tails logged below.
		if os.Getenv("E2E_DUMP") != "" {
			dir := filepath.Join(os.Getenv("E2E_DUMP"), time.Now().Format("150405.000"))
			_ = os.MkdirAll(dir, 0o755)
			for _, nd := range c.nodes {
				_ = os.WriteFile(dir+"/"+nd.ID+".log", []byte(nd.Log()), 0o644)
			}
		}
		if t.Failed() {
			for _, nd := range c.nodes {
				t.Logf("last lines of %s:\n%s", nd.ID, testcluster.LastLines(nd.Log(), 50))
			}
		}
	})
	return c
}

// start starts nd's process again with its flags and data directory.
func (c *e2eCluster) start(nd *e2eNode) {
	c.t.Helper()
	if err := c.tc.Restart(nd); err != nil {
		c.t.Fatal(err)
	}
}

// kill sends SIGKILL to nd's running process, if any, and waits until it is
// gone.
func (c *e2eCluster) kill(nd *e2eNode) {
	c.t.Helper()
	if err := c.tc.Kill(nd); err != nil {
		c.t.Error(err)
	}
}

func (c *e2eCluster) node(id string) *e2eNode {
	c.t.Helper()
	nd := c.tc.ByID(id)
	if nd == nil {
		c.t.Fatalf("no node %q", id)
	}
	return nd
}

func (c *e2eCluster) addrs() []string { return c.tc.Addrs() }

// waitLeaders polls TOPOLOGY on nodes until each answers, knows every group
// and they agree on a leader for each group that is one of nodes. It
// returns the leader of each group.
func (c *e2eCluster) waitLeaders(nodes []*e2eNode, timeout time.Duration) map[int]string {
	c.t.Helper()
	var addrs []string
	live := map[string]bool{}
	for _, nd := range nodes {
		addrs = append(addrs, nd.Client)
		live[nd.ID] = true
	}
	var leaders map[int]string
	why := "not polled"
	ok := testcluster.WaitFor(timeout, func() bool {
		sts := queryNodes(context.Background(), addrs, 2*time.Second, false)
		if ready, reason := clusterReady(sts); !ready {
			why = reason
			return false
		}
		leaders = map[int]string{}
		for _, st := range sts {
			if len(st.Groups) != len(c.nodes) {
				why = fmt.Sprintf("%s knows %d groups", st.Node, len(st.Groups))
				return false
			}
			for _, g := range st.Groups {
				if l, seen := leaders[g.Group]; seen && l != g.Leader {
					why = fmt.Sprintf("group %d: leader %s or %s", g.Group, l, g.Leader)
					return false
				}
				if !live[g.Leader] {
					why = fmt.Sprintf("%s: group %d leader %s is not running", st.Node, g.Group, g.Leader)
					return false
				}
				leaders[g.Group] = g.Leader
			}
		}
		return true
	})
	if !ok {
		c.t.Fatalf("no agreed leader for every group within %v: %s", timeout, why)
	}
	return leaders
}

// waitCaughtUp waits until every node has applied, in every group, the
// commit index its leader reports now.
func (c *e2eCluster) waitCaughtUp(leaders map[int]string, timeout time.Duration) {
	c.t.Helper()
	target := map[int]int64{}
	sts := queryNodes(context.Background(), c.addrs(), 2*time.Second, false)
	for _, st := range sts {
		for _, g := range st.Groups {
			if g.Leader == st.Node && leaders[g.Group] == st.Node {
				target[g.Group] = g.CommitIndex
			}
		}
	}
	if len(target) != len(leaders) {
		c.t.Fatalf("commit index of the leaders %v: got %v", leaders, target)
	}
	why := ""
	if !testcluster.WaitFor(timeout, func() bool {
		for _, st := range queryNodes(context.Background(), c.addrs(), 2*time.Second, false) {
			if !st.Up || len(st.Groups) != len(target) {
				why = fmt.Sprintf("%s: up=%v groups=%d %s", st.Addr, st.Up, len(st.Groups), st.Error)
				return false
			}
			for _, g := range st.Groups {
				if g.AppliedIndex < target[g.Group] {
					why = fmt.Sprintf("%s group %d applied %d < %d", st.Node, g.Group, g.AppliedIndex, target[g.Group])
					return false
				}
			}
		}
		return true
	}) {
		c.t.Fatalf("nodes did not catch up within %v: %s", timeout, why)
	}
}

func (c *e2eCluster) waitAcks(w *e2eWriters, n int, timeout time.Duration) {
	c.t.Helper()
	if !testcluster.WaitFor(timeout, func() bool { return w.count() >= n }) {
		w.report()
		c.t.Fatalf("only %d acknowledged creates within %v, want %d", w.count(), timeout, n)
	}
}

// wantFound maps each ack's id to its field value: the session must exist.
func wantFound(acks ...e2eAck) map[string]string {
	m := make(map[string]string, len(acks))
	for _, a := range acks {
		m[a.id] = a.val
	}
	return m
}

// checkIDs reads every id of want on addr at level until each gives the
// expected answer (the record with field val = want[id], or NOTFOUND for
// want[id] == ""), failing at timeout. Refusals are asked again. A
// linearizable read with the wrong answer fails at once: a lost
// acknowledged write or a resurrected id. A stale read may be behind, so
// only the timeout fails it. Unexpected errors fail at once.
func (c *e2eCluster) checkIDs(addr, level string, want map[string]string, timeout time.Duration) {
	c.t.Helper()
	c.checkIDsMode(addr, level, want, timeout, level == wire.Linearizable)
}

// checkIDsStrict is checkIDs with a stale read's wrong answer failing at
// once, for a replica known to be caught up with no writes since.
func (c *e2eCluster) checkIDsStrict(addr, level string, want map[string]string, timeout time.Duration) {
	c.t.Helper()
	c.checkIDsMode(addr, level, want, timeout, true)
}

func (c *e2eCluster) checkIDsMode(addr, level string, want map[string]string, timeout time.Duration, strict bool) {
	c.t.Helper()
	pending := make([]string, 0, len(want))
	for id := range want {
		pending = append(pending, id)
	}
	sort.Strings(pending)
	deadline := time.Now().Add(timeout)
	lastWrong := map[string]string{}
	for len(pending) > 0 {
		if time.Now().After(deadline) {
			var b strings.Builder
			for i, id := range pending {
				if i == 10 {
					fmt.Fprintf(&b, "  ... and %d more\n", len(pending)-i)
					break
				}
				fmt.Fprintf(&b, "  %s (group %d, want %q): %s\n", id, c.ring.Group(id), want[id], lastWrong[id])
			}
			c.t.Fatalf("%s %s reads: %d of %d ids still wrong after %v:\n%s", addr, level, len(pending), len(want), timeout, b.String())
		}
		cmds := make([][]string, len(pending))
		for i, id := range pending {
			cmds[i] = []string{"SESSION.GET", id, "CONSISTENCY", level, "NOTOUCH"}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		vals, err := pipelineDo(ctx, addr, cmds)
		cancel()
		if err != nil {
			lastWrong[pending[0]] = err.Error()
			time.Sleep(100 * time.Millisecond)
			continue
		}
		var next []string
		for i, id := range pending {
			v := vals[i]
			verdict, problem := judgeGet(id, want[id], v, level)
			if verdict == getOK {
				continue
			}
			if verdict == getBroken || verdict == getWrong && strict {
				c.t.Fatalf("%s SESSION.GET %s (group %d) CONSISTENCY %s: %s", addr, id, c.ring.Group(id), level, problem)
			}
			lastWrong[id] = problem
			next = append(next, id)
		}
		pending = next
		if len(pending) > 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// getVerdict classifies a reply to a GET.
type getVerdict int

const (
	getOK      getVerdict = iota
	getRefused            // UNAVAILABLE, BUSY, or STALE at the stale level: ask again
	getWrong              // exists where it must not or vice versa: a replica may lag
	getBroken             // any other error, or a record with the wrong content
)

// judgeGet says what is wrong with reply v to a GET of id at level, where
// wantVal is the session's field value or "" if it must be NOTFOUND.
func judgeGet(id, wantVal string, v resp.Value, level string) (getVerdict, string) {
	if e, ok := v.Err().(*resp.ServerError); ok {
		switch {
		case e.Code == wire.CodeNotFound && wantVal == "":
			return getOK, ""
		case e.Code == wire.CodeNotFound:
			return getWrong, fmt.Sprintf("NOTFOUND for an acknowledged session (%s)", e.Msg)
		case e.Code == wire.CodeUnavailable, e.Code == wire.CodeBusy,
			e.Code == wire.CodeStale && level == wire.Stale:
			return getRefused, e.Error()
		default:
			return getBroken, "unexpected error " + e.Error()
		}
	}
	if wantVal == "" {
		return getWrong, fmt.Sprintf("served a session that must be gone: %v", v)
	}
	m, err := asMap(v)
	if err != nil {
		return getBroken, fmt.Sprintf("bad reply %v: %v", v, err)
	}
	fields, _ := asMap(m["fields"])
	if asString(m["subject"]) != "e2e" || asString(fields["val"]) != wantVal {
		return getBroken, fmt.Sprintf("wrong record (want subject e2e, val %q): %v", wantVal, v)
	}
	if got := asString(m["id"]); got != id {
		return getBroken, fmt.Sprintf("record has id %q: %v", got, v)
	}
	return getOK, ""
}

// pipelineDo sends cmds on one new connection, a chunk at a time so the
// server's per-connection in-flight limit cannot deadlock us, and returns
// the replies in order. Error replies are values, not errors.
func pipelineDo(ctx context.Context, addr string, cmds [][]string) ([]resp.Value, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	br := bufio.NewReader(conn)
	bw := bufio.NewWriter(conn)
	out := make([]resp.Value, 0, len(cmds))
	const chunk = 256
	for len(cmds) > 0 {
		n := min(chunk, len(cmds))
		for _, args := range cmds[:n] {
			fmt.Fprintf(bw, "*%d\r\n", len(args))
			for _, a := range args {
				fmt.Fprintf(bw, "$%d\r\n%s\r\n", len(a), a)
			}
		}
		if err := bw.Flush(); err != nil {
			return nil, err
		}
		for range n {
			v, err := resp.ReadValue(br, resp.DefaultLimits())
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		cmds = cmds[n:]
	}
	return out, nil
}

// checkTTL creates a session with TTL 1s and checks that every node serves
// it before its deadline, at the stale and linearizable levels, and answers
// NOTFOUND at both within a second after it.
func (c *e2eCluster) checkTTL() {
	c.t.Helper()
	v := retryDo(c.t, c.nodes[0].Client, "SESSION.CREATE", "SUBJECT", "e2e", "TTL", "1s", "FIELDS", "val", "ttl")
	m, err := asMap(v)
	if err != nil {
		c.t.Fatalf("SESSION.CREATE TTL 1s: %v", err)
	}
	id := asString(m["id"])
	expires := time.UnixMilli(asInt(m["expires_at_ms"]))
	if left := time.Until(expires); id == "" || left <= 0 || left > time.Second {
		c.t.Fatalf("SESSION.CREATE TTL 1s: id %q expires in %v: %v", id, left, v)
	}
	levels := []string{wire.Linearizable, wire.Stale}

	// Served everywhere before the deadline.
	served := map[string]bool{}
	var last string
	for len(served) < len(c.nodes)*len(levels) && time.Now().Before(expires) {
		for _, nd := range c.nodes {
			for _, l := range levels {
				k := nd.ID + "/" + l
				if served[k] {
					continue
				}
				r := getOnce(nd.Client, id, l)
				verdict, p := judgeGet(id, "ttl", r, l)
				if verdict == getBroken {
					c.t.Fatalf("TTL session %s on %s: %s", id, k, p)
				}
				if verdict == getOK && time.Now().Before(expires) {
					served[k] = true
				} else {
					last = fmt.Sprintf("%s: %s", k, orStr(p, "answered after the deadline"))
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(served) < len(c.nodes)*len(levels) {
		c.t.Fatalf("TTL 1s session %s not served everywhere before its deadline %s: served at %v; last: %s",
			id, expires.Format("15:04:05.000"), served, last)
	}

	// NOTFOUND everywhere within a second after the deadline (the record
	// is hidden by each node's clock at once, and swept soon after).
	time.Sleep(time.Until(expires))
	gone := map[string]time.Duration{}
	for len(gone) < len(c.nodes)*len(levels) {
		if time.Since(expires) > time.Second {
			c.t.Fatalf("TTL 1s session %s (expires %s) still not NOTFOUND everywhere 1s after its deadline: gone at %v; last: %s",
				id, expires.Format("15:04:05.000"), gone, last)
		}
		for _, nd := range c.nodes {
			for _, l := range levels {
				k := nd.ID + "/" + l
				r := getOnce(nd.Client, id, l)
				verdict, p := judgeGet(id, "", r, l)
				switch {
				case verdict == getBroken:
					c.t.Fatalf("TTL session %s on %s after its deadline: %s", id, k, p)
				case verdict == getOK:
					if _, ok := gone[k]; !ok {
						gone[k] = time.Since(expires).Round(time.Millisecond)
					}
				case r.Err() == nil && wasGone(gone, k):
					c.t.Fatalf("TTL 1s session %s came back on %s after NOTFOUND: %v", id, k, r)
				default:
					last = fmt.Sprintf("%s: %s", k, p)
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Logf("TTL session %s NOTFOUND after its deadline: %v", id, gone)
}

func wasGone(gone map[string]time.Duration, k string) bool {
	_, ok := gone[k]
	return ok
}

// getOnce sends one GET NOTOUCH and returns the reply; a failure to talk to
// the node is returned as an UNAVAILABLE value, to be asked again.
func getOnce(addr, id, level string) resp.Value {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	vals, err := pipelineDo(ctx, addr, [][]string{{"SESSION.GET", id, "CONSISTENCY", level, "NOTOUCH"}})
	if err != nil {
		return resp.Value{Kind: resp.Error, Str: wire.CodeUnavailable + " (test client) " + err.Error()}
	}
	return vals[0]
}

// checkBadInput sends malformed and invalid requests to nd while another
// client of nd keeps creating sessions, then checks nd still serves.
func (c *e2eCluster) checkBadInput(nd *e2eNode) {
	t := c.t
	t.Helper()
	bg := startWriters(t, c.ring, []*e2eNode{nd}, 1)
	defer bg.stop()
	c.waitAcks(bg, 5, 10*time.Second)
	before := bg.count()

	// Garbage: an inline command nobody knows, or a protocol error.
	line, _ := rawExchange(t, nd.Client, "\x16\x03\x01garbage \xff\xfe\r\n", false)
	t.Logf("garbage: %q", line)
	if !strings.HasPrefix(line, "-PROTOCOL") && !strings.HasPrefix(line, "-ERR unknown command") {
		t.Errorf("garbage: reply %q, want -PROTOCOL or -ERR unknown command", line)
	}
	line, closed := rawExchange(t, nd.Client, "*zz\r\n", true)
	t.Logf("bad array header: %q, closed %v", line, closed)
	if !strings.HasPrefix(line, "-PROTOCOL") || !closed {
		t.Errorf("bad array header: reply %q (closed %v), want -PROTOCOL and the connection closed", line, closed)
	}
	// A 100 MiB bulk string header.
	line, closed = rawExchange(t, nd.Client, "*1\r\n$104857600\r\n", true)
	t.Logf("100 MiB bulk header: %q, closed %v", line, closed)
	if !strings.HasPrefix(line, "-TOOLARGE") || !closed {
		t.Errorf("100 MiB bulk header: reply %q (closed %v), want -TOOLARGE and the connection closed", line, closed)
	}

	// Well-formed but invalid commands, on one connection that stays usable.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := resp.Dial(ctx, nd.Client)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, tc := range []struct {
		code string
		args []string
	}{
		{wire.CodeInternal, []string{"SESSION.NOSUCH", "x"}},
		{wire.CodeInternal, []string{"SESSION.GET"}},
		{wire.CodeInternal, []string{"SESSION.ROTATE", "a", "b", "c", "d", "e", "f"}},
		{wire.CodeBadArg, []string{"SESSION.CREATE", "TTL", "-5"}},
		{wire.CodeBadArg, []string{"SESSION.CREATE", "TTL", "-5s"}},
	} {
		v, err := cl.Do(ctx, tc.args...)
		var se *resp.ServerError
		if !errors.As(err, &se) || se.Code != tc.code {
			t.Errorf("%q: %v (%v), want %s", tc.args, v, err, tc.code)
		}
	}
	if v, err := cl.Do(ctx, "PING"); err != nil || v.Str != "PONG" {
		t.Errorf("PING after bad input: %v %v", v, err)
	}
	v, err := cl.Do(ctx, "SESSION.CREATE", "SUBJECT", "e2e", "TTL", "1h", "FIELDS", "val", "after-bad-input")
	if err != nil {
		t.Errorf("SESSION.CREATE after bad input: %v", err)
	} else if m, _ := asMap(v); asString(m["id"]) == "" {
		t.Errorf("SESSION.CREATE after bad input: %v", v)
	}

	// The other client kept working throughout.
	c.waitAcks(bg, before+5, 10*time.Second)
	bg.stop()
	if errs := bg.unexpectedErrs(); len(errs) > 0 || bg.failures() > 0 {
		t.Errorf("client next to the bad input saw %d failures; unexpected: %q", bg.failures(), errs)
	}
}

// rawExchange sends raw bytes on a new connection and returns the first
// reply line and, if checkClose, whether the server then closed the
// connection (within 3s).
func rawExchange(t *testing.T, addr, raw string, checkClose bool) (line string, closed bool) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatalf("write %q: %v", raw, err)
	}
	br := bufio.NewReader(conn)
	line, err = br.ReadString('\n')
	if err != nil {
		t.Errorf("reply to %q: %v (got %q)", raw, err, line)
		return line, false
	}
	line = strings.TrimRight(line, "\r\n")
	if !checkClose {
		return line, false
	}
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	_, err = br.ReadByte()
	var ne net.Error
	closed = err != nil && !(errors.As(err, &ne) && ne.Timeout())
	return line, closed
}

// e2eWriters are client goroutines creating sessions in a loop and
// recording the acknowledged ones.
type e2eWriters struct {
	t     *testing.T
	ring  *wire.Ring
	nodes []*e2eNode
	quit  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup

	mu         sync.Mutex
	acks       []e2eAck
	errCounts  map[string]int // retryable errors and reconnects, by kind
	unexpected []string
}

type e2eAck struct {
	id, val string
	sent    time.Time // when the create was sent
}

func startWriters(t *testing.T, ring *wire.Ring, nodes []*e2eNode, n int) *e2eWriters {
	t.Helper()
	w := &e2eWriters{t: t, ring: ring, nodes: nodes, quit: make(chan struct{}), errCounts: map[string]int{}}
	for i := range n {
		w.wg.Add(1)
		go w.run(i)
	}
	return w
}

func (w *e2eWriters) run(i int) {
	defer w.wg.Done()
	node := i % len(w.nodes)
	var cl *resp.Client
	defer func() {
		if cl != nil {
			cl.Close()
		}
	}()
	pause := func(d time.Duration) bool {
		select {
		case <-w.quit:
			return false
		case <-time.After(d):
			return true
		}
	}
	for seq := 0; ; seq++ {
		select {
		case <-w.quit:
			return
		default:
		}
		if cl == nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			var err error
			cl, err = resp.Dial(ctx, w.nodes[node].Client)
			cancel()
			if err != nil {
				cl = nil
				w.countErr("dial")
				node = (node + 1) % len(w.nodes)
				if !pause(50 * time.Millisecond) {
					return
				}
				continue
			}
		}
		val := fmt.Sprintf("w%d-%d", i, seq)
		sent := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		v, err := cl.Do(ctx, "SESSION.CREATE", "SUBJECT", "e2e", "TTL", "1h", "FIELDS", "val", val)
		cancel()
		var se *resp.ServerError
		switch {
		case err == nil:
			m, perr := asMap(v)
			id := asString(m["id"])
			if perr != nil || id == "" {
				w.addUnexpected(fmt.Sprintf("%s: bad SESSION.CREATE reply %v (%v)", w.nodes[node].ID, v, perr))
				continue
			}
			w.mu.Lock()
			w.acks = append(w.acks, e2eAck{id: id, val: val, sent: sent})
			w.mu.Unlock()
		case errors.As(err, &se):
			if se.Code != wire.CodeUnavailable && se.Code != wire.CodeIndeterminate {
				w.addUnexpected(fmt.Sprintf("%s: SESSION.CREATE: %v", w.nodes[node].ID, err))
			}
			w.countErr(se.Code)
			if !pause(20 * time.Millisecond) {
				return
			}
		default:
			// The node died or timed out: the outcome is unknown and the
			// connection is gone. Try the next node.
			w.countErr("conn")
			cl.Close()
			cl = nil
			node = (node + 1) % len(w.nodes)
		}
	}
}

func (w *e2eWriters) countErr(kind string) {
	w.mu.Lock()
	w.errCounts[kind]++
	w.mu.Unlock()
}

func (w *e2eWriters) addUnexpected(s string) {
	w.mu.Lock()
	w.unexpected = append(w.unexpected, time.Now().Format("15:04:05.000 ")+s)
	w.mu.Unlock()
}

func (w *e2eWriters) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acks)
}

// countSentAfter counts the acks of creates sent after t, in group g or,
// for g < 0, in any group.
func (w *e2eWriters) countSentAfter(t time.Time, g int) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, a := range w.acks {
		if a.sent.After(t) && (g < 0 || w.ring.Group(a.id) == g) {
			n++
		}
	}
	return n
}

func (w *e2eWriters) snapshot() []e2eAck {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]e2eAck(nil), w.acks...)
}

func (w *e2eWriters) failures() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, c := range w.errCounts {
		n += c
	}
	return n
}

func (w *e2eWriters) unexpectedErrs() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.unexpected...)
}

// stop stops the writers and waits for them; a writer stuck for longer
// than a request can take is a hang.
func (w *e2eWriters) stop() {
	w.once.Do(func() {
		close(w.quit)
		done := make(chan struct{})
		go func() { w.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			w.t.Errorf("writers did not stop within 20s")
		}
	})
}

// report logs the writers' error counts and fails on unexpected errors.
func (w *e2eWriters) report() {
	w.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Logf("writers: %d acks, retryable errors and reconnects %v", len(w.acks), w.errCounts)
	if len(w.unexpected) > 0 {
		w.t.Errorf("writers got %d unexpected errors, first: %q", len(w.unexpected), w.unexpected[:min(5, len(w.unexpected))])
	}
}
