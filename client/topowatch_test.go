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

var blockedClients = regexp.MustCompile(`blocked_clients:(\d+)`)

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
	c := newClient(t, Config{Seeds: tc.Addrs(), RefreshInterval: time.Hour, hooks: h})
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
// abandoned, not waited out (TopologyWait is five minutes here).
func TestCloseWithPendingWatch(t *testing.T) {
	answered := make(chan struct{}, 1)
	h := &hooks{watched: func(string) {
		select {
		case answered <- struct{}{}:
		default:
		}
	}}
	ctx := testCtx(t)
	c, err := New(ctx, Config{Seeds: shared.Addrs(), TopologyWait: 5 * time.Minute, hooks: h})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-answered: // the next request, the one left pending, follows
	case <-ctx.Done():
		c.Close()
		t.Fatal("the watch never answered")
	}
	waitUntil(t, 20*time.Second, "a node to hold the watch", func() bool {
		held := 0
		for _, a := range shared.Addrs() {
			_ = rawDo(a, func(ctx context.Context, rc rueidis.Client) error {
				s, err := rc.Do(ctx, rc.B().Info().Section("clients").Build()).ToString()
				if m := blockedClients.FindStringSubmatch(s); err == nil && m != nil {
					n, _ := strconv.Atoi(m[1])
					held += n
				}
				return err
			})
		}
		return held > 0
	})
	done := make(chan struct{})
	go func() { c.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Close waited for the pending TOPOLOGY WAIT")
	}
}
