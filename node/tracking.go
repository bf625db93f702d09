package node

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/transport/resp"
)

// Server-assisted client-side caching (Redis's tracking.c): the node
// remembers which of its connections read which keys, and when a change
// to one of those keys is applied here it sends them an invalidation (a
// RESP3 push `>2 invalidate [key ...]`, or a "message" on
// __redis__:invalidate to a RESP2 connection that a tracking connection
// REDIRECTs to). The commands are in cmd_tracking.go.
//
// Where invalidations come from. Every node applies every entry of every
// group, and each one invalidates for the changes it applies itself (the
// fsm's per-command events, through the group's one fsm.Notify,
// raftFSM.notify), to its own connections. A read
// is registered on the node that received it before the read runs, so a
// change applied here after the registration is always invalidated, and
// one applied before it is always seen by the read (read locally after
// the registration, or forwarded to the leader, whose state includes
// everything this node has applied). The invalidation push is queued
// after the read's reply, which was queued when the read was dispatched,
// so a client never gets an invalidation before the value it invalidates.
//
// The revocation bound. A node that stops applying a group's entries (cut
// off from the leader, replication stalled, paused) would stop sending
// invalidations for it. So the node watches each group's state age by
// the log clock (the same measure as stale reads: read.go staleCheck):
// when it is older than staleAfter (Config.TrackingMaxStaleness), every
// client tracking a key of the group and every BCAST client gets a
// flush-all invalidation (`invalidate` with a null key list), and a read
// of that group is not remembered but answered with an invalidation
// right after its reply. A healthy node invalidates about one
// replication delay after a change commits; a node cut off from a
// group's leader within staleAfter plus one check interval; a client
// that probes with PING on a tracking connection gets the flush before
// the PONG (see probe), which the Go client uses to bound a paused
// node's silence too (client/cache.go, docs/ARCHITECTURE.md).
//
// A FLUSHDB (fsm.EventFlush) or a snapshot installed while serving
// replaces a group's state without per-key events: both flush as a stale
// group does. NOLOOP is accepted and reported, but a node cannot tell
// which connection a change applied through raft came from, so it sends
// a client its own changes' invalidations too: never fewer invalidations
// than Redis, only more.

// defaultTrackingMaxKeys is Redis's tracking-table-max-keys default.
const defaultTrackingMaxKeys = 1_000_000

// tracker is a node's tracking table and its tracking clients.
type tracker struct {
	n          *Node
	maxKeys    int64
	staleAfter time.Duration

	// active counts connections with tracking on: with none, applied
	// entries cost one atomic load here.
	active atomic.Int64
	nkeys  atomic.Int64 // keys in all groups' tables

	mu    sync.RWMutex
	bcast map[*trackClient]struct{} // BCAST clients
	all   map[*trackClient]struct{} // every client with tracking on

	groups []*trackGroup // by group id
}

// trackGroup is the table of one group's keys. A key belongs to the
// group it hashes to, so a group's flush drops its table whole.
type trackGroup struct {
	mu   sync.Mutex
	keys map[string]map[*trackClient]struct{}
	// stale is whether the last check found the group's state too old.
	stale atomic.Bool
}

// trackClient is one connection's tracking state. Its settings change
// only on the connection's reader goroutine (CLIENT TRACKING) and are
// read by appliers under the table locks, so they are atomics or
// immutable once published.
type trackClient struct {
	c *resp.Conn

	on   atomic.Bool
	mode atomic.Pointer[trackMode]
	// groups has bit g set when the client has a key of group g in the
	// table (cleared when the group is flushed), so a stale group's
	// flush goes only to clients that may cache something of it.
	groups groupBits
	// caching is CLIENT CACHING's answer for the next command: 0 none,
	// cachingYes, cachingNo. Reader goroutine only.
	caching int8
	// redirBroken is set once the redirect connection was found closed.
	redirBroken atomic.Bool
}

const (
	cachingYes int8 = 1
	cachingNo  int8 = 2
)

// trackMode is a CLIENT TRACKING ON's options; replaced whole.
type trackMode struct {
	bcast, optin, optout, noloop bool
	prefixes                     []string
	// redirect is the connection invalidations go to (nil: this one),
	// with its id as the client gave it.
	redirect   *resp.Conn
	redirectSt *connState
	redirectID uint64
}

func newTracker(n *Node, groups int) *tracker {
	t := &tracker{
		n:          n,
		maxKeys:    int64(n.cfg.trackingMaxKeys()),
		staleAfter: n.cfg.trackingMaxStaleness(),
		bcast:      map[*trackClient]struct{}{},
		all:        map[*trackClient]struct{}{},
		groups:     make([]*trackGroup, groups),
	}
	for i := range t.groups {
		t.groups[i] = &trackGroup{keys: map[string]map[*trackClient]struct{}{}}
	}
	return t
}

// enable turns tracking on for tc with mode m.
func (t *tracker) enable(tc *trackClient, m *trackMode) {
	tc.mode.Store(m)
	tc.redirBroken.Store(false)
	if !tc.on.Swap(true) {
		t.active.Add(1)
	}
	t.mu.Lock()
	t.all[tc] = struct{}{}
	if m.bcast {
		t.bcast[tc] = struct{}{}
	} else {
		delete(t.bcast, tc)
	}
	t.mu.Unlock()
}

