//go:build unix

package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/internal/testcluster"
)

// worker is one writer of TestLeaderKillDuringWrites. Its writes form a
// chain on its own session: write k sets n=k and a field unique to k, only
// if the session is at the version write k-1 produced (IfVersion). No one
// else writes the session, so if a resent write that had been applied were
// applied again instead of being recognised by its request id, it would
// meet its own earlier application's version and fail with ErrConflict.
// Zero conflicts therefore means every resend was deduplicated: no write
// applied twice.
type worker struct {
	id       string
	acked    []int  // ks acknowledged
	lastK    int    // the last k attempted
	lastAckV uint64 // version of the last acknowledged write
	lastOK   bool   // the last write attempted was acknowledged
	unknown  int    // ErrIndeterminate results
	problems []string
	nacked   atomic.Int64 // len(acked), for the test goroutine to watch
	finished atomic.Bool  // run returned before stop: maxWrites reached, or a problem
}

// maxWrites bounds a worker's chain: each write adds a field, and a session
// holds at most 256 (n and k00001..k00250 fit). Workers whose groups kept
// their leaders can reach it while the victim's groups elect a new one.
const maxWrites = 250

func (w *worker) run(ctx context.Context, c *Client, stop <-chan struct{}, version uint64, acks *atomic.Int64) {
	defer w.finished.Store(true)
	prev, late := version, 0
	for k := 1; k <= maxWrites; k++ {
		select {
		case <-stop:
			return
		default:
		}
		w.lastK = k
		v, err := c.Set(context.Background(), w.id, map[string][]byte{"n": fmt.Append(nil, k), fmt.Sprintf("k%05d", k): b("1")}, IfVersion(prev))
		w.lastOK = err == nil
		switch {
		case err == nil:
			w.acked = append(w.acked, k)
			prev, w.lastAckV = v, v
			acks.Add(1)
			w.nacked.Add(1)
			continue
		case errors.Is(err, ErrConflict):
			// Legitimate only if an indeterminate write applied after the
			// read that followed it.
			s := w.readBack(ctx, c)
			if n, _ := s.Int("n"); late == 0 || n != int64(late) {
				w.problems = append(w.problems, fmt.Sprintf("write %d: conflict (a resend applied twice?): %v; session at n=%d", k, err, n))
				return
			}
			prev = s.Version
		case errors.Is(err, ErrIndeterminate):
			w.unknown++
			late = k
			prev = w.readBack(ctx, c).Version
		case errors.Is(err, ErrUnavailable):
			// Nothing may have been applied.
			s := w.readBack(ctx, c)
			if n, _ := s.Int("n"); n == int64(k) {
				w.problems = append(w.problems, fmt.Sprintf("write %d: ErrUnavailable, yet applied", k))
			}
			prev = s.Version
		default:
			w.problems = append(w.problems, fmt.Sprintf("write %d: %v", k, err))
			return
		}
	}
}

// readBack reads the session linearizably, until it succeeds.
func (w *worker) readBack(ctx context.Context, c *Client) *Session {
	for {
		s, err := c.Get(ctx, w.id, WithoutTouch())
		if err == nil {
			return s
		}
		if ctx.Err() != nil {
			w.problems = append(w.problems, fmt.Sprintf("read back: %v", err))
			return &Session{}
		}
	}
}

