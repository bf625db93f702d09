package node

import (
	"context"
	"sync"
	"time"

	"github.com/sessionraft/sessionraft/fsm"
)

// touchBuffer collects reads of sessions with an idle timeout and flushes
// them to the group leaders as one touch command per group per interval, so
// a read does not cost a raft write. Precision: an access becomes durable
// at most TouchInterval (plus one commit) after it happened; an access made
// within that window before the idle deadline may be lost if the flush
// commits after the deadline (the FSM never revives an expired record). A
// read close to its idle deadline therefore triggers an early flush.
type touchBuffer struct {
	n       *Node
	mu      sync.Mutex
	pending map[int]map[string]int64 // group → id → latest access time
	busy    map[int]bool             // group → a flush is in flight
	kick    chan struct{}
}

const touchChunk = 2000

func newTouchBuffer(n *Node) *touchBuffer {
	return &touchBuffer{n: n, pending: map[int]map[string]int64{}, busy: map[int]bool{}, kick: make(chan struct{}, 1)}
}

// add records an access at time at of rec (which lives in group gid).
func (t *touchBuffer) add(gid int, rec *fsm.Record, at int64) {
	if rec.IdleTimeout <= 0 {
		return
	}
	t.mu.Lock()
	m := t.pending[gid]
	if m == nil {
		m = map[string]int64{}
		t.pending[gid] = m
	}
	if at > m[rec.ID()] {
		m[rec.ID()] = at
	}
	t.mu.Unlock()
	if rec.Deadline()-at < 2*int64(t.n.cfg.TouchInterval) {
		select {
		case t.kick <- struct{}{}:
		default:
		}
	}
}

func (t *touchBuffer) loop(ctx context.Context) {
	tick := time.NewTicker(t.n.cfg.TouchInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-t.kick:
		}
		t.flush(ctx)
	}
}

// flush sends each group's pending touches in its own goroutine, so a
// group without a leader (whose write waits up to RequestTimeout) never
// holds back the touches of healthy groups. A group whose previous flush is
// still running keeps its entries for the next round.
func (t *touchBuffer) flush(ctx context.Context) {
	t.mu.Lock()
	pending := t.pending
	t.pending = map[int]map[string]int64{}
	for gid, m := range pending {
		if t.busy[gid] {
			t.pending[gid] = m
			delete(pending, gid)
			continue
		}
		t.busy[gid] = true
	}
	t.mu.Unlock()
	for gid, m := range pending {
		t.n.wg.Add(1)
		go func(gid int, m map[string]int64) {
			defer t.n.wg.Done()
			t.flushGroup(ctx, gid, m)
			t.mu.Lock()
			t.busy[gid] = false
			t.mu.Unlock()
		}(gid, m)
	}
}

func (t *touchBuffer) flushGroup(ctx context.Context, gid int, m map[string]int64) {
	ids := make([]string, 0, len(m))
	times := make([]int64, 0, len(m))
	for id, at := range m {
		ids = append(ids, id)
		times = append(times, at)
	}
	for len(ids) > 0 {
		k := min(len(ids), touchChunk)
		cmd := fsm.Command{Type: fsm.CmdTouch, Touch: &fsm.Touch{IDs: ids[:k], Times: times[:k]}}
		ids, times = ids[k:], times[k:]
		cctx, cancel := context.WithTimeout(ctx, t.n.cfg.RequestTimeout)
		// Touches are best effort: a lost one only shortens an idle
		// session by at most the interval, as documented.
		_, err := t.n.write(cctx, gid, cmd)
		cancel()
		if err != nil {
			t.n.log.Debug("touch flush failed", "group", gid, "err", err)
			return
		}
	}
}
