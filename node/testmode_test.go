package node

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/transport/resp"
	"github.com/sessionraft/sessionraft/transport/wire"
)

// TestDebugCommandsRefusedOutsideTestMode: the hooks do not exist unless
// the node runs in test mode.
func TestDebugCommandsRefusedOutsideTestMode(t *testing.T) {
	h := &handler{n: &Node{cfg: Config{TestMode: false}}}
	for name := range testCommands {
		if _, ok := h.lookupCommand(name); ok {
			t.Errorf("%s is available outside test mode", name)
		}
		if _, ok := commands[name]; ok {
			t.Errorf("%s is in the production command table", name)
		}
	}
	h.n.cfg.TestMode = true
	for name := range testCommands {
		if _, ok := h.lookupCommand(name); !ok {
			t.Errorf("%s is missing in test mode", name)
		}
	}
}

// TestDebugHooks exercises each test-mode hook on a real 3-node cluster.
func TestDebugHooks(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) { cfg.Groups = 1 })
	conns := []*resp.Client{c.client(0), c.client(1), c.client(2)}
	var cls []*clientT
	sub := func(t *testing.T) { // clients that fail the subtest, not its parent
		cls = []*clientT{{t: t, c: conns[0]}, {t: t, c: conns[1]}, {t: t, c: conns[2]}}
	}

	t.Run("clock", func(t *testing.T) {
		sub(t)
		// Skew a follower: a leader stamps its clock on every entry, so a
		// skewed leader would move the log clock and expire the session
		// on every node (as it must), which is not what this checks.
		skewed := 0
		for skewed < 2 && c.node(skewed).groups[0].isLeader() {
			skewed++
		}
		cl := cls[skewed]
		if code := errCode(cl.do("DEBUG.CLOCK", "OFFSET", "soon")); code != wire.CodeBadArg {
			t.Fatalf("bad offset: code %q", code)
		}
		// Created before the skew, so whichever node leads stamps true time.
		id := asMap(t, cls[1].ok("SESSION.CREATE", "TTL", "1m"))["id"].Str
		cl.ok("DEBUG.CLOCK", "OFFSET", "3600000")
		if v := cl.ok("DEBUG.CLOCK", "GET"); v.Int != 3600000 {
			t.Fatalf("DEBUG.CLOCK GET = %d", v.Int)
		}
		if d := time.Duration(c.node(skewed).now() - time.Now().UnixNano()); d < 59*time.Minute || d > 61*time.Minute {
			t.Fatalf("now() is %v ahead, want 1h", d)
		}
		// The session (TTL 1m) is already expired on the skewed node's
		// clock (stale read served locally), but not on the others.
		waitFor(t, 5*time.Second, "skewed node hides the session", func() error {
			if code := errCode(cl.do("SESSION.GET", id, "CONSISTENCY", "stale", "MAXSTALE", "2h", "NOTOUCH")); code != wire.CodeNotFound {
				return fmt.Errorf("code %q", code)
			}
			return nil
		})
		cl.ok("DEBUG.CLOCK", "OFFSET", "0")
		waitFor(t, 5*time.Second, "unskewed node serves the session", func() error {
			return cl.do("SESSION.GET", id, "CONSISTENCY", "stale", "NOTOUCH").Err()
		})
	})

	t.Run("fault+unsafe", func(t *testing.T) {
		sub(t)
		// Isolate a follower with DEBUG.FAULT on both sides.
		victim := -1
		for i := 0; i < 3; i++ {
			if !c.node(i).groups[0].isLeader() {
				victim = i
				break
			}
		}
		id := asMap(t, cls[victim].ok("SESSION.CREATE", "TTL", "1h", "FIELDS", "v", "old"))["id"].Str
		waitFor(t, 5*time.Second, "victim applied the create", func() error {
			return cls[victim].do("SESSION.GET", id, "CONSISTENCY", "stale", "NOTOUCH").Err()
		})
		if code := errCode(cls[0].do("DEBUG.FAULT", "BLOCK", "x", "sideways")); code != wire.CodeBadArg {
			t.Fatalf("bad direction: code %q", code)
		}
		for i := 0; i < 3; i++ {
			if i == victim {
				continue
			}
			cls[i].ok("DEBUG.FAULT", "BLOCK", c.node(victim).self.Raft, "both")
			cls[victim].ok("DEBUG.FAULT", "BLOCK", c.node(i).self.Raft, "both")
		}
		if in, out := c.node(victim).mux.Faults().Blocked(c.node((victim + 1) % 3).self.Raft); !in || !out {
			t.Fatalf("Blocked = %v, %v", in, out)
		}
		other := cls[(victim+1)%3]
		other.ok("SESSION.SET", id, "v", "new")
		// Safe: the isolated node cannot serve a linearizable read.
		if v := cls[victim].do("SESSION.GET", id, "NOTOUCH"); v.Err() == nil {
			t.Fatalf("isolated node served a linearizable read: %v", v)
		}
		// Unsafe: it serves its stale local state.
		cls[victim].ok("DEBUG.UNSAFE", "READS", "on")
		rec := asMap(t, cls[victim].ok("SESSION.GET", id, "NOTOUCH"))
		if got := asMap(t, rec["fields"])["v"].Str; got != "old" {
			t.Fatalf("unsafe read on the isolated node = %q, want the stale %q", got, "old")
		}
		cls[victim].ok("DEBUG.UNSAFE", "READS", "off")
		cls[victim].ok("DEBUG.UNSAFE", "EXPIRY", "on")
		if !c.node(victim).test.unsafeExpiry.Load() {
			t.Fatal("DEBUG.UNSAFE EXPIRY on did not turn the mode on")
		}
		cls[victim].ok("DEBUG.UNSAFE", "EXPIRY", "off")
		if code := errCode(cls[victim].do("DEBUG.UNSAFE", "WRITES", "on")); code != wire.CodeBadArg {
			t.Fatalf("DEBUG.UNSAFE WRITES: code %q", code)
		}
		for i := 0; i < 3; i++ {
			cls[i].ok("DEBUG.FAULT", "CLEAR")
		}
		waitFor(t, 15*time.Second, "healed node serves the new value", func() error {
			v := cls[victim].do("SESSION.GET", id, "NOTOUCH")
			if err := v.Err(); err != nil {
				return err
			}
			if got := asMap(t, asMap(t, v)["fields"])["v"].Str; got != "new" {
				return fmt.Errorf("got %q", got)
			}
			return nil
		})
	})

	t.Run("transfer", func(t *testing.T) {
		sub(t)
		// Leadership may still be settling after the partition above.
		old := -1
		waitFor(t, 10*time.Second, "a leader to transfer from", func() error {
			for i := 0; i < 3; i++ {
				if c.node(i).groups[0].isLeader() {
					if code := errCode(cls[(i+1)%3].do("DEBUG.TRANSFER", "0")); code == "" {
						t.Fatal("a follower transferred leadership")
					}
					if err := cls[i].do("DEBUG.TRANSFER", "0").Err(); err != nil {
						return err
					}
					old = i
					return nil
				}
			}
			return fmt.Errorf("no leader of group 0")
		})
		waitFor(t, 30*time.Second, "a new leader of group 0", func() error {
			for i := 0; i < 3; i++ {
				if i != old && c.node(i).groups[0].isLeader() {
					return nil
				}
			}
			// On a loaded machine a transfer can time out (raft then
			// keeps the old leader): ask again while it still leads.
			if c.node(old).groups[0].isLeader() {
				_ = cls[old].do("DEBUG.TRANSFER", "0").Err()
			}
			return fmt.Errorf("no other leader")
		})
	})

	t.Run("hash", func(t *testing.T) {
		sub(t)
		waitFor(t, 10*time.Second, "identical replicas", func() error {
			var first string
			for i, cl := range cls {
				v := cl.ok("DEBUG.HASH")
				if len(v.Elems) != 1 || len(v.Elems[0].Elems) != 4 {
					t.Fatalf("DEBUG.HASH = %+v", v)
				}
				g := v.Elems[0].Elems
				s := strconv.FormatInt(g[1].Int, 10) + "/" + strconv.FormatInt(g[2].Int, 10) + "/" + g[3].Str
				if i == 0 {
					first = s
				} else if s != first {
					return fmt.Errorf("node %d: %s, node 0: %s", i, s, first)
				}
			}
			return nil
		})
	})
}
