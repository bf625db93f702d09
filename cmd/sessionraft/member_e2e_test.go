//go:build unix

package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/client"
	"github.com/sessionraft/sessionraft/internal/testcluster"
	"github.com/sessionraft/sessionraft/transport/resp"
)

// The membership tests run real server processes through testcluster and
// drive them with the CLI ("sessionraft member ...", "sessionraft
// recover") and the Go client, as an operator and an application would.

func startMemberCluster(t *testing.T, flags ...string) *testcluster.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts server processes; skipped with -short")
	}
	c, err := testcluster.Start(testcluster.Options{Nodes: 3, Dir: t.TempDir(), Writes: 3, LogLevel: "info",
		Flags: append([]string{"--promote-stable-for", "1s"}, flags...)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", c.Tail(60))
		}
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	return c
}

// cli runs the sessionraft command line in the test process.
func cli(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := cli(t, args...)
	if err != nil {
		t.Fatalf("sessionraft %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func memberList(addr string) ([]serverInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := resp.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	v, err := c.Do(ctx, "MEMBER", "LIST")
	if err != nil {
		return nil, err
	}
	return parseMemberList(v)
}

// waitVoters waits until addr's MEMBER LIST shows exactly voters as every
// group's voters, each alive and not lagging by more than 100 entries.
func waitVoters(t *testing.T, addr string, voters ...string) {
	t.Helper()
	want := strings.Join(voters, ",")
	var last string
	if !testcluster.WaitFor(90*time.Second, func() bool {
		rows, err := memberList(addr)
		if err != nil {
			last = err.Error()
			return false
		}
		groups := map[int][]string{}
		ok := true
		for _, r := range rows {
			for _, g := range r.Groups {
				if g.Suffrage == "voter" {
					groups[g.Group] = append(groups[g.Group], r.ID)
					if r.Health != "alive" || g.Lag < 0 || g.Lag > 100 {
						ok = false
					}
				}
			}
		}
		var b strings.Builder
		for g := range 3 {
			fmt.Fprintf(&b, "g%d=%s ", g, strings.Join(groups[g], ","))
			if strings.Join(groups[g], ",") != want {
				ok = false
			}
		}
		last = b.String()
		return ok && len(groups) == 3
	}) {
		t.Fatalf("voters never became %s in every group (healthy, caught up): last %s", want, last)
	}
}

// load is a Go client application: writers creating sessions and reading
// back ones already acknowledged, counting every failed call.
type load struct {
	cl     *client.Client
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	acked  []string
	calls  int
	failed []error
}

func startLoad(t *testing.T, seeds []string, workers int) *load {
	t.Helper()
	cl, err := client.New(context.Background(), client.Config{Seeds: seeds, RequestTimeout: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cl: cl, cancel: cancel}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				var err error
				if i%3 == 2 {
					l.mu.Lock()
					id := ""
					if len(l.acked) > 0 {
						id = l.acked[(i*7+w)%len(l.acked)]
					}
					l.mu.Unlock()
					if id != "" {
						_, err = cl.Get(context.Background(), id, client.WithoutTouch())
					}
				} else {
					var s *client.Session
					s, err = cl.Create(context.Background(), client.WithField("w", []byte(fmt.Sprint(w, "-", i))))
					if err == nil {
						l.mu.Lock()
						l.acked = append(l.acked, s.ID)
						l.mu.Unlock()
					}
				}
				l.mu.Lock()
				l.calls++
				if err != nil {
					l.failed = append(l.failed, err)
				}
				l.mu.Unlock()
				time.Sleep(2 * time.Millisecond) // a steady load, not a flood, on a shared machine
			}
		}()
	}
	t.Cleanup(l.stop)
	return l
}

func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

// counts returns the calls and failures so far.
func (l *load) counts() (int, []error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls, append([]error(nil), l.failed...)
}

