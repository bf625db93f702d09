package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/transport/mux"
	"github.com/sessionraft/sessionraft/transport/tlsconf"
	"github.com/sessionraft/sessionraft/transport/wire"
)

// TestFollowerReads: a linearizable read sent to a follower right after a
// write was acknowledged sees that write, whether it is a SESSION.GET or
// a Redis GET, and the follower serves it from its own state through a
// read index from the leader, not by forwarding the read. The follower
// usually has not applied the write yet when its read index comes back
// (it learns of the commit with the leader's next AppendEntries), so the
// reads also wait for the index to apply. With three voters the leader
// gives the index on the follower's term, without a leadership round.
func TestFollowerReads(t *testing.T) {
	c, id, gid, lead := followerReadCluster(t)
	lc := &clientT{t: t, c: c.client(lead)}
	followers := []int{(lead + 1) % 3, (lead + 2) % 3}
	// A string key in the same group, for GET.
	key := ""
	for i := 0; key == ""; i++ {
		if k := fmt.Sprintf("fr-key-%d", i); c.node(0).ring.Group(k) == gid {
			key = k
		}
	}
	forwardedBefore := make([]float64, 3)
	for _, f := range followers {
		forwardedBefore[f] = forwardedReads(t, c.node(f))
	}
	lg := c.node(lead).groups[gid]
	rounds, byTerm := lg.readRounds.Load(), lg.readIndexByTerm.Load()

	for i := 1; i <= 40; i++ {
		want := fmt.Sprint(i)
		ver := lc.ok("SESSION.SET", id, "v", want).Int
		lc.ok("SET", key, want)
		f := followers[i%2]
		fc := &clientT{t: t, c: c.client(f)}
		if got, _ := recordVersion(fc.ok("SESSION.GET", id, "NOTOUCH")); got != ver {
			t.Fatalf("round %d: SESSION.GET on follower %d after version %d was acknowledged: version %d", i, f, ver, got)
		}
		if got := fc.ok("GET", key).Str; got != want {
			t.Fatalf("round %d: GET on follower %d after the write was acknowledged: %q, want %q", i, f, got, want)
		}
	}

	for _, f := range followers {
		if got := forwardedReads(t, c.node(f)); got != forwardedBefore[f] {
			t.Errorf("follower %d forwarded %v reads; its linearizable reads should use a read index", f, got-forwardedBefore[f])
		}
		fams, _ := scrapeNode(t, c.node(f))
		if n, _ := metricSum(fams, "sessionraft_forwarded_requests_total", map[string]string{"kind": "read-index"}); n < 1 {
			t.Errorf("follower %d asked the leader for %v read indexes", f, n)
		}
	}
	// The followers' rounds went in read cycles (readcycles.go).
	for _, f := range followers {
		if c.node(f).cycles.parts.Load() == 0 {
			t.Errorf("follower %d sent no read-cycle parts", f)
		}
	}
	if got := lg.readRounds.Load() - rounds; got != 0 {
		t.Errorf("the leader ran %d leadership rounds for follower reads, want none", got)
	}
	if got := lg.readIndexByTerm.Load() - byTerm; got < 80 {
		t.Errorf("the leader gave %d read indexes on the follower's term for 80 reads", got)
	}
}

// TestReadIndexRequestsBounded: a leader holding maxReadIndexWaiting
// read-index requests for its rounds refuses the next that needs a round
// with BUSY at once (a deferred method counts against no bound of the
// mux), while a follower's request that its term confirms waits for
// nothing and is served; a request served gives its slot back.
func TestReadIndexRequestsBounded(t *testing.T) {
	c, id, gid, lead := followerReadCluster(t)
	g := c.node(lead).groups[gid]
	leaderAddr := c.node(lead).self.Raft
	m := peerMux(t, tlsconf.Files{})
	ask := func() ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return m.Call(ctx, leaderAddr, rpcReadIndex, binary.AppendUvarint(nil, uint64(gid)))
	}

	g.readIndexWaiting.Store(maxReadIndexWaiting) // as if that many were waiting
	_, err := ask()
	var re *mux.RemoteError
	if !errors.As(err, &re) || re.Code != wire.CodeBusy {
		t.Fatalf("read-index request past the bound: %v, want a BUSY remote error", err)
	}
	follower := (lead + 1) % 3
	before := forwardedReads(t, c.node(follower))
	(&clientT{t: t, c: c.client(follower)}).ok("SESSION.GET", id, "NOTOUCH")
	if got := forwardedReads(t, c.node(follower)); got != before {
		t.Errorf("follower forwarded %v reads; its term confirms the leader without a round, so the bound should not refuse it", got-before)
	}

	g.readIndexWaiting.Store(0)
	out, err := ask()
	if err != nil {
		t.Fatalf("read-index request: %v", err)
	}
	if index, k := binary.Uvarint(out); k != len(out) || index < 1 {
		t.Fatalf("read index %d (%d of %d bytes)", index, k, len(out))
	}
	if n := g.readIndexWaiting.Load(); n != 0 {
		t.Fatalf("%d read-index requests still counted as waiting after the answer", n)
	}
}

