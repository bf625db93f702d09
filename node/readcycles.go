package node

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessionraft/sessionraft/transport/mux"
	"github.com/sessionraft/sessionraft/transport/wire"
)

// Read cycles: a node starts the linearizable-read rounds of all its
// groups together, and a cycle's rounds share one request per peer.
//
// Why. Every round of a group is a request to one peer: a leader's term
// poll (leadercheck.go) or a follower's read-index request to the group's
// leader (followerread.go). In the default layout (one group led by each
// node) a node serving reads for three groups ran three rounds at once,
// each on its own schedule: three requests and answers per round trip,
// each with its syscalls and the peer's wake-up from idle, which cost more
// than the reads they confirm. In a cycle the node sends one request to
// each peer with the parts of every group whose round starts in it: with
// three nodes, two requests where there were three, and each carries the
// reads of the whole node, about twice as many per request
// (docs/benchmarks.md, "Read cycles").
//
// How. A group's verifier with waiters and no round out queues itself
// (readCycles.ready). One cycle runs at a time: it takes the queued
// verifiers, starts their rounds (which add their parts, readCycles.add),
// sends the parts by peer, and ends when every request has its answer, or
// after cycleHedge. Readers that join while a cycle is out wait for the
// next one, as they waited for their group's next round before: a round
// still starts after its readers arrived. Per-peer queues with a request
// out each (branch readlanes) saved requests but made a round wait for
// another group's request before its own left, and gained nothing.
//
// Nothing about a part's proof changes by travelling with others: a part
// is added when its round starts, after every read of the round arrived,
// and leaves in a request sent after that; the peer answers each part as
// the single-part methods do (termAnswer, followerConfirms), reading raft
// when it answers; an answer goes only to the parts of the request it
// answers. What a cycle cannot settle (a peer of an older version, a read
// index that needs the leader's own round, a poll not answered within
// cycleHedge) goes back to its round, which runs the single-part path on
// a goroutine as before.

// cycleHedge is how long a cycle waits for its requests before the next
// cycle may start, and how long a leader round waits for its poll's
// answer before it polls on its own (pollTerms, which hedges to the
// other voters after pollHedge). A slow or paused peer then costs the
// other groups' reads this once, not a request timeout each.
const cycleHedge = 10 * time.Millisecond

// legacyPeerFor is how long a peer that refused an rpcReadRound request
// (a version without it) gets single-part requests instead.
const legacyPeerFor = time.Minute

// errNoReadRound tells a round that its peer takes single-part requests
// only (an older version, or a caller without CallAsync).
var errNoReadRound = errors.New("peer takes no read-round requests")

// roundPart is one round's question to a peer, and where its answer goes.
// done gets the value (a term or a read index), or partRound, or an
// error; it is called once, and must not block.
type roundPart struct {
	kind  byte
	group int
	term  uint64 // partReadIndex: the follower's term when its round started
	id    string // the server the part is for (partTerm) or from (partReadIndex)
	done  func(v uint64, status byte, err error)
}

// readCycles runs a node's read cycles.
type readCycles struct {
	mu     sync.Mutex
	busy   bool        // a cycle is being started or is out
	queue  []*verifier // verifiers with waiters for the next cycle
	legacy map[string]time.Time
	// build holds the parts of the cycle being started, by peer; only
	// the goroutine starting the cycle touches it (rounds add their
	// parts from their start, which only cycle calls).
	build map[string]*peerParts
	// timeout bounds a request: a peer that does not answer fails its
	// parts after it. hedge is cycleHedge (tests set their own).
	timeout, hedge time.Duration
	// cycles, requests and parts count what was sent, for INFO.
	cycles, requests, parts atomic.Uint64
}

// peerParts are a cycle's parts for one peer.
type peerParts struct {
	caller asyncCaller
	parts  []roundPart
}

// ready queues v, a verifier with waiters and no round out, for the next
// cycle, and runs cycles unless one is out already.
func (c *readCycles) ready(v *verifier) {
	c.mu.Lock()
	c.queue = append(c.queue, v)
	if c.busy {
		c.mu.Unlock()
		return
	}
	c.busy = true
	c.mu.Unlock()
	c.run()
}

