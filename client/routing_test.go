//go:build unix

package client

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/redis/rueidis"

	"github.com/sessionraft/sessionraft/transport/wire"
)

// TestRoutingAgreesWithServer checks that the client maps ids to groups
// exactly as the server does: by asking the server where it stored
// sessions, and by comparing the client's routing function with a ring
// built from the group count TOPOLOGY reports, over 100k random ids.
func TestRoutingAgreesWithServer(t *testing.T) {
	c := newClient(t, Config{})
	ctx := testCtx(t)
	r, err := rawTopology(shared.Nodes[0].Client)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := wire.NewRing(len(r.groups), wire.DefaultVNodes)
	if err != nil {
		t.Fatal(err)
	}
	tp := c.topo.Load()
	for range 100_000 {
		id := randomToken()
		if g, want := tp.group(id), ring.Group(id); g != want {
			t.Fatalf("id %q: client routes to group %d, a ring from TOPOLOGY says %d", id, g, want)
		}
	}

	// Where the server really put sessions: 300 with server-made ids (sent
	// to every node in turn, so every node's create path is covered) and
	// 60 made by the client. LIST ... GROUP g lists group g's own state.
	subject := "routing-" + randomToken()
	want := map[string]bool{}
	for i := range 300 {
		addr := shared.Nodes[i%len(shared.Nodes)].Client
		err := rawDo(addr, func(ctx context.Context, rc rueidis.Client) error {
			id, err := rc.Do(ctx, rc.B().Arbitrary("SESSION.CREATE").Args("SUBJECT", subject).Build()).AsStrMap()
			want[id["id"]] = true
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for range 60 {
		s, err := c.Create(ctx, WithSubject(subject))
		if err != nil {
			t.Fatal(err)
		}
		want[s.ID] = true
	}
	perGroup := make([]int, len(r.groups))
	seen := 0
	for g := range r.groups {
		addr := shared.Nodes[rand.IntN(len(shared.Nodes))].Client
		err := rawDo(addr, func(ctx context.Context, rc rueidis.Client) error {
			arr, err := rc.Do(ctx, rc.B().Arbitrary("SESSION.LIST").Args(subject, "GROUP", fmt.Sprint(g)).Build()).ToArray()
			if err != nil {
				return err
			}
			for i := range arr {
				s, err := parseSession(&arr[i])
				if err != nil {
					return err
				}
				if !want[s.ID] {
					t.Errorf("group %d lists unknown session %s", g, s.ID)
				}
				if cg := tp.group(s.ID); cg != g {
					t.Errorf("session %s is stored in group %d, the client routes it to %d", s.ID, g, cg)
				}
				perGroup[g]++
				seen++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if seen != len(want) {
		t.Fatalf("groups list %d of the %d sessions", seen, len(want))
	}
	t.Logf("sessions per group: %v", perGroup)
}

// TestCreateGoesToLeaders checks that Create is served by the node that
// leads the new session's group (no forwarding hop).
func TestCreateGoesToLeaders(t *testing.T) {
	log, h := newServedLog()
	c := newClient(t, Config{hooks: h})
	ctx := testCtx(t)
	for range 30 {
		s, err := c.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tp := c.topo.Load()
		if got, leader := log.counts("create"), tp.groups[tp.group(s.ID)].leader; got[leader] == 0 {
			t.Fatalf("create of %s (group %d) served by %v, its leader is %s", s.ID, tp.group(s.ID), got, leader)
		}
		log.reset()
	}
}
