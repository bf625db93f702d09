package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// gossipAll gives every node of c the gossip view of every node as it is
// now (the in-memory layer has no memberlist); down lists nodes gossip
// reports failed.
func gossipAll(c *memCluster, down ...int) {
	isDown := map[int]bool{}
	for _, i := range down {
		isDown[i] = true
	}
	for i, m := range c.nodes {
		m.gossipSelf()
		m.mu.Lock()
		md := m.self
		m.mu.Unlock()
		for _, n := range c.nodes {
			n.noteMember(md.ID, md, !isDown[i])
		}
	}
}

// unadmit makes node i a fresh data directory: a new incarnation that no
// cluster admitted.
func unadmit(c *memCluster, i int) {
	_ = c.nodes[i].ident.update(func(id *identity) { *id = identity{Incarnation: fmt.Sprintf("fresh-%d", i)} })
}

func suffrageIn(c *memCluster, at int, id string) (raft.ServerSuffrage, bool) {
	servers, err := c.group(at).config()
	if err != nil {
		return 0, false
	}
	s, _, ok := suffrageOf(servers, id)
	return s, ok
}

func memberCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestMemberAddPromotesAfterCatchUp: MEMBER ADD, sent to a follower,
// admits the fresh node and adds it as a non-voter; the leader promotes it
// only once its log has caught up.
func TestMemberAddPromotesAfterCatchUp(t *testing.T) {
	c := newMemCluster(t, 4, func(cfg *Config) { cfg.PromoteStableFor = 0; cfg.PromoteMaxLag = 2 })
	unadmit(c, 3)
	c.bootstrap(3)
	l := c.readyLeader(0, 0, 1, 2)
	for i := range 20 {
		c.mustPropose(l, createCmd(fmt.Sprintf("s%d", i)))
	}
	gossipAll(c)
	c.logs[3].hold(func(*raft.Log) bool { return true }) // m4 cannot catch up yet
	f := (l + 1) % 3
	if err := c.nodes[f].MemberAdd(memberCtx(t), "m4"); err != nil {
		t.Fatalf("MEMBER ADD m4: %v", err)
	}
	if !c.nodes[3].ident.admitted.Load() {
		t.Fatal("m4 not admitted")
	}
	if s, ok := suffrageIn(c, l, "m4"); !ok || s != raft.Nonvoter {
		t.Fatalf("m4 suffrage %v (present %v), want nonvoter", s, ok)
	}
	var p promoter
	for range 5 {
		c.nodes[l].memberTick(memberCtx(t), &p)
	}
	if s, _ := suffrageIn(c, l, "m4"); s != raft.Nonvoter {
		t.Fatalf("m4 promoted to %v before catching up", s)
	}
	c.logs[3].release()
	eventually(t, "m4 promoted once caught up", func() error {
		c.nodes[l].memberTick(memberCtx(t), &p)
		if s, _ := suffrageIn(c, l, "m4"); s != raft.Voter {
			return fmt.Errorf("m4 is %v", s)
		}
		return nil
	})
	if !c.has(3, "s19") {
		t.Fatal("promoted m4 lacks the last write")
	}
}

// TestMemberRemoveMovesLeadershipFirst: removing the leader hands its
// leadership to another voter before the configuration change, and the
// removed node learns it and stops serving.
func TestMemberRemoveMovesLeadershipFirst(t *testing.T) {
	c := newMemCluster(t, 3, nil)
	c.bootstrap(0)
	l := c.readyLeader(0)
	c.mustPropose(l, createCmd("before"))
	gossipAll(c)
	lid := c.nodes[l].cfg.ID
	f := (l + 1) % 3
	if err := c.nodes[f].MemberRemove(memberCtx(t), lid); err != nil {
		t.Fatalf("MEMBER REMOVE %s: %v", lid, err)
	}
	if !c.nodes[l].ident.draining.Load() {
		t.Fatal("the removed leader was not drained")
	}
	nl := c.readyLeader(0, f, (l+2)%3)
	if _, ok := suffrageIn(c, nl, lid); ok {
		t.Fatalf("%s still in the configuration", lid)
	}
	c.mustPropose(nl, createCmd("after"))
	eventually(t, "the removed node to notice", func() error {
		c.nodes[l].noteMembership()
		if !c.nodes[l].ident.removed.Load() {
			return errors.New("not yet")
		}
		return nil
	})
	if err := c.nodes[f].MemberRemove(memberCtx(t), lid); !errors.Is(err, ErrMemberRefused) {
		t.Fatalf("second remove: %v, want ErrMemberRefused", err)
	}
}

