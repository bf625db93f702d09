package node

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/transport/wire"
)

func TestFlagsUnderstood(t *testing.T) {
	servers := []raft.Server{{ID: "a", Address: "A"}, {ID: "b", Address: "B"}, {ID: "c", Address: "C", Suffrage: raft.Nonvoter}}
	mem := func(id, addr string, proto int) member {
		return member{meta: meta{ID: id, Raft: addr, Proto: proto}, Alive: true}
	}
	for _, tc := range []struct {
		name    string
		ms      []member
		ok      bool
		holdout string
	}{
		{"all new", []member{mem("b", "B", 2), mem("c", "C", 2)}, true, ""},
		{"newer than us", []member{mem("b", "B", 3), mem("c", "C", 2)}, true, ""},
		{"a non-voter is old", []member{mem("b", "B", 2), mem("c", "C", 0)}, false, "c"},
		{"one never heard of", []member{mem("b", "B", 2)}, false, "c"},
		{"gossip at another address only", []member{mem("b", "B", 2), mem("c", "X", 2)}, false, "c"},
		{"a second entry for the id says old", []member{mem("b", "B", 2), mem("c", "C", 2), mem("c", "X", 1)}, false, "c"},
		{"dead but last seen new", []member{{meta: meta{ID: "b", Raft: "B", Proto: 2}}, mem("c", "C", 2)}, true, ""},
	} {
		ok, holdout := flagsUnderstood(servers, meta{ID: "a", Proto: envelopeProto}, tc.ms)
		if ok != tc.ok || holdout != tc.holdout {
			t.Errorf("%s: got %v %q, want %v %q", tc.name, ok, holdout, tc.ok, tc.holdout)
		}
	}
	if ok, _ := flagsUnderstood(servers[:1], meta{ID: "a", Proto: envelopeProto}, nil); !ok {
		t.Error("a one-server group must use the flags")
	}
	if ok, holdout := flagsUnderstood(servers[:1], meta{ID: "a"}, nil); ok || holdout != "a" {
		t.Error("a node posing as old wrote the flags itself")
	}
}

// TestEnvelopeGateRollingUpgrade: while one member gossips that it
// understands only version 1 entries (as a node of the previous release
// does, by gossiping no Proto), every group leader writes version 1
// entries, and a failed command with a REQID is remembered as before;
// once every member reports version 2, the leaders write the flag and the
// failure is forgotten.
func TestEnvelopeGateRollingUpgrade(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) { cfg.RequestTimeout = 8 * time.Second })
	// The old node poses as one: it gossips proto 1 and, like a real old
	// node, writes no flags when it leads (flagsUnderstood reads its own
	// report too).
	old := c.node(2)
	report := func(proto int) {
		old.mu.Lock()
		old.self.Proto = proto
		old.mu.Unlock()
		old.gossipSelf()
	}
	waitGates := func(want bool) {
		t.Helper()
		// Every node's, not only the leaders': leadership may move
		// (the balancer) between this wait and the writes.
		waitFor(t, 20*time.Second, fmt.Sprintf("every group's gate on every node to be %v", want), func() error {
			for i := range 3 {
				for _, g := range c.node(i).groups {
					if g.flagsOK.Load() != want {
						return fmt.Errorf("node %d group %d: flags %v", i, g.id, g.flagsOK.Load())
					}
				}
			}
			return nil
		})
	}
	// maxEnvelope is the highest envelope version among the entries with
	// commands that every node's group gid holds after index from.
	maxEnvelope := func(gid int, from uint64) byte {
		t.Helper()
		var v byte
		for i := range 3 {
			g := c.node(i).groups[gid]
			last, err := g.layer.logs.LastIndex()
			if err != nil {
				t.Fatal(err)
			}
			for idx := from + 1; idx <= last; idx++ {
				var l raft.Log
				if err := g.layer.logs.GetLog(idx, &l); err != nil || l.Type != raft.LogCommand || len(l.Data) < 2 || l.Data[0] != byte(fsm.CmdBatch) {
					continue
				}
				b, err := fsm.DecodeBatch(l.Data)
				if err != nil {
					t.Fatalf("node %d index %d: %v", i, idx, err)
				}
				if len(b.Cmds) > 0 {
					v = max(v, l.Data[1])
				}
			}
		}
		return v
	}
	cl := &clientT{t: t, c: c.client(0)}
	// run fails a REQID'd SET of a missing session, creates the session
	// and retries: it reports whether the retry replayed the failure.
	run := func(id string) (replayed bool, gid int, from uint64) {
		t.Helper()
		gid = c.node(0).ring.Group(id)
		from = c.node(0).groups[gid].rfsm.applied.Load()
		if code := errCode(cl.do("SESSION.SET", id, "REQID", "r-"+id, "a", "1")); code != wire.CodeNotFound {
			t.Fatalf("set of a missing session: %q", code)
		}
		cl.ok("SESSION.CREATE", "ID", id)
		return errCode(cl.do("SESSION.SET", id, "REQID", "r-"+id, "a", "1")) == wire.CodeNotFound, gid, from
	}

	waitGates(true)
	report(1)
	waitGates(false)
	replayed, gid, from := run("during-upgrade")
	if !replayed {
		t.Fatal("with an old member, a failed REQID was forgotten (the flag was written)")
	}
	if v := maxEnvelope(gid, from); v != fsm.EnvelopeVersion {
		t.Fatalf("with an old member, entries of envelope version %d were written", v)
	}

	report(envelopeProto)
	waitGates(true)
	replayed, gid, from = run("after-upgrade")
	if replayed {
		t.Fatal("with every member upgraded, a failed REQID was still remembered")
	}
	if v := maxEnvelope(gid, from); v != fsm.EnvelopeFlagsVersion {
		t.Fatalf("with every member upgraded, the newest envelope version written is %d", v)
	}
}