// disable turns tracking off for tc (CLIENT TRACKING OFF, RESET, close).
// Its keys stay in the table, as in Redis, until they change or are
// evicted; invalidations for them are then dropped.
func (t *tracker) disable(tc *trackClient) {
	if tc.on.Swap(false) {
		t.active.Add(-1)
	}
	t.mu.Lock()
	delete(t.bcast, tc)
	delete(t.all, tc)
	t.mu.Unlock()
	tc.caching = 0
}

// remember registers keys read by tc, in dispatch before the read runs.
// A key of a group whose state here is too old is not registered: it is
// invalidated right after the reply instead, since this node would not
// hear of its changes in time.
func (t *tracker) remember(tc *trackClient, keys []string) {
	var late []string
	for _, k := range keys {
		gid := t.n.ring.Group(k)
		if gid < 0 || gid >= len(t.groups) {
			continue
		}
		tg := t.groups[gid]
		if t.staleNow(gid) {
			late = append(late, k)
			continue
		}
		// The group bit first: a flush of the group that drops the key
		// from the table between the two still reaches this client.
		tc.groups.set(gid)
		tg.mu.Lock()
		set := tg.keys[k]
		if set == nil {
			set = map[*trackClient]struct{}{}
			tg.keys[k] = set
			t.nkeys.Add(1)
		}
		set[tc] = struct{}{}
		tg.mu.Unlock()
	}
	if len(late) > 0 {
		t.send(tc, late, false)
	}
	if t.nkeys.Load() > t.maxKeys {
		t.evict()
	}
}

// staleNow checks a group's state age now (not the last tick's verdict):
// a read must not be registered on a node that would miss its change.
func (t *tracker) staleNow(gid int) bool {
	if gid >= len(t.n.groups) {
		return true
	}
	return t.n.groups[gid].stateAge() > t.staleAfter
}

// evict invalidates keys until the table is back under its cap, as
// Redis does past tracking-table-max-keys: their clients drop them and
// read them again (and are tracked again) when they need them.
func (t *tracker) evict() {
	for _, tg := range t.groups {
		for t.nkeys.Load() > t.maxKeys {
			var key string
			var set map[*trackClient]struct{}
			tg.mu.Lock()
			for k, s := range tg.keys { // map order: an arbitrary key
				key, set = k, s
				delete(tg.keys, k)
				break
			}
			tg.mu.Unlock()
			if set == nil {
				break
			}
			t.nkeys.Add(-1)
			for tc := range set {
				t.send(tc, []string{key}, false)
			}
		}
	}
}

// applied hears group gid's events of one applied entry from the group's
// one fsm.Notify (raftFSM.notify, beside keyspace notifications). It runs
// on the group's apply goroutine, so it only looks the keys up and
// queues pushes. n.trk may still be nil while the groups open.
func (t *tracker) applied(gid int, evs []fsm.Event) {
	if t == nil || t.active.Load() == 0 || gid >= len(t.groups) {
		return
	}
	tg := t.groups[gid]
	var out map[*trackClient][]string
	add := func(tc *trackClient, key string) {
		if out == nil {
			out = map[*trackClient][]string{}
		}
		out[tc] = append(out[tc], key)
	}
	tg.mu.Lock()
	for _, e := range evs {
		if e.Type == fsm.EventFlush {
			tg.mu.Unlock()
			t.flushGroup(gid)
			tg.mu.Lock()
			continue
		}
		if set, ok := tg.keys[e.Key]; ok {
			delete(tg.keys, e.Key)
			t.nkeys.Add(-1)
			for tc := range set {
				add(tc, e.Key)
			}
		}
	}
	tg.mu.Unlock()
	t.mu.RLock()
	for tc := range t.bcast {
		m := tc.mode.Load()
		for _, e := range evs {
			if e.Type != fsm.EventFlush && matchPrefixes(m.prefixes, e.Key) {
				add(tc, e.Key)
			}
		}
	}
	t.mu.RUnlock()
	for tc, keys := range out {
		t.send(tc, keys, false)
	}
}

