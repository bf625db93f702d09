package node

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/fsm"
)

// TestLingerWait: the rule itself. A batch waits only while fewer
// commands arrived since the last entry finished than that entry
// answered, for at most BatchLinger and half the entry's commit time,
// counted from when it finished; once it waits its deadline only comes
// closer.
func TestLingerWait(t *testing.T) {
	const ms = int64(time.Millisecond)
	done := func(cmds int, at, took int64) *entryDone { return &entryDone{cmds: cmds, at: at, took: took} }
	for _, tc := range []struct {
		name  string
		last  *entryDone
		after int
		max   time.Duration
		now   int64
		want  time.Duration
	}{
		{"no entry finished yet", nil, 0, time.Millisecond, 10 * ms, 0},
		{"linger off", done(32, 10*ms, 4*ms), 0, 0, 10 * ms, 0},
		{"a lone writer is back", done(1, 10*ms, 4*ms), 1, time.Millisecond, 10 * ms, 0},
		{"every answered writer is back", done(32, 10*ms, 4*ms), 32, time.Millisecond, 10 * ms, 0},
		{"writers on their way back", done(32, 10*ms, 4*ms), 5, time.Millisecond, 10 * ms, time.Millisecond},
		{"part of the linger spent", done(32, 10*ms, 4*ms), 5, time.Millisecond, 10*ms + ms/4, 3 * time.Millisecond / 4},
		{"half the commit time is less", done(32, 10*ms, ms), 5, time.Millisecond, 10 * ms, time.Millisecond / 2},
		{"after a quiet spell", done(32, 10*ms, 4*ms), 0, time.Millisecond, 50 * ms, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var last atomic.Pointer[entryDone]
			last.Store(tc.last)
			l := lingerState{seen: tc.last, after: tc.after}
			got, first, expired := l.wait(&last, tc.max, tc.now)
			if got != tc.want || first != (tc.want > 0) || expired {
				t.Fatalf("wait = %v, first %v, expired %v; want %v, %v, false", got, first, expired, tc.want, tc.want > 0)
			}
		})
	}

	t.Run("a newer entry starts the count again", func(t *testing.T) {
		var last atomic.Pointer[entryDone]
		var l lingerState
		last.Store(done(2, 0, 4*ms))
		l.arrived(&last)
		l.arrived(&last)
		if got, _, _ := l.wait(&last, time.Millisecond, 0); got != 0 {
			t.Fatalf("both writers back: wait = %v, want 0", got)
		}
		last.Store(done(2, 0, 4*ms))
		if got, _, _ := l.wait(&last, time.Millisecond, 0); got != time.Millisecond {
			t.Fatalf("after a newer entry: wait = %v, want 1ms", got)
		}
	})

	t.Run("the deadline never moves back", func(t *testing.T) {
		var last atomic.Pointer[entryDone]
		var l lingerState
		l.startBatch()
		last.Store(done(4, 0, 4*ms))
		if got, first, _ := l.wait(&last, time.Millisecond, 0); got != time.Millisecond || !first {
			t.Fatalf("wait = %v, first %v; want 1ms, true", got, first)
		}
		// An entry finishing at 0.9 ms (several in flight) would allow
		// until 1.9 ms; the batch keeps its deadline of 1 ms.
		last.Store(done(4, 9*ms/10, 4*ms))
		if got, first, _ := l.wait(&last, time.Millisecond, 9*ms/10); got != time.Millisecond/10 || first {
			t.Fatalf("after a later entry: wait = %v, first %v; want 100us, false", got, first)
		}
		if got, _, expired := l.wait(&last, time.Millisecond, ms); got > 0 || !expired {
			t.Fatalf("at the deadline: wait = %v, expired %v; want <= 0, true", got, expired)
		}
	})
}

// lingerScene is the start of both batcher tests: the leader's log holds
// the entry of a first write a0 while its commit time is made long (the
// monotonic clock moves a minute), and b0 and b1 queue behind it. Then
// the entry is released and a0 is answered: the batcher now holds b0 and
// b1 and has seen none of the commands a0's writer sends next. It
// returns a0's result, b0 and b1, and functions to queue a command and
// to wait for one's result.
type lingerScene struct {
	t      *testing.T
	c      *memCluster
	l      int // the leader's index
	g      *group
	a0     fsm.Result
	b0, b1 *proposal
}