// TestMemberReplaceKeepsQuorum: with m1 dead, REPLACE m1 m4 adds m4,
// waits for its promotion, removes m1; the group then has three voters
// and survives another failure.
func TestMemberReplaceKeepsQuorum(t *testing.T) {
	c := newMemCluster(t, 4, func(cfg *Config) { cfg.PromoteStableFor = 20 * time.Millisecond })
	unadmit(c, 3)
	c.bootstrap(3)
	c.readyLeader(0, 0, 1, 2)
	c.isolate(0)
	gossipAll(c, 0)
	ctx, cancel := context.WithCancel(context.Background())
	for _, n := range c.nodes[1:] {
		n.wg.Add(1)
		go func() { defer n.wg.Done(); n.memberLoop(ctx) }()
	}
	t.Cleanup(cancel)
	if err := c.nodes[1].MemberReplace(memberCtx(t), "m1", "m4"); err != nil {
		t.Fatalf("MEMBER REPLACE m1 m4: %v", err)
	}
	l := c.readyLeader(0, 1, 2, 3)
	servers, _ := c.group(l).config()
	var ids []string
	for _, s := range servers {
		if s.Suffrage != raft.Voter {
			t.Fatalf("%s is %v", s.ID, s.Suffrage)
		}
		ids = append(ids, string(s.ID))
	}
	if strings.Join(ids, ",") != "m2,m3,m4" {
		t.Fatalf("voters %v, want m2,m3,m4", ids)
	}
	// One more failure: two of the three voters still commit.
	down := 2
	if l == 2 {
		down = 1
	}
	c.isolate(down)
	var up []int
	for _, i := range []int{1, 2, 3} {
		if i != down {
			up = append(up, i)
		}
	}
	nl := c.readyLeader(0, up...)
	c.mustPropose(nl, createCmd("after-replace"))
}

// TestMemberIncarnationRefused: a wiped node under an id still in the
// cluster, and a removed node with its old state, are refused; a fresh
// data directory refuses raft traffic until admitted.
func TestMemberIncarnationRefused(t *testing.T) {
	c := newMemCluster(t, 4, nil)
	unadmit(c, 3)
	c.bootstrap(3)
	l := c.readyLeader(0, 0, 1, 2)
	if l == 2 {
		// Ask a node that stays a member: m3 is wiped below, and a
		// non-member refuses MEMBER commands (any member routes them to
		// the groups' leaders).
		l = 0
	}

	// m3 comes back wiped: new incarnation, not admitted, still a voter.
	unadmit(c, 2)
	gossipAll(c)
	err := c.nodes[l].MemberAdd(memberCtx(t), "m3")
	if !errors.Is(err, ErrMemberRefused) || !strings.Contains(err.Error(), "MEMBER REMOVE m3 first") {
		t.Fatalf("add of a wiped present id: %v", err)
	}
	// The fresh m4 answers no raft request before it is admitted.
	var resp raft.AppendEntriesResponse
	err = c.trans[l].AppendEntries("m4", c.addrs[3], &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ID: []byte("x"), Addr: []byte(c.addrs[l])}, Term: 1}, &resp)
	if err == nil || !strings.Contains(err.Error(), "not been admitted") {
		t.Fatalf("append to an unadmitted node: %v", err)
	}
	// A data directory that was a member and is in no group now (it was
	// removed while down) cannot come back with its state.
	_ = c.nodes[3].ident.update(func(id *identity) { id.Admitted, id.Member = true, true })
	gossipAll(c)
	err = c.nodes[l].MemberAdd(memberCtx(t), "m4")
	if !errors.Is(err, ErrMemberRefused) || !strings.Contains(err.Error(), "earlier membership") {
		t.Fatalf("add of a removed data directory: %v", err)
	}
	// A removed one that knows it is refused too.
	_ = c.nodes[3].ident.update(func(id *identity) { id.Removed = true })
	gossipAll(c)
	if err := c.nodes[l].MemberAdd(memberCtx(t), "m4"); !errors.Is(err, ErrMemberRefused) {
		t.Fatalf("add of a removed node: %v", err)
	}
}