func matchPrefixes(prefixes []string, key string) bool {
	if len(prefixes) == 0 {
		return true
	}
	for _, p := range prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// flushGroup sends a flush-all invalidation to every client that may
// cache a key of group gid (it has one in the table, or is BCAST) and
// empties the group's table.
func (t *tracker) flushGroup(gid int) {
	tg := t.groups[gid]
	tg.mu.Lock()
	n := len(tg.keys)
	tg.keys = map[string]map[*trackClient]struct{}{}
	tg.mu.Unlock()
	t.nkeys.Add(-int64(n))
	for _, tc := range t.clientsOf(gid) {
		t.send(tc, nil, true)
	}
}

// clientsOf lists the tracking clients that may cache keys of group gid,
// clearing their bit for it: they are being flushed.
func (t *tracker) clientsOf(gid int) []*trackClient {
	var out []*trackClient
	t.mu.RLock()
	defer t.mu.RUnlock()
	for tc := range t.all {
		if tc.groups.clear(gid) || tc.mode.Load().bcast {
			out = append(out, tc)
		}
	}
	return out
}

// groupBits is a set of group ids, safe for concurrent use.
type groupBits struct {
	mu sync.Mutex
	w  []uint64
}

func (b *groupBits) set(gid int) {
	b.mu.Lock()
	for len(b.w) <= gid/64 {
		b.w = append(b.w, 0)
	}
	b.w[gid/64] |= 1 << uint(gid%64)
	b.mu.Unlock()
}

// clear removes gid and reports whether it was there.
func (b *groupBits) clear(gid int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if gid/64 >= len(b.w) {
		return false
	}
	bit := uint64(1) << uint(gid%64)
	was := b.w[gid/64]&bit != 0
	b.w[gid/64] &^= bit
	return was
}

// send queues an invalidation of keys (all: a flush-all, Redis's null
// key list) for tc, to its redirect connection if it has one.
func (t *tracker) send(tc *trackClient, keys []string, all bool) {
	if !tc.on.Load() {
		return
	}
	m := tc.mode.Load()
	if m.redirect == nil {
		if tc.c.Proto() < 3 {
			return // RESP2 without REDIRECT: no way to push (as Redis)
		}
		tc.c.Push(func(w *resp.Writer) { writeInvalidate(w, keys, all) })
		return
	}
	rc, rst := m.redirect, m.redirectSt
	if rc.Proto() >= 3 {
		if !rc.Push(func(w *resp.Writer) { writeInvalidate(w, keys, all) }) {
			t.redirectBroken(tc, m)
		}
		return
	}
	if rst.sub == nil || rst.subs.Load()+rst.psubs.Load() == 0 {
		return // RESP2 target not in pub/sub mode: Redis sends nothing
	}
	if !rc.Push(func(w *resp.Writer) {
		w.WritePushLen(3)
		w.WriteBulkString("message")
		w.WriteBulkString(invalidateChannel)
		writeKeyList(w, keys, all)
	}) {
		t.redirectBroken(tc, m)
	}
}

// invalidateChannel is the pub/sub channel RESP2 invalidations use.
const invalidateChannel = "__redis__:invalidate"

func writeInvalidate(w *resp.Writer, keys []string, all bool) {
	w.WritePushLen(2)
	w.WriteBulkString("invalidate")
	writeKeyList(w, keys, all)
}

func writeKeyList(w *resp.Writer, keys []string, all bool) {
	if all {
		w.WriteNull()
		return
	}
	w.WriteArrayLen(len(keys))
	for _, k := range keys {
		w.WriteBulkString(k)
	}
}

// redirectBroken tells a RESP3 tracking client that its redirect
// connection is gone (Redis's tracking-redir-broken push), once.
func (t *tracker) redirectBroken(tc *trackClient, m *trackMode) {
	if tc.redirBroken.Swap(true) || tc.c.Proto() < 3 {
		return
	}
	tc.c.Push(func(w *resp.Writer) {
		w.WritePushLen(2)
		w.WriteBulkString("tracking-redir-broken")
		w.WriteInt(int64(m.redirectID))
	})
}

// checkStale flushes the clients of every group whose state here is older
// than the bound, and marks it so. Called every staleAfter/4 and when a
// tracking connection probes.
func (t *tracker) checkStale() {
	if t.active.Load() == 0 {
		return
	}
	for _, g := range t.n.groups {
		stale := g.stateAge() > t.staleAfter
		tg := t.groups[g.id]
		if stale && !tg.stale.Swap(true) {
			t.n.log.Warn("client-side caching: group state older than the tracking bound; flushing its tracking clients",
				"group", g.id, "age", g.stateAge().Round(time.Millisecond), "bound", t.staleAfter)
		}
		if !stale {
			tg.stale.Store(false)
			continue
		}
		t.flushGroup(g.id)
	}
}

// loop runs checkStale until ctx ends.
func (t *tracker) loop(ctx context.Context) {
	tick := time.NewTicker(max(t.staleAfter/4, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			t.checkStale()
		}
	}
}

// probe answers for a PING on a tracking connection, inside the PING's
// own reply and before it: if any group's state here is older than the
// bound, a flush-all invalidation. So a client that gets PONG for a PING
// it sent at time s knows that every change acknowledged before s minus
// the bound has reached it, or its cache was flushed (client/cache.go).
func (t *tracker) probe(tc *trackClient, w *resp.Writer) {
	if tc.c.Proto() < 3 || tc.mode.Load().redirect != nil {
		return
	}
	for _, g := range t.n.groups {
		if g.stateAge() > t.staleAfter {
			writeInvalidate(w, nil, true)
			return
		}
	}
}

// replaced is told that an installed snapshot replaced group gid's
// state: no per-key events describe the change, so its clients flush.
// n.trk may still be nil while the groups open (their startup restores
// are not reported).
func (t *tracker) replaced(gid int) {
	if t != nil && gid < len(t.groups) {
		t.flushGroup(gid)
	}
}