func newLingerScene(t *testing.T, linger time.Duration) *lingerScene {
	t.Helper()
	c := newMemCluster(t, 3, func(cfg *Config) {
		cfg.BatchLinger = linger // may exceed Validate's bound, so that the window is not the test's timing
		cfg.RequestTimeout = time.Minute
	})
	c.bootstrap(0)
	l := c.readyLeader(0)
	s := &lingerScene{t: t, c: c, l: l, g: c.group(l)}
	last := s.g.raft.LastIndex()
	c.logs[l].hold(func(e *raft.Log) bool { return e.Index > last })
	a0 := s.queue("a0")
	eventually(t, "a0's entry to reach the held log", func() error {
		if c.logs[l].waiting.Load() == 0 {
			return errors.New("not yet")
		}
		return nil
	})
	c.nodes[l].test.monoOffset.Add(int64(time.Minute))
	s.b0, s.b1 = s.queue("b0"), s.queue("b1")
	eventually(t, "the batcher to take b0 and b1", func() error {
		if len(s.g.proposeCh) != 0 {
			return errors.New("not yet")
		}
		return nil
	})
	c.logs[l].release()
	s.a0 = s.result(a0)
	return s
}

// waitLingering waits until the batcher lingers with b0 and b1.
func (s *lingerScene) waitLingering() {
	s.t.Helper()
	eventually(s.t, "the batcher to linger with b0 and b1", func() error {
		if s.g.lingers.Load() == 0 {
			return errors.New("not yet")
		}
		return nil
	})
}

// stop closes the leader's node.
func (s *lingerScene) stop() {
	if err := s.c.nodes[s.l].Close(); err != nil {
		s.t.Logf("close: %v", err)
	}
}

// queue hands the batcher a create of id, as propose does.
func (s *lingerScene) queue(id string) *proposal {
	cmd := createCmd(id)
	p := &proposal{cmd: &cmd, size: 64, done: make(chan proposalResult, 1)}
	s.g.proposeCh <- p
	return p
}

// result waits for p's outcome; it fails the test unless it applied.
func (s *lingerScene) result(p *proposal) fsm.Result {
	s.t.Helper()
	r := receive(s.t, p.done, 30*time.Second, "no answer within 30s")
	if r.err == nil {
		r.err = r.res.Err
	}
	if r.err != nil {
		s.t.Fatalf("write: %v", r.err)
	}
	return r.res
}

// TestBatcherLingerMergesCohorts: b0 and b1, which arrived while a0's
// entry was in flight, wait for a0's writer to come back, and its next
// command c0 joins them in one entry. Without the linger they would
// have gone out as soon as a0's entry finished, and c0 in a third entry.
func TestBatcherLingerMergesCohorts(t *testing.T) {
	s := newLingerScene(t, 30*time.Second)
	s.waitLingering()
	c0 := s.queue("c0")
	b0, b1, c := s.result(s.b0), s.result(s.b1), s.result(c0)
	if b0.Version != b1.Version || b1.Version != c.Version {
		t.Fatalf("entries: b0 %d, b1 %d, c0 %d; want one entry for the three", b0.Version, b1.Version, c.Version)
	}
	if c.Version == s.a0.Version {
		t.Fatalf("c0 in a0's entry %d", c.Version)
	}
}

// TestBatcherLingerGivesUp: when a0's writer does not come back, b0 and
// b1 go out once the linger is over, in one entry, and the batcher
// counts one linger that expired.
func TestBatcherLingerGivesUp(t *testing.T) {
	s := newLingerScene(t, time.Second)
	b0, b1 := s.result(s.b0), s.result(s.b1)
	if b0.Version != b1.Version || b0.Version == s.a0.Version {
		t.Fatalf("entries: a0 %d, b0 %d, b1 %d; want b0 and b1 in one entry after a0's", s.a0.Version, b0.Version, b1.Version)
	}
	if l, e := s.g.lingers.Load(), s.g.lingersExpired.Load(); l != 1 || e != 1 {
		t.Fatalf("lingers %d, expired %d; want 1 and 1", l, e)
	}
}

// TestBatcherLingerShutdown: a batch that lingers when its group shuts
// down is answered, not proposed: nothing of it was applied.
func TestBatcherLingerShutdown(t *testing.T) {
	s := newLingerScene(t, 30*time.Second)
	s.waitLingering()
	last := s.g.raft.LastIndex()
	s.stop()
	for _, p := range []*proposal{s.b0, s.b1} {
		r := receive(t, p.done, 30*time.Second, "a lingering write was not answered at shutdown")
		if !errors.Is(r.err, ErrNotLeader) {
			t.Fatalf("lingering write answered %v, want ErrNotLeader (not applied)", r.err)
		}
	}
	if got := s.g.raft.LastIndex(); got != last {
		t.Fatalf("log grew from %d to %d at shutdown", last, got)
	}
}