// run runs cycles until none is queued. A cycle that ends before cycle
// returns (nothing sent, or every request failed at once) is followed
// here, in a loop; one that ends later runs the next from where it ends.
func (c *readCycles) run() {
	for {
		c.mu.Lock()
		list := c.queue
		c.queue = nil
		if len(list) == 0 {
			c.busy = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		if !c.cycle(list) {
			return
		}
	}
}

// cycle starts the rounds of list and sends their parts, and reports
// whether the cycle ended before it returned.
func (c *readCycles) cycle(list []*verifier) bool {
	c.cycles.Add(1)
	c.build = make(map[string]*peerParts, 2)
	for _, v := range list {
		v.startCycleRound()
	}
	build := c.build
	c.build = nil
	if len(build) == 0 {
		return true
	}
	e := &cycleEnd{c: c, left: len(build), starting: true}
	e.hedge = time.AfterFunc(c.hedge, e.end)
	for addr, pp := range build {
		c.send(pp.caller, addr, pp.parts, e.settled)
	}
	e.mu.Lock()
	e.starting = false
	ended := e.ended
	e.mu.Unlock()
	return ended
}

// cycleEnd ends a cycle once: when its last request settles or its hedge
// fires.
type cycleEnd struct {
	c     *readCycles
	hedge *time.Timer

	mu       sync.Mutex
	left     int  // requests not settled
	ended    bool // the cycle is over
	starting bool // cycle has not returned: it runs the next cycle itself
}

func (e *cycleEnd) settled() {
	e.mu.Lock()
	e.left--
	last := e.left == 0
	e.mu.Unlock()
	if last {
		e.hedge.Stop()
		e.end()
	}
}

func (e *cycleEnd) end() {
	e.mu.Lock()
	if e.ended {
		e.mu.Unlock()
		return
	}
	e.ended = true
	inline := e.starting
	e.mu.Unlock()
	if !inline {
		e.c.run()
	}
}

// add adds p, a part of a round being started in the current cycle, for
// the peer at addr, reached through caller. A peer that cannot take it
// answers p at once with errNoReadRound, and its round goes the
// single-part way.
func (c *readCycles) add(caller peerCaller, addr string, p roundPart) {
	ac, ok := caller.(asyncCaller)
	if !ok || c.build == nil || c.isLegacy(addr) {
		p.done(0, partErr, errNoReadRound)
		return
	}
	pp := c.build[addr]
	if pp == nil {
		pp = &peerParts{caller: ac}
		c.build[addr] = pp
	}
	if len(pp.parts) >= maxRoundParts {
		p.done(0, partErr, errNoReadRound)
		return
	}
	pp.parts = append(pp.parts, p)
}

// isLegacy reports whether addr refused a read-round request lately.
func (c *readCycles) isLegacy(addr string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	until, ok := c.legacy[addr]
	if ok && time.Now().After(until) {
		delete(c.legacy, addr)
		return false
	}
	return ok
}

// send sends parts to addr in one request and calls settled once they
// have their answers (or their failure).
func (c *readCycles) send(caller asyncCaller, addr string, parts []roundPart, settled func()) {
	c.requests.Add(1)
	c.parts.Add(uint64(len(parts)))
	rc := &roundCall{c: c, addr: addr, parts: parts, settled: settled}
	rc.timer = time.AfterFunc(c.timeout, rc.expire)
	cancel := caller.CallAsync(addr, rpcReadRound, encodeRoundRequest(parts), rc.finish)
	rc.mu.Lock()
	rc.cancel = cancel
	expired := rc.expired && !rc.answered
	rc.mu.Unlock()
	if expired {
		cancel() // the timer fired before there was a call to cancel
	}
}

// roundCall is one rpcReadRound request.
type roundCall struct {
	c       *readCycles
	addr    string
	parts   []roundPart
	settled func()
	timer   *time.Timer // cancels the call after readCycles.timeout

	mu       sync.Mutex
	answered bool   // finish ran (or is running)
	expired  bool   // the timer fired before cancel was known
	cancel   func() // the call's, once CallAsync returned
}

// expire gives up on the call: its parts fail (mux.CallAsync's cancel).
func (rc *roundCall) expire() {
	rc.mu.Lock()
	cancel := rc.cancel
	rc.expired = cancel == nil
	rc.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// finish is the call's outcome: it answers the parts.
func (rc *roundCall) finish(out []byte, err error) {
	rc.mu.Lock()
	if rc.answered {
		rc.mu.Unlock()
		return
	}
	rc.answered = true
	rc.mu.Unlock()
	rc.timer.Stop()
	rc.c.deliver(rc.addr, rc.parts, out, err)
	rc.settled()
}

// deliver gives each part its answer from out, or err to all of them. A
// peer that refused the request as a whole with BADARG (an older
// version, which does not know the method) is marked legacy for a
// while, and its parts told errNoReadRound.
func (c *readCycles) deliver(addr string, parts []roundPart, out []byte, err error) {
	if err == nil {
		answers, derr := decodeRoundReply(out, len(parts))
		if derr == nil {
			for i, p := range parts {
				a := answers[i]
				p.done(a.value, a.status, a.err)
			}
			return
		}
		err = derr
	}
	if re, ok := errors.AsType[*mux.RemoteError](err); ok && re.Code == wire.CodeBadArg {
		// Every older version answers an unknown method, or a payload
		// whose first number names no group, with BADARG. Other refusals
		// of the whole request (a caller not yet a member, BUSY) fail
		// only its parts.
		c.mu.Lock()
		if c.legacy == nil {
			c.legacy = make(map[string]time.Time)
		}
		c.legacy[addr] = time.Now().Add(legacyPeerFor)
		c.mu.Unlock()
		err = errNoReadRound
	}
	for _, p := range parts {
		p.done(0, partErr, err)
	}
}
