package node

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/transport/resp"
	"github.com/sessionraft/sessionraft/transport/wire"
)

// recordVersion returns the version of a SESSION.GET reply (RESP2 flat
// array), or false if it is not a record.
func recordVersion(v resp.Value) (int64, bool) {
	for i := 0; i+1 < len(v.Elems); i += 2 {
		if v.Elems[i].Str == "version" {
			return v.Elems[i+1].Int, true
		}
	}
	return 0, false
}

// TestReadsAtDeposedLeader: linearizable reads sent concurrently to a
// group leader that gets cut off from the others, while writes continue on
// the majority side, never return a version older than one acknowledged
// before the read was sent. Reads on the ready leader take the deferred
// fast path (getDeferred); after the partition heals they are served
// again.
//
// The leader (n1) has a long leader lease and the others short election
// timeouts, so for a second or more after the cut n1 still believes it
// leads while the majority has elected a new leader and acknowledges
// writes: only the leadership round keeps n1 from serving its old state
// (answering without the round fails this test).
func TestReadsAtDeposedLeader(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) {
		cfg.RequestTimeout = 2 * time.Second
		cfg.BalanceInterval = time.Hour // leadership stays where the test puts it
		if cfg.ID == "n1" {
			// Heartbeats every 150 ms (HeartbeatTimeout/10) keep the
			// others' 300 ms timeouts quiet; the lease keeps n1 leader.
			cfg.HeartbeatTimeout = 1500 * time.Millisecond
			cfg.ElectionTimeout = 1500 * time.Millisecond
			cfg.LeaderLeaseTimeout = 1500 * time.Millisecond
		}
	})
	const lead = 0
	setup := &clientT{t: t, c: c.client(lead)}
	id := asMap(t, setup.ok("SESSION.CREATE", "TTL", "1h", "FIELDS", "v", "0"))["id"].Str
	gid := c.node(lead).ring.Group(id)
	waitFor(t, 20*time.Second, "n1 to lead the session's group", func() error {
		if c.node(lead).groups[gid].isReady() {
			return nil
		}
		for i := range c.nodes {
			if g := c.node(i).groups[gid]; i != lead && g.isLeader() {
				f := g.raft.LeadershipTransferToServer(raft.ServerID(c.cfgs[lead].ID), raft.ServerAddress(c.node(lead).self.Raft))
				if err := f.Error(); err != nil {
					return err
				}
			}
		}
		return fmt.Errorf("not yet")
	})
	others := []int{(lead + 1) % 3, (lead + 2) % 3}

	var (
		acked     atomic.Int64 // highest acknowledged version
		reads     atomic.Int64 // successful linearizable reads at lead
		writes    atomic.Int64 // acknowledged writes
		violation atomic.Value // first linearizability violation
		wg        sync.WaitGroup
	)
	stop := make(chan struct{})
	dial := func(i int) *resp.Client {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		cl, err := resp.Dial(ctx, c.cfgs[i].ClientAddr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Close() })
		return cl
	}
	call := func(cl *resp.Client, args ...string) (resp.Value, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		v, err := cl.Do(ctx, args...)
		if err == nil {
			err = v.Err()
		}
		return v, err
	}
	for w := range 2 {
		cl := dial(others[w])
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				v, err := call(cl, "SESSION.SET", id, "v", fmt.Sprint(i))
				if err != nil {
					continue // unavailable or indeterminate while leadership moves
				}
				writes.Add(1)
				for {
					cur := acked.Load()
					if v.Int <= cur || acked.CompareAndSwap(cur, v.Int) {
						break
					}
				}
			}
		}()
	}
	for range 4 {
		cl := dial(lead)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				before := acked.Load()
				v, err := call(cl, "SESSION.GET", id, "NOTOUCH")
				if err != nil {
					continue // refused while cut off: allowed
				}
				ver, ok := recordVersion(v)
				if !ok {
					violation.CompareAndSwap(nil, fmt.Sprintf("not a record: %v", v))
					continue
				}
				if ver < before {
					violation.CompareAndSwap(nil, fmt.Sprintf("read version %d after version %d was acknowledged", ver, before))
				}
				reads.Add(1)
			}
		}()
	}
	defer func() {
		close(stop)
		wg.Wait()
		if v := violation.Load(); v != nil {
			t.Fatal(v)
		}
	}()

	atLeast := func(what string, n *atomic.Int64, more int64) {
		t.Helper()
		target := n.Load() + more
		waitFor(t, 20*time.Second, what, func() error {
			if got := n.Load(); got < target {
				return fmt.Errorf("%d of %d", got, target)
			}
			return nil
		})
	}
	atLeast("linearizable reads at the leader", &reads, 50)

	// Cut the leader off; the majority elects another and keeps writing.
	leadRaft := c.node(lead).self.Raft
	for _, o := range others {
		c.node(o).mux.Faults().Block(leadRaft, true, true)
		c.node(lead).mux.Faults().Block(c.node(o).self.Raft, true, true)
	}
	atLeast("writes on the majority side", &writes, 50)

	for i := range c.nodes {
		c.node(i).mux.Faults().Clear()
	}
	atLeast("linearizable reads at the healed node", &reads, 50)

	// Stale reads of a fresh replica and leader reads of the ready leader
	// are answered on the fast path too.
	cl := &clientT{t: t, c: c.client(lead)}
	for _, level := range []string{wire.Stale, wire.Leader} {
		waitFor(t, 10*time.Second, level+" read", func() error {
			return cl.do("SESSION.GET", id, "CONSISTENCY", level, "NOTOUCH").Err()
		})
	}
}