// TestLeaderKillDuringWrites SIGKILLs a group leader while 32 goroutines
// write, then checks that no acknowledged write was lost and none applied
// twice. The rest of the test runs with that node still down.
func TestLeaderKillDuringWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills a cluster of its own")
	}
	tc := startOwnCluster(t, testcluster.Options{})
	c := newClient(t, Config{Seeds: tc.Addrs(), RequestTimeout: 10 * time.Second})
	ctx := testCtx(t)

	const nworkers = 32
	workers := make([]*worker, nworkers)
	versions := make([]uint64, nworkers)
	for i := range workers {
		s, err := c.Create(ctx, WithSubject("writer"))
		if err != nil {
			t.Fatal(err)
		}
		workers[i], versions[i] = &worker{id: s.ID}, s.Version
	}
	var (
		acks atomic.Int64
		wg   sync.WaitGroup
		stop = make(chan struct{})
	)
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(ctx, c, stop, versions[i], &acks)
		}()
	}
	waitUntil(t, 20*time.Second, "writes before the kill", func() bool { return acks.Load() >= 10*nworkers })
	// The victim is the node that leads the most writers' groups now (a
	// leader elected at start may have moved since): with many writers
	// on it, some write is in flight when it dies, and its resend takes
	// the at-most-once path checked below.
	tp := c.topo.Load()
	perLeader := map[string]int{}
	for _, w := range workers {
		perLeader[tp.groups[tp.group(w.id)].leader]++
	}
	victimAddr, onVictim := "", 0
	for addr, n := range perLeader {
		if addr != "" && (n > onVictim || (n == onVictim && addr < victimAddr)) {
			victimAddr, onVictim = addr, n
		}
	}
	victim := tc.ByAddr(victimAddr)
	if victim == nil {
		t.Fatalf("no node leads the writers' groups (topology leaders %v)", perLeader)
	}
	killed := time.Now()
	if err := tc.Kill(victim); err != nil {
		t.Fatal(err)
	}
	base := acks.Load()
	before := make([]int64, nworkers)
	for i, w := range workers {
		before[i] = w.nacked.Load()
	}
	waitUntil(t, 30*time.Second, "every writer to make progress after the kill", func() bool {
		for i, w := range workers {
			if w.nacked.Load() < before[i]+5 && !w.finished.Load() {
				return false
			}
		}
		return true
	})
	close(stop)
	wg.Wait()
	t.Logf("killed %s (leader of %d of %d sessions' groups); %d writes acknowledged, %d after the kill (%v); %d resends after unknown outcomes",
		victim.ID, onVictim, nworkers, acks.Load(), acks.Load()-base, time.Since(killed).Round(time.Millisecond), c.unknownRetries.Load())

	unknowns := 0
	for i, w := range workers {
		unknowns += w.unknown
		for _, p := range w.problems {
			t.Errorf("worker %d: %s", i, p)
		}
		s, err := c.Get(ctx, w.id, WithoutTouch())
		if err != nil {
			t.Errorf("worker %d: final read: %v", i, err)
			continue
		}
		for _, k := range w.acked {
			if _, ok := s.Fields[fmt.Sprintf("k%05d", k)]; !ok {
				t.Errorf("worker %d: acknowledged write %d lost", i, k)
			}
		}
		n, _ := s.Int("n")
		if w.lastOK && (n != int64(w.lastK) || s.Version != w.lastAckV) {
			t.Errorf("worker %d: last write %d acknowledged at version %d, session has n=%d at version %d", i, w.lastK, w.lastAckV, n, s.Version)
		}
		if len(w.acked) > 0 && n < int64(w.acked[len(w.acked)-1]) {
			t.Errorf("worker %d: n=%d, but write %d was acknowledged", i, n, w.acked[len(w.acked)-1])
		}
	}
	if unknowns > 0 {
		t.Logf("%d writes ended ErrIndeterminate", unknowns)
	}
	if c.unknownRetries.Load() == 0 {
		t.Error("no write was resent after an unknown outcome: the kill did not exercise the at-most-once path")
	}

	t.Run("one node down", func(t *testing.T) {
		// A fresh client whose seeds include the dead node works through the
		// others.
		c2 := newClient(t, Config{Seeds: tc.Addrs()})
		ctx := testCtx(t)
		for range 10 {
			s, err := c2.Create(ctx, WithSubject("survivor"), WithField("a", b("1")))
			if err != nil {
				t.Fatal(err)
			}
			for _, level := range []Consistency{Linearizable, Leader} {
				if _, err := c2.Get(ctx, s.ID, WithConsistency(level)); err != nil {
					t.Fatalf("get %s: %v", level, err)
				}
			}
			if _, err := c2.Set(ctx, s.ID, map[string][]byte{"b": b("2")}); err != nil {
				t.Fatal(err)
			}
		}
		// A stale read is refused (ErrStale) while a group's state is older
		// than the bound: a group whose election after the kill took long
		// (two voters left, their timers out of step) is until its new
		// leader's first clock entry arrives. Poll for it.
		var l []*Session
		waitUntil(t, 20*time.Second, "a stale list", func() bool {
			var err error
			l, err = c2.List(ctx, "survivor", WithConsistency(Stale))
			if err != nil && !errors.Is(err, ErrStale) {
				t.Fatalf("list: %v", err)
			}
			return err == nil
		})
		if len(l) > 10 {
			t.Fatalf("list: %d sessions, want at most 10", len(l))
		}
		if n, err := c2.Revoke(ctx, "survivor"); err != nil || n != 10 {
			t.Fatalf("revoke: %d, %v", n, err)
		}
		for _, r := range c2.topo.Load().groups {
			if r.leader == victim.Client {
				t.Errorf("dead node %s still routed to as a leader", victim.ID)
			}
		}
	})
}

// waitUntil polls cond (every 20ms) until it holds or timeout passes.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
