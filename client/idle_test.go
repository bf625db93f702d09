//go:build unix

package client

import (
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessionraft/sessionraft/internal/testcluster"
)

// A node closes client connections that stay idle (--client-idle-timeout,
// 5 minutes by default). The client's connections come back by themselves:
// a call after the close succeeds, never surfacing the closed connection.
func TestReconnectAfterIdleClose(t *testing.T) {
	tc, err := testcluster.Start(testcluster.Options{Nodes: 1, Dir: t.TempDir(),
		Flags: []string{"--client-idle-timeout", "300ms"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(tc.Tail(50))
		}
		_ = tc.Stop()
	})
	addr := tc.Addrs()[0]
	// No topology refresh or watch to keep a connection busy while we
	// wait.
	c := newClient(t, Config{Seeds: tc.Addrs(), RefreshInterval: time.Hour, TopologyWait: -1})
	ctx := testCtx(t)
	s, err := c.Create(ctx, WithSubject("idle"))
	if err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		waitOnlyProbe(t, addr)
		if _, err := c.Get(ctx, s.ID); err != nil {
			t.Fatalf("round %d: read after the idle close: %v", round, err)
		}
		waitOnlyProbe(t, addr)
		if _, err := c.Set(ctx, s.ID, map[string][]byte{"r": b(strconv.Itoa(round))}); err != nil {
			t.Fatalf("round %d: write after the idle close: %v", round, err)
		}
	}
}

var connectedClients = regexp.MustCompile(`connected_clients:(\d+)`)

// waitOnlyProbe waits until the node at addr has closed every client
// connection but the one INFO is asked on.
func waitOnlyProbe(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n := -1
		err := rawDo(addr, func(ctx context.Context, c rueidis.Client) error {
			s, err := c.Do(ctx, c.B().Info().Build()).ToString()
			if m := connectedClients.FindStringSubmatch(s); err == nil && m != nil {
				n, _ = strconv.Atoi(m[1])
			}
			return err
		})
		if err == nil && n == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node kept %d client connections open (err %v)", n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