// waitCalls waits until n more calls completed.
func (l *load) waitCalls(t *testing.T, n int) {
	t.Helper()
	c0, _ := l.counts()
	if !testcluster.WaitFor(60*time.Second, func() bool { c, _ := l.counts(); return c >= c0+n }) {
		t.Fatalf("the load made fewer than %d calls in 60s", n)
	}
}

// checkAcked reads every acknowledged session back, linearizably.
func (l *load) checkAcked(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	ids := append([]string(nil), l.acked...)
	l.mu.Unlock()
	lost := 0
	for _, id := range ids {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		_, err := l.cl.Get(ctx, id, client.WithoutTouch())
		cancel()
		if err != nil {
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged session %.8s...: %v", id, err)
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged sessions lost", lost, len(ids))
	}
	t.Logf("all %d acknowledged sessions read back", len(ids))
}

func failedSince(t *testing.T, l *load, before int, phase string) {
	t.Helper()
	_, failed := l.counts()
	if len(failed) > before {
		for _, e := range failed[before:min(len(failed), before+5)] {
			t.Errorf("%s: %v", phase, e)
		}
		t.Fatalf("%s: %d client calls failed", phase, len(failed)-before)
	}
}

// TestProcessMemberAddRemoveReplace: a fourth server started with --join
// waits; "member add n4" makes it a voter in every group; "member remove
// n4" of the live node fails no client call and the removed node refuses
// requests; after kill -9 of n1, "member replace n1 n5" brings every group
// back to three healthy voters, which survive one more failure.
func TestProcessMemberAddRemoveReplace(t *testing.T) {
	c := startMemberCluster(t)
	n1, n2, n3 := c.Nodes[0], c.Nodes[1], c.Nodes[2]
	l := startLoad(t, c.Addrs(), 4)
	l.waitCalls(t, 50)

	n4, err := c.AddNode("n4")
	if err != nil {
		t.Fatal(err)
	}
	if !testcluster.WaitFor(30*time.Second, func() bool {
		rows, err := memberList(n1.Client)
		for _, r := range rows {
			if err == nil && r.ID == "n4" && r.Health == "alive" {
				return true
			}
		}
		return false
	}) {
		t.Fatal("n4 never seen in gossip")
	}
	// Gossip alone adds nobody.
	rows, _ := memberList(n2.Client)
	for _, r := range rows {
		if r.ID == "n4" && (r.Admitted || r.Groups[0].Suffrage != "none") {
			t.Fatalf("n4 joined by gossip alone: %+v", r)
		}
	}
	_, before := l.counts()
	mustCLI(t, "member", "add", "n4", "--addr", n1.Client)
	waitVoters(t, n2.Client, "n1", "n2", "n3", "n4")
	l.waitCalls(t, 50)
	failedSince(t, l, len(before), "member add n4")

	_, before = l.counts()
	mustCLI(t, "member", "remove", "n4", "--addr", n3.Client)
	waitVoters(t, n2.Client, "n1", "n2", "n3")
	l.waitCalls(t, 50)
	failedSince(t, l, len(before), "member remove n4 (live)")
	var reply string
	if !testcluster.WaitFor(30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		rc, err := resp.Dial(ctx, n4.Client)
		if err != nil {
			reply = err.Error()
			return false
		}
		defer rc.Close()
		v, err := rc.Do(ctx, "SESSION.GET", "x")
		reply = fmt.Sprint(v, err)
		return strings.Contains(reply, "removed from the cluster")
	}) {
		t.Fatalf("the removed n4 does not say it was removed: %s", reply)
	}
	if out, err := cli(t, "member", "add", "n4", "--addr", n1.Client); err == nil || !strings.Contains(err.Error(), "membership change refused") {
		t.Fatalf("re-adding the removed n4 with its old state: %v\n%s", err, out)
	}
	if err := c.Kill(n4); err != nil {
		t.Fatal(err)
	}

	if err := c.Kill(n1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddNode("n5"); err != nil {
		t.Fatal(err)
	}
	if !testcluster.WaitFor(30*time.Second, func() bool {
		_, err := cli(t, "member", "replace", "n1", "n5", "--addr", n2.Client)
		return err == nil // n5 may not be gossiped yet
	}) {
		t.Fatal("member replace n1 n5 never succeeded")
	}
	waitVoters(t, n2.Client, "n2", "n3", "n5")
	out := mustCLI(t, "member", "list", "--addr", n3.Client)
	t.Logf("member list:\n%s", out)

	// One more failure: two of three voters still serve.
	if err := c.Kill(n3); err != nil {
		t.Fatal(err)
	}
	_, before = l.counts()
	l.waitCalls(t, 50)
	l.stop()
	calls, failed := l.counts()
	t.Logf("%d calls, %d failed overall (%d after n3's kill)", calls, len(failed), len(failed)-len(before))
	l.checkAcked(t)
}

// TestProcessRollingRestart: SIGTERM, restart, next node, under a Go
// client load: no call fails and no acknowledged write is lost.
func TestProcessRollingRestart(t *testing.T) {
	c := startMemberCluster(t)
	l := startLoad(t, c.Addrs(), 4)
	l.waitCalls(t, 100)
	for _, nd := range c.Nodes {
		if err := c.Terminate(nd); err != nil {
			t.Fatal(err)
		}
		if err := c.Restart(nd); err != nil {
			t.Fatal(err)
		}
		if err := c.WaitReady(90 * time.Second); err != nil {
			t.Fatal(err)
		}
		l.waitCalls(t, 100)
	}
	l.stop()
	calls, failed := l.counts()
	t.Logf("rolling restart of 3 nodes: %d calls, %d failed", calls, len(failed))
	failedSince(t, l, 0, "rolling restart")
	l.checkAcked(t)
}

// TestProcessRecoverLostQuorum: two of three servers die for good; the
// survivor, recovered offline with "sessionraft recover", serves again
// with every acknowledged session it had.
func TestProcessRecoverLostQuorum(t *testing.T) {
	c := startMemberCluster(t)
	n1 := c.Nodes[0]
	cl, err := client.New(context.Background(), client.Config{Seeds: c.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var ids []string
	for i := range 60 {
		s, err := cl.Create(context.Background(), client.WithField("i", []byte(fmt.Sprint(i))))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	// What the survivor has: every id its own state machine holds.
	var had []string
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rc, err := resp.Dial(ctx, n1.Client)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		v, err := rc.Do(ctx, "SESSION.GET", id, "CONSISTENCY", "stale", "MAXSTALE", "1h", "NOTOUCH")
		if err == nil && v.Err() == nil {
			had = append(had, id)
		}
	}
	rc.Close()
	if len(had) == 0 {
		t.Fatal("the survivor has none of the sessions")
	}
	for _, nd := range c.Nodes[1:] {
		if err := c.Kill(nd); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Kill(n1); err != nil {
		t.Fatal(err)
	}
	out := mustCLI(t, "recover", "--data-dir", n1.DataDir, "--id", "n1", "--peers", "n1="+n1.Raft)
	if !strings.Contains(out, "lost") {
		t.Fatalf("recover does not say what may be lost:\n%s", out)
	}
	t.Logf("recover:\n%s", out)
	if err := c.Restart(n1); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitReady(90 * time.Second); err != nil {
		t.Fatal(err)
	}
	one, err := client.New(context.Background(), client.Config{Seeds: []string{n1.Client}, RequestTimeout: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	for _, id := range had {
		if _, err := one.Get(context.Background(), id, client.WithoutTouch()); err != nil {
			t.Fatalf("session %.8s... the survivor had: %v", id, err)
		}
	}
	if _, err := one.Create(context.Background()); err != nil {
		t.Fatalf("write after recovery: %v", err)
	}
	t.Logf("%d of %d sessions were on the survivor; all served after recovery", len(had), len(ids))
}
