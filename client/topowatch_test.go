package client

import (
	"context"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessionraft/sessionraft/internal/testcluster"
)

// The client learns of a leader move from its topology watch, with no
// periodic refresh and no failed request to prompt it: a node other than
// the watched one, leading a group, is paused (SIGSTOP: its connections
// stay open, so nothing fails), and the client's table names the group's
// new leader once the watched node has seen the election.
func TestTopologyWatchFollowsLeaderMove(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and pauses a cluster of its own")
	}
	tc := startOwnCluster(t, testcluster.Options{})
	var (
		mu      sync.Mutex
		watched []string // addresses whose epoch moved, in order
	)
	h := &hooks{watched: func(addr string) {
		mu.Lock()
		watched = append(watched, addr)
		mu.Unlock()
	}}
	// Neither a refresh nor the wait's own timeout can answer within the
	// test: only an epoch move can.
	c := newClient(t, Config{Seeds: tc.Addrs(), RefreshInterval: time.Hour, TopologyWait: 5 * time.Minute, hooks: h})
	moves := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), watched...)
	}
	// The watch's first answer names the node it watches.
	waitUntil(t, 20*time.Second, "the watch's first answer", func() bool { return len(moves()) > 0 })
	watchedAddr := moves()[0]
	// Leaders balance after a start; the watch keeps the table current,
	// so wait until it names a leader on another node.
	var g int
	waitUntil(t, 30*time.Second, "a group led by a node not watched", func() bool {
		tp := c.topo.Load()
		for i, r := range tp.groups {
			if r.leader != "" && r.leader != watchedAddr {
				g = i
				return true
			}
		}
		return false
	})
	victim := tc.ByAddr(c.topo.Load().groups[g].leader)
	before := len(moves())
	if err := tc.Pause(victim); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tc.Resume(victim) })
	waitUntil(t, 30*time.Second, "the client's table to name the group's new leader", func() bool {
		l := c.topo.Load().groups[g].leader
		return l != "" && l != victim.Client
	})
	m := moves()
	if len(m) == before {
		t.Fatal("the table changed without the watch seeing an epoch move")
	}
	for _, a := range m[before:] {
		if a != watchedAddr {
			t.Fatalf("the watch moved from %s to %s with no failure", watchedAddr, a)
		}
	}
}

// Close does not wait for a pending watch: the watch's request is
// abandoned, not waited out (TopologyWait is five minutes here). The
// test waits until the watched node holds one more wait than before the
// client started, so the request is pending when Close runs.
func TestCloseWithPendingWatch(t *testing.T) {
	tc := startOwnCluster(t, testcluster.Options{Nodes: 1})
	addr := tc.Addrs()[0]
	base := blockedOn(t, addr)
	c, err := New(testCtx(t), Config{Seeds: tc.Addrs(), TopologyWait: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 20*time.Second, "the node to hold the watch", func() bool { return blockedOn(t, addr) > base })
	done := make(chan struct{})
	go func() { c.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Close waited for the pending TOPOLOGY WAIT")
	}
}

var blockedClients = regexp.MustCompile(`blocked_clients:(\d+)`)

// blockedOn is the node's blocked_clients (INFO clients): the TOPOLOGY
// WAITs it holds.
func blockedOn(t *testing.T, addr string) int {
	t.Helper()
	n := -1
	err := rawDo(addr, func(ctx context.Context, rc rueidis.Client) error {
		s, err := rc.Do(ctx, rc.B().Info().Section("clients").Build()).ToString()
		if m := blockedClients.FindStringSubmatch(s); err == nil && m != nil {
			n, _ = strconv.Atoi(m[1])
		}
		return err
	})
	if err != nil || n < 0 {
		t.Fatalf("INFO clients on %s: %v", addr, err)
	}
	return n
}
