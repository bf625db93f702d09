package node

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// bootstrapRace sets up the bootstrap race: three fresh data directories
// started with --bootstrap-expect 3 all see each other; m1 and m2 run
// maybeBootstrap first and bootstrap the cluster with all three; m3 runs
// it only after gossip says they hold raft state, so it does not
// bootstrap (it must not: a second, different bootstrap could split the
// cluster) and its data directory is never admitted by a bootstrap. It
// returns the cluster and the index of m1/m2's leader, once it has
// committed a write.
func bootstrapRace(t *testing.T) (*memCluster, int) {
	t.Helper()
	c := newMemCluster(t, 3, func(cfg *Config) {
		cfg.BootstrapExpect = 3
		cfg.DataDir = t.TempDir() // the bootstrap marker file
	})
	for i := range c.nodes {
		unadmit(c, i)
	}
	gossipAll(c)
	c.nodes[0].maybeBootstrap()
	c.nodes[1].maybeBootstrap()
	for i := range 2 {
		if !c.nodes[i].ident.admitted.Load() || len(c.nodes[i].ident.get().Founders) != 3 {
			t.Fatalf("m%d after bootstrapping: %+v", i+1, c.nodes[i].ident.get())
		}
	}
	gossipAll(c) // now m3 sees that m1 and m2 hold state
	c.nodes[2].maybeBootstrap()
	if has, _ := c.group(2).hasState(); has || c.nodes[2].ident.admitted.Load() {
		t.Fatalf("m3 bootstrapped after seeing the others' state (state %v, admitted %v)", has, c.nodes[2].ident.admitted.Load())
	}
	l := c.readyLeader(0, 0, 1)
	c.mustPropose(l, createCmd("before-admission"))
	return c, l
}

// TestBootstrapRaceFounderAdmitted: the leader admits the founder that
// did not bootstrap itself (admitFounders, run by memberTick), which then
// catches up and votes: the cluster is back to three working voters
// instead of two and one that refuses every raft request forever (one
// failure away from an outage, and MEMBER ADD refuses an id that is
// still in the configuration).
func TestBootstrapRaceFounderAdmitted(t *testing.T) {
	c, l := bootstrapRace(t)
	var p promoter
	eventually(t, "m3 admitted by the leader", func() error {
		c.nodes[l].memberTick(memberCtx(t), &p)
		if !c.nodes[2].ident.admitted.Load() {
			return errors.New("m3 not admitted")
		}
		return nil
	})
	eventually(t, "m3 to catch up", func() error {
		if !c.has(2, "before-admission") {
			return errors.New("m3 lacks the write made before its admission")
		}
		return nil
	})
	// m3 now counts: with the leader's peer cut off, m3 and the other
	// founder elect a leader and commit.
	c.isolate(l)
	other := 1 - l
	nl := c.readyLeader(0, other, 2)
	c.mustPropose(nl, createCmd("after-admission"))
}

// TestBootstrapRaceWipedFounderRefused: a founder whose data directory
// was wiped since the bootstrap (a new incarnation under its id) is not
// admitted by the founders' record: the node that voted in the first
// configuration is gone, and the new one must be removed and added again.
func TestBootstrapRaceWipedFounderRefused(t *testing.T) {
	c, l := bootstrapRace(t)
	_ = c.nodes[2].ident.update(func(id *identity) { *id = identity{Incarnation: "wiped-3"} })
	gossipAll(c)
	var p promoter
	for range 5 {
		c.nodes[l].memberTick(memberCtx(t), &p)
	}
	if c.nodes[2].ident.admitted.Load() {
		t.Fatal("a wiped founder was admitted by its old record")
	}
	if got := c.nodes[l].ident.get().Founders["m3"]; got != fmt.Sprintf("fresh-%d", 2) {
		t.Fatalf("the leader's record of m3's incarnation: %q", got)
	}
}

// TestMemberAddRefusedByNonMember: MEMBER ADD sent to a server that is not
// a member itself (a fresh data directory, as a wiped voter has) is
// refused at once, and that server stays unadmitted: it cannot admit
// itself by asking itself.
func TestMemberAddRefusedByNonMember(t *testing.T) {
	c := newMemCluster(t, 4, nil)
	unadmit(c, 3)
	c.bootstrap(3)
	c.readyLeader(0, 0, 1, 2)
	gossipAll(c)
	for name, op := range map[string]func() error{
		"ADD m4":        func() error { return c.nodes[3].MemberAdd(memberCtx(t), "m4") },
		"REMOVE m1":     func() error { return c.nodes[3].MemberRemove(memberCtx(t), "m1") },
		"REPLACE m1 m4": func() error { return c.nodes[3].MemberReplace(memberCtx(t), "m1", "m4") },
	} {
		if err := op(); !errors.Is(err, ErrMemberRefused) || !strings.Contains(err.Error(), "not a member") {
			t.Errorf("MEMBER %s on the unadmitted m4: %v, want a refusal", name, err)
		}
	}
	if c.nodes[3].ident.admitted.Load() {
		t.Fatal("m4 admitted itself")
	}
	if s, ok := suffrageIn(c, 0, "m1"); !ok || s != raft.Voter {
		t.Fatalf("m1 is %v (present %v) after refused changes", s, ok)
	}
	// A member still does it.
	if err := c.nodes[0].MemberAdd(memberCtx(t), "m4"); err != nil {
		t.Fatalf("MEMBER ADD m4 on m1: %v", err)
	}
}