// followerReadCluster starts three nodes with /metrics and no leadership
// balancing, creates a session (field v = "0") and returns the cluster,
// the session's id and group, and the index of the group's ready leader.
func followerReadCluster(t *testing.T) (c *testCluster, id string, gid, lead int) {
	t.Helper()
	c = startCluster(t, 3, func(cfg *Config) {
		cfg.HTTPAddr = "127.0.0.1:0"    // for /metrics
		cfg.BalanceInterval = time.Hour // leadership stays where it is
	})
	c.waitLeaders()
	setup := &clientT{t: t, c: c.client(0)}
	id = asMap(t, setup.ok("SESSION.CREATE", "TTL", "1h", "FIELDS", "v", "0"))["id"].Str
	gid = c.node(0).ring.Group(id)
	return c, id, gid, c.readyLeader(gid)
}

// TestReadIndexByTermNeedsAVoterInTerm: the leader gives a read index
// without a round only to a request naming a voter of the group, sent
// from that voter's configured address, whose term is no later than its
// own; anything else waits for a round.
func TestReadIndexByTermNeedsAVoterInTerm(t *testing.T) {
	c, _, gid, lead := followerReadCluster(t)
	g := c.node(lead).groups[gid]
	leaderAddr := c.node(lead).self.Raft
	fm := c.node((lead + 1) % 3).mux // the follower's own: its address
	other := peerMux(t, tlsconf.Files{})
	follower := c.node((lead + 1) % 3).cfg.ID
	term := g.raft.CurrentTerm()
	for _, tc := range []struct {
		name   string
		via    *mux.Mux
		term   uint64
		from   string
		byTerm bool
	}{
		{"a voter in the leader's term", fm, term, follower, true},
		{"a voter in an earlier term", fm, term - 1, follower, true},
		{"a voter in a later term", fm, term + 1, follower, false},
		{"a voter's id from another address", other, term, follower, false},
		{"not a voter", fm, term, "stranger", false},
		{"the leader itself", fm, term, c.node(lead).cfg.ID, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := binary.AppendUvarint(nil, uint64(gid))
			req = binary.AppendUvarint(req, tc.term)
			req = append(req, tc.from...)
			rounds, byTerm := g.readRounds.Load(), g.readIndexByTerm.Load()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			out, err := tc.via.Call(ctx, leaderAddr, rpcReadIndex, req)
			if g.raft.CurrentTerm() != term {
				t.Skip("the leader changed during the test (a loaded machine)")
			}
			if tc.term > term {
				// The round then finds no voter in a later term (the
				// claim was false) and answers; either way no shortcut.
				if g.readIndexByTerm.Load() != byTerm {
					t.Fatal("a follower in a later term got a read index on its term")
				}
				return
			}
			if err != nil {
				t.Fatalf("read-index request: %v", err)
			}
			if index, k := binary.Uvarint(out); k != len(out) || index < 1 {
				t.Fatalf("read index %d (%d of %d bytes)", index, k, len(out))
			}
			gotByTerm := g.readIndexByTerm.Load() - byTerm
			gotRounds := g.readRounds.Load() - rounds
			if tc.byTerm && (gotByTerm != 1 || gotRounds != 0) || !tc.byTerm && (gotByTerm != 0 || gotRounds < 1) {
				t.Fatalf("%d answers on the term, %d rounds; want the term to answer: %v", gotByTerm, gotRounds, tc.byTerm)
			}
		})
	}
	// A follower falls back to the group alone when a leader refuses
	// its term with BADARG (an older version does, as it does this
	// malformed one).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := fm.Call(ctx, leaderAddr, rpcReadIndex, append(binary.AppendUvarint(nil, uint64(gid)), 0x80)) // a cut varint
	var re *mux.RemoteError
	if !errors.As(err, &re) || re.Code != wire.CodeBadArg {
		t.Fatalf("a malformed read-index request: %v, want a BADARG remote error", err)
	}
}