// TestStatsRoundTrip: the stat reply decodes to what was encoded, and
// junk is refused.
func TestStatsRoundTrip(t *testing.T) {
	in := []groupStat{{LastIndex: 7, Applied: 5, LastContact: -1, Leader: true}, {LastIndex: 9, Applied: 9, LastContact: 120 * time.Millisecond}}
	out, err := decodeStats(appendStats(nil, in))
	if err != nil || fmt.Sprint(out) != fmt.Sprint(in) {
		t.Fatalf("round trip: %v, %v", out, err)
	}
	for _, b := range [][]byte{nil, {5}, append(appendStats(nil, in), 0)} {
		if _, err := decodeStats(b); err == nil {
			t.Fatalf("decodeStats(%x) accepted junk", b)
		}
	}
}

func FuzzDecodeStats(f *testing.F) {
	f.Add(appendStats(nil, []groupStat{{LastIndex: 1}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		sts, err := decodeStats(b)
		if err == nil && len(sts) > maxGroups {
			t.Fatal("too many groups")
		}
	})
}

func FuzzDecodeMemberOp(f *testing.F) {
	f.Add(appendMemberOp(nil, memberAdmit, "n4", "0123abcd"))
	f.Add([]byte{5, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		op, id, arg, err := decodeMemberOp(b)
		if err != nil {
			return
		}
		if got := appendMemberOp(nil, op, id, arg); string(got) != string(b) && len(id) < 128 {
			// Uvarint accepts non-minimal encodings; what it read must
			// re-encode to the same op, id and arg.
			op2, id2, arg2, err2 := decodeMemberOp(got)
			if err2 != nil || op2 != op || id2 != id || arg2 != arg {
				t.Fatalf("round trip of %x: %v %q %q", b, op2, id2, arg2)
			}
		}
	})
}

// TestIdentityFile: a data directory gets one incarnation, kept across
// loads; a corrupt identity file is refused with a clear error.
func TestIdentityFile(t *testing.T) {
	dir := t.TempDir()
	var a, b identityState
	if err := a.load(dir, false); err != nil {
		t.Fatal(err)
	}
	if a.admitted.Load() || a.get().Incarnation == "" {
		t.Fatalf("fresh identity %+v", a.get())
	}
	if err := a.update(func(i *identity) { i.Admitted, i.Founders = true, map[string]string{"n1": "x"} }); err != nil {
		t.Fatal(err)
	}
	if err := b.load(dir, false); err != nil {
		t.Fatal(err)
	}
	if b.get().Incarnation != a.get().Incarnation || !b.admitted.Load() || b.get().Founders["n1"] != "x" {
		t.Fatalf("reloaded %+v, saved %+v", b.get(), a.get())
	}
	if err := os.WriteFile(filepath.Join(dir, identityFile), []byte("{"), 0o640); err != nil {
		t.Fatal(err)
	}
	var c identityState
	if err := c.load(dir, true); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("corrupt identity: %v", err)
	}
}

// TestDeadServerCleanup: a voter gossip reports failed for longer than
// DeadServerCleanup is removed while MinVoters remain afterwards, and no
// further.
func TestDeadServerCleanup(t *testing.T) {
	c := newMemCluster(t, 4, func(cfg *Config) { cfg.DeadServerCleanup = time.Nanosecond; cfg.MinVoters = 3 })
	c.bootstrap(0)
	l := c.readyLeader(0)
	var dead []int
	for i := range c.nodes {
		if i != l && len(dead) < 2 {
			dead = append(dead, i)
		}
	}
	gossipAll(c, dead...)
	var p promoter
	c.nodes[l].memberTick(memberCtx(t), &p)
	servers, _ := c.group(l).config()
	if len(servers) != 3 {
		t.Fatalf("%d servers after one cleanup round, want 3 (one dead voter removed)", len(servers))
	}
	for range 3 {
		c.nodes[l].memberTick(memberCtx(t), &p)
	}
	servers, _ = c.group(l).config()
	if len(servers) != 3 {
		t.Fatalf("%d servers: the cleanup went below MinVoters", len(servers))
	}
}
