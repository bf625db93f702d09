package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/sessionraft/sessionraft/transport/wire"
)

// The topology watch keeps one TOPOLOGY WAIT (node/topowatch.go) pending
// on a node of the cluster, and refreshes the topology whenever that
// node's epoch moves: a group's leader changed, or a member joined, left
// or changed its address. Without it the client learns of a leader move
// at its next periodic refresh, and until then sends the group's writes to
// the old leader, which forwards each one. Every node is a member of
// every group, so one node's epoch covers every group's leader; the
// periodic refresh stays, for what one node cannot see (it is cut off
// from the others, its own view is late) and for servers without WAIT.

// Backoffs of the watch after a failure. A node that cannot be reached
// is left for the next one at once (with watchRetry between attempts);
// a server that refuses WAIT (an older version, an ACL that forbids it)
// is asked again only after watchRefusedRetry, so a rolling upgrade
// turns the watch back on; BUSY (a node with no room for it now) after a
// RefreshInterval.
const (
	watchRetry        = 200 * time.Millisecond
	watchRefusedRetry = time.Minute
)

// watchLoop runs the topology watch until the client closes.
func (c *Client) watchLoop() {
	defer c.wg.Done()
	var (
		addr  string
		epoch uint64 // addr's epoch from its last answer; 0: none yet
		next  int    // rotates the watched node after failures
	)
	pace := time.NewTimer(0)
	defer pace.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-pace.C:
		}
		// At most one request per minRefreshGap, whatever the server
		// answers: a server that answered every wait at once must not
		// make this loop spin.
		pace.Reset(minRefreshGap)
		tp := c.topo.Load()
		if addr == "" || !slices.Contains(tp.nodes, addr) {
			if len(tp.nodes) == 0 {
				continue
			}
			addr, epoch = tp.nodes[(int(c.createPhase%uint64(len(tp.nodes)))+next)%len(tp.nodes)], 0
		}
		e, err := c.waitTopology(addr, epoch)
		if c.ctx.Err() != nil {
			return
		}
		if err != nil {
			wait := watchRetry
			code, _, isRedis := redisCode(err)
			switch {
			case code == wire.CodeBusy:
				wait = c.cfg.RefreshInterval
			case isRedis || errors.Is(err, errWaitReply):
				wait = watchRefusedRetry
				c.log.Debug("sessionraft: topology watch refused; relying on periodic refresh", "node", addr, "err", err, "retry_in", wait)
			default:
				c.requestRefresh() // the node may be gone: see who is left
			}
			addr, next = "", next+1
			pace.Reset(wait)
			continue
		}
		// A first answer (epoch 0) also refreshes: what changed between
		// the last refresh and the epoch this answer names would
		// otherwise go unseen until the periodic refresh.
		if e != epoch {
			epoch = e
			c.requestRefresh()
			if h := c.cfg.hooks; h != nil && h.watched != nil {
				h.watched(addr)
			}
		}
	}
}

// waitTopology sends TOPOLOGY WAIT epoch to addr and returns the epoch
// of its answer: when the node's epoch is no longer epoch, or after
// TopologyWait with the same epoch.
//
// The request's context is cancelled by the client's Close and by a
// timer, and has no deadline on purpose: rueidis sends a blocking command
// on a connection of its own and abandons (closes) that connection when
// the context is cancelled; given a deadline, a request on a fresh
// connection may instead wait on the socket until the deadline, which
// would hold up Close for a whole TopologyWait (TestCloseWithPendingWatch).
func (c *Client) waitTopology(addr string, epoch uint64) (uint64, error) {
	nc, err := c.conns.get(addr)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	// The server answers within TopologyWait; a node that does not
	// (gone without closing the connection, paused) is given up after
	// DialTimeout more.
	t := time.AfterFunc(c.cfg.TopologyWait+c.cfg.DialTimeout, cancel)
	defer t.Stop()
	ms := strconv.FormatInt(c.cfg.TopologyWait.Milliseconds(), 10)
	m, err := nc.Do(ctx, nc.B().Arbitrary("TOPOLOGY", "WAIT").Args(strconv.FormatUint(epoch, 10), ms).Blocking()).ToMessage()
	if err != nil {
		return 0, err
	}
	r, err := parseTopology(addr, &m)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errWaitReply, err)
	}
	if r.epoch == 0 {
		return 0, fmt.Errorf("%w: no epoch", errWaitReply)
	}
	return r.epoch, nil
}

// errWaitReply marks a TOPOLOGY WAIT answered with a reply the client
// cannot use: the server is not one that supports the watch.
var errWaitReply = errors.New("TOPOLOGY WAIT: unusable reply")
